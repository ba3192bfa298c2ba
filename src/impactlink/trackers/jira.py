"""The Jira tracker: issues by feature component or label, impact in three number fields.

fetch_issues() reads each issue's current field values and labels along with the listing,
so plan() reads nothing and apply() sends a request only when Jira holds something else:
a run killed anywhere and run again ends in the same state without repeating a write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impactlink.config import JiraTrackerConfig
from impactlink.core.matching import Catalog
from impactlink.core.models import Issue, IssueKey
from impactlink.core.render import render_text
from impactlink.errors import ConfigError, TrackerAuthError, TrackerError
from impactlink.trackers import jira_comments
from impactlink.trackers.base import Change, Write
from impactlink.trackers.jira_client import JiraClient, JiraHTTPError
from impactlink.trackers.jira_fields import number_fields, screen_fields, screen_problems
from impactlink.trackers.jira_jql import feature_query, is_issue_key, project_of
from impactlink.trackers.jira_refs import in_projects, read_referenced, status_category
from impactlink.trackers.jira_text import description_text
from impactlink.trackers.references import Reads

log = logging.getLogger(__name__)

_BASE_FIELDS = ("summary", "status", "labels", "components", "issuetype", "project")
_TEXT_FIELDS = ("description",)
_PAGE = 100


@dataclass
class _Seen:
    """What Jira held for an issue when it was last read or written."""

    project: str
    issue_type: str
    values: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)


class JiraTracker:
    """Jira Cloud (REST v3) or Data Center (REST v2) through the jira library."""

    kind = "jira"

    def __init__(self, config: JiraTrackerConfig, base_dir: Path, catalog: Catalog, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._catalog = catalog
        self._clock = clock
        self._client = JiraClient(config, base_dir, sleep=sleep, clock=clock)
        self._names = (config.fields.score, config.fields.csat, config.fields.affected)
        self._levels = dict(config.level_labels)
        self._seen: dict[str, _Seen] = {}
        self._ids: dict[str, str] | None = None
        self._screens: dict[tuple[str, str], frozenset[str]] = {}
        self._comments = jira_comments.ManagedComments(self._client)

    @property
    def client(self) -> JiraClient:
        return self._client

    def fetch_issues(self, references: Collection[str]) -> list[Issue]:
        """List unresolved issues carrying a feature, plus the referenced ones; a cycle starts.

        Only issues of ``projects`` are kept, whatever the search answered. Referenced
        issues are read as trackers.references says: capped, batched, cached when gone.
        """
        self._client.start_cycle()
        wanted = [*_BASE_FIELDS, *_TEXT_FIELDS, *self._field_ids().values()]
        found: dict[str, Issue] = {}
        jql = self._feature_jql()
        if jql is not None:
            for item in self._search(jql, wanted):
                if in_projects(item, self._config.projects):
                    self._keep(item, found)
        reads = Reads(references, self._canonical, found,
                      limit=self._config.max_referenced_issues,
                      revalidate_hours=self._config.referenced_revalidate_hours,
                      now=self._clock())
        read_referenced(self._client, self._config.projects, reads, wanted,
                        lambda item: self._keep(item, found))
        reads.finish()
        return [found[k] for k in sorted(found, key=_key_order)]

    def plan(self, change: Change) -> list[Write]:
        """Say what the fields, the level label and the comment should hold; no reads.

        What this cycle's listing read back decides what is sent: only the values and
        labels Jira does not hold already.
        """
        key = change.issue.key
        impact = None if _cleared(change) else change.impact
        values: dict[str, float | None] = {
            self._names[0]: impact.score if impact else None,
            self._names[1]: impact.csat if impact else None,
            self._names[2]: float(impact.affected) if impact else None,
        }
        seen = self._seen.get(key)
        writes = [self._plan_fields(key, values, seen)]
        if self._config.level_label:
            writes.append(self._plan_label(key, self._levels.get(impact.level) if impact
                                           else None, seen))
        if self._config.comment:
            quotes = change.quotes if self._config.quotes and impact else ()
            text = render_text(impact, quotes, marker=jira_comments.MARKER)
            writes.append(Write("comment", {"text": text},
                                (f"GET {self._rest()}/issue/{key}/comment (find the managed "
                                 f"one), then PUT it or POST it when there is none",)))
        return writes

    def _plan_fields(self, key: str, values: dict[str, float | None],
                     seen: _Seen | None) -> Write:
        ids = self._ids
        if seen is None or ids is None:
            changed, note = values, " (only the values Jira does not already hold)"
        else:
            changed = {name: v for name, v in values.items()
                       if not _same(seen.values.get(ids[name]), v)}
            note = ""
        if not changed:
            return Write("fields", {"values": values}, current=True)
        shown = ", ".join(f'"{k}" = {"null" if v is None else v}' for k, v in changed.items())
        return Write("fields", {"values": values},
                     (f"PUT {self._rest()}/issue/{key}?notifyUsers=false fields: {shown}{note}",))

    def _plan_label(self, key: str, want: str | None, seen: _Seen | None) -> Write:
        if seen is None:
            return Write("label", {"label": want},
                         (f"PUT {self._rest()}/issue/{key} update.labels: add {want!r}, "
                          f"remove the other impact labels",))
        level_of = {label: level for level, label in self._levels.items()}
        held = ", ".join(level_of[lb] for lb in seen.labels if lb in level_of) or "–"
        ops = ([f"add {want!r}"] if want is not None and want not in seen.labels else []) + [
            f"remove {lb!r}" for lb in seen.labels if lb in level_of and lb != want]
        requests = (f"PUT {self._rest()}/issue/{key} update.labels: {', '.join(ops)}",)
        return Write("label", {"label": want}, requests if ops else (), held=held,
                     current=not ops)

    def apply(self, change: Change, write: Write) -> None:
        """Make one target hold what the write says; safe to repeat after a crash."""
        key = change.issue.key
        seen = self._seen.get(key) or self._read(key)
        if write.target == "fields":
            values = write.content["values"]
            assert isinstance(values, dict)
            self._apply_fields(key, seen, values)
        elif write.target == "label":
            label = write.content["label"]
            self._apply_label(key, seen, label if isinstance(label, str) else None)
        elif write.target == "comment":
            body = jira_comments.comment_body(str(write.content["text"]),
                                              adf=self._client.cloud)
            self._client.call(f"write the managed comment of {key}",
                              lambda: self._comments.write(key, body))
        else:
            raise TrackerError(f"unknown target {write.target!r} for the Jira tracker")

    def check(self) -> list[str]:
        """Return each problem with credentials, projects, fields, screens and the JQL."""
        from impactlink.trackers.jira_check import problems

        try:
            return problems(self._client, self._config, self._feature_jql())
        except (ConfigError, TrackerAuthError) as exc:
            return [str(exc)]

    def close(self) -> None:
        self._client.close()

    # -- reading ----------------------------------------------------------------------------

    def _rest(self) -> str:
        flavor = self._client.flavor
        return "/rest/api/" + ("{2|3}" if flavor is None else "3" if flavor == "cloud" else "2")

    def _feature_jql(self) -> str | None:
        features = self._catalog.features.values()
        return feature_query(self._config.projects,
                             [c for f in features for c in f.components],
                             [lb for f in features for lb in f.labels], self._config.jql)

    def _field_ids(self) -> dict[str, str]:
        """Return the id of each configured number field (read once per tracker)."""
        if self._ids is None:
            catalog = self._client.call("list fields", lambda: self._client.jira().fields(),
                                        read=True)
            ids, problems = number_fields(catalog, self._names)
            if problems:
                raise TrackerError("; ".join(problems))
            self._ids = ids
        return self._ids

    def _search(self, jql: str, wanted: list[str]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        start = 0
        while True:
            page = self._client.search_page(jql, wanted, limit=_PAGE, token=token, start=start)
            issues = page.get("issues") or []
            yield from issues
            if self._client.cloud:
                token = page.get("nextPageToken")
                if not token or page.get("isLast"):
                    return
            else:
                start += len(issues)
                if not issues or start >= int(page.get("total") or 0):
                    return

    def _canonical(self, ref: str) -> str | None:
        return ref if is_issue_key(ref) and project_of(ref) in self._config.projects else None

    def _keep(self, item: dict[str, Any], found: dict[str, Issue]) -> None:
        key = str(item["key"])
        fields = item.get("fields") or {}
        labels = [str(lb) for lb in fields.get("labels") or []]
        components = [str(c.get("name")) for c in fields.get("components") or []
                      if isinstance(c, dict)]
        self._seen[key] = _Seen(
            project=str((fields.get("project") or {}).get("key") or project_of(key)),
            issue_type=str((fields.get("issuetype") or {}).get("name") or ""),
            values={fid: fields.get(fid) for fid in (self._ids or {}).values()},
            labels=labels)
        found[key] = Issue(IssueKey(key), str(fields.get("summary") or ""),
                           f"{self._config.url.rstrip('/')}/browse/{key}",
                           "closed" if status_category(item) == "done" else "open",
                           tuple(sorted(labels)), tuple(sorted(components)),
                           body=description_text(fields.get("description")))

    def _read(self, key: str) -> _Seen:
        """Read one issue that this cycle's listing did not carry."""
        wanted = [*_BASE_FIELDS, *self._field_ids().values()]
        item = self._client.get(f"read {key}", f"issue/{key}", {"fields": ",".join(wanted)})
        self._keep(item, {})
        return self._seen[key]

    # -- writing ----------------------------------------------------------------------------

    def _screen(self, key: str, seen: _Seen, wanted: dict[str, str]) -> None:
        """Raise when a wanted field is missing from the edit screen (editmeta read once)."""
        pair = (seen.project, seen.issue_type)
        if pair not in self._screens:
            meta = self._client.get(f"read the edit screen of {key}", f"issue/{key}/editmeta")
            self._screens[pair] = screen_fields(meta)
        problems = screen_problems(self._screens[pair], wanted, *pair)
        if problems:
            raise TrackerError("; ".join(problems))

    def _apply_fields(self, key: str, seen: _Seen, values: dict[str, Any]) -> None:
        ids = self._field_ids()
        wanted = {ids[name]: value for name, value in values.items()}
        changed = {fid: v for fid, v in wanted.items() if not _same(seen.values.get(fid), v)}
        if not changed:
            return
        self._screen(key, seen, {n: ids[n] for n in values})
        self._put(key, {"fields": changed})
        seen.values.update(changed)

    def _apply_label(self, key: str, seen: _Seen, want: str | None) -> None:
        ours = set(self._levels.values())
        ops: list[dict[str, str]] = []
        if want is not None and want not in seen.labels:
            ops.append({"add": want})
        ops += [{"remove": lb} for lb in seen.labels if lb in ours and lb != want]
        if not ops:
            return
        self._screen(key, seen, {"Labels": "labels"})
        self._put(key, {"update": {"labels": ops}})
        seen.labels = [lb for lb in seen.labels if lb not in ours] + ([want] if want else [])

    def _put(self, key: str, body: dict[str, Any]) -> None:
        """Edit an issue without notifying watchers where Jira permits it."""
        if self._client.notify_off_allowed:
            try:
                self._client.send(f"update {key}", "PUT", f"issue/{key}", body,
                                  {"notifyUsers": "false"})
                return
            except JiraHTTPError as exc:
                if exc.status not in (400, 403):
                    raise
                refused = exc
        self._client.send(f"update {key}", "PUT", f"issue/{key}", body)
        if self._client.notify_off_allowed:
            # NOTE: notifyUsers=false needs (project) admin rights; Jira refuses the whole
            # edit without them, so the edit went again with notifications on.
            log.info("Jira refused notifyUsers=false (%s): editing with notifications", refused)
            self._client.notify_off_allowed = False


def _key_order(key: str) -> tuple[str, int]:
    project, _, number = key.rpartition("-")
    return project, int(number) if number.isdigit() else 0


def _same(held: Any, wanted: Any) -> bool:
    if held is None or wanted is None:
        return held is None and wanted is None
    try:
        return abs(float(held) - float(wanted)) < 1e-9
    except (TypeError, ValueError):
        return False


def _cleared(change: Change) -> bool:
    return change.impact is None or change.impact.level == "none"
