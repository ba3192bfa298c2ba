"""Referenced Jira issues, read a hundred keys to a request, and kept to the projects.

NOTE: on Cloud a JQL ``key in (...)`` naming a deleted or mistyped key fails the whole
search, so Cloud reads by POST issue/bulkfetch, which leaves such keys out; Data Center
searches ``key in (...)`` with validateQuery=warn for the same effect. Either answers with
resolved issues too, which are remembered as closed.
https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-bulkfetch-post
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from impactlink.errors import BudgetExhausted, TrackerAuthError, TrackerError
from impactlink.trackers.jira_client import JiraClient
from impactlink.trackers.jira_jql import keys_query, project_of
from impactlink.trackers.references import Reads

log = logging.getLogger(__name__)

PAGE = 100


def in_projects(item: dict[str, Any], projects: Collection[str]) -> bool:
    """Tell whether an issue Jira answered with belongs to one of the projects."""
    fields = item.get("fields") or {}
    project = (fields.get("project") or {}).get("key") or project_of(str(item.get("key")))
    if project in projects:
        return True
    log.warning("Jira answered %s, outside projects %s: left out", item.get("key"),
                ", ".join(projects))
    return False


def status_category(item: dict[str, Any]) -> str:
    """Return an issue's status category key: new, indeterminate or done."""
    status = (item.get("fields") or {}).get("status") or {}
    category = status.get("statusCategory") if isinstance(status, dict) else None
    return str(category.get("key") or "") if isinstance(category, dict) else ""


def read_referenced(client: JiraClient, projects: Collection[str], reads: Reads,
                    wanted: list[str], keep: Callable[[dict[str, Any]], None]) -> None:
    """Read the chosen referenced keys, a page per request; a failing page is recorded."""
    for start in range(0, len(reads.keys), PAGE):
        batch = reads.keys[start:start + PAGE]
        try:
            items = _by_keys(client, projects, batch, wanted)
        except BudgetExhausted as exc:
            reads.fail(reads.keys[start:], str(exc))
            return
        except TrackerAuthError:
            raise
        except TrackerError as exc:
            reads.fail(batch, str(exc))
            continue
        for item in items:
            key = str(item.get("key"))
            if key not in batch or not in_projects(item, projects):
                continue  # moved to another key or project: the key asked for is missing
            done = status_category(item) == "done"
            reads.found(key, "closed" if done else "open")
            if not done:
                keep(item)


def _by_keys(client: JiraClient, projects: Collection[str], keys: list[str],
             wanted: list[str]) -> list[dict[str, Any]]:
    if client.cloud:
        page = client.send("fetch referenced issues", "POST", "issue/bulkfetch",
                           {"issueIdsOrKeys": keys, "fields": wanted})
        return list(page.get("issues") or [])
    jql = keys_query(sorted(projects), keys)
    page = client.search_page(jql, wanted, limit=len(keys), validate="warn")
    return list(page.get("issues") or [])
