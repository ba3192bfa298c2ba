"""Issues from a JSON export: ``gh issue list --json ...`` or a Jira search export.

Issue text comes from ``body`` (gh) or ``fields.description`` (Jira: ADF from Cloud, wiki
text from Data Center).

Teams export issues this way to try impactlink before granting it API access; the
write-back of this tracker is the printed plan, so it plans no writes.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from impactlink.config import FileTrackerConfig
from impactlink.core.models import Issue, IssueKey
from impactlink.core.refs import find_refs
from impactlink.errors import ConfigError
from impactlink.trackers.base import Change, Write
from impactlink.trackers.jira_text import description_text

_DONE = {"closed", "done", "resolved", "won't do", "wont do", "cancelled", "canceled"}


def _names(values: Any) -> tuple[str, ...]:
    """Return names from a list of strings or of objects with a name."""
    names: list[str] = []
    for value in values or ():
        if isinstance(value, str):
            names.append(value)
        elif isinstance(value, dict) and isinstance(value.get("name"), str):
            names.append(value["name"])
    return tuple(names)


def _state(value: Any) -> str:
    if isinstance(value, dict):  # Jira: {"name": "In Progress", "statusCategory": {...}}
        category = value.get("statusCategory") or {}
        if isinstance(category, dict) and category.get("key") == "done":
            return "closed"
        value = value.get("name", "")
    return "closed" if str(value).strip().casefold() in _DONE else "open"


def _github_issue(item: dict[str, Any], default_repo: str | None) -> Issue:
    url = str(item.get("url") or "")
    refs = sorted(r for r in find_refs(url) if "/" in r)
    if refs:
        repo = url.split("/issues/")[0].rstrip("/").split("/")
        key = f"{repo[-2]}/{repo[-1]}#{int(item['number'])}"
    elif default_repo:
        key = f"{default_repo}#{int(item['number'])}"
    else:
        raise ValueError("an issue without url needs tracker.default_repo")
    return Issue(IssueKey(key), str(item.get("title") or ""), url, _state(item.get("state")),
                 _names(item.get("labels")), body=str(item.get("body") or ""))


def _jira_issue(item: dict[str, Any]) -> Issue:
    fields = item.get("fields") if isinstance(item.get("fields"), dict) else item
    assert isinstance(fields, dict)
    return Issue(IssueKey(str(item["key"])), str(fields.get("summary") or ""),
                 str(item.get("url") or item.get("self") or ""), _state(fields.get("status")),
                 _names(fields.get("labels")), _names(fields.get("components")),
                 body=description_text(fields.get("description")))


def parse_issues(data: Any, default_repo: str | None = None) -> list[Issue]:
    """Return the issues of a gh export (a list) or a Jira export (a list or {"issues": [...]})."""
    items = data.get("issues") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError("expected a JSON list of issues, or an object with an 'issues' list")
    issues = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"issue {n} is not an object")
        try:
            issues.append(_jira_issue(item) if "key" in item else _github_issue(item, default_repo))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"issue {n}: {exc}") from None
    return issues


class FileTracker:
    """Reads issues from an exported JSON file; writes nothing (the plan is printed)."""

    kind = "file"

    def __init__(self, config: FileTrackerConfig, base_dir: Path) -> None:
        self.path = config.path if config.path.is_absolute() else base_dir / config.path
        self.default_repo = config.default_repo

    def fetch_issues(self, references: Collection[str]) -> list[Issue]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8-sig"))
            return parse_issues(data, self.default_repo)
        except OSError as exc:
            raise ConfigError(f"tracker.path: cannot read {self.path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"tracker.path: {self.path} is not an issue export: {exc}") from None

    def plan(self, change: Change) -> list[Write]:
        return []

    def apply(self, change: Change, write: Write) -> None:
        raise AssertionError("the file tracker plans no writes")

    def check(self) -> list[str]:
        try:
            self.fetch_issues(())
        except ConfigError as exc:
            return [f"{exc} — export issues with `gh issue list --json "
                    f"number,title,state,labels,url,body` or a Jira search export"]
        return []

    def close(self) -> None:
        pass
