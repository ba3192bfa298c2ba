"""Issues from a JSON export: ``gh issue list --json ...`` or a Jira search export.

Issue text comes from ``body`` (gh) or ``fields.description`` (Jira: ADF from Cloud, wiki
text from Data Center).

Teams export issues this way to try impactlink before granting it API access; the
write-back of this tracker is the printed plan: what GitHub (a level label, the managed
comment) or Jira (the three number fields) would be sent, for a person to apply.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Collection
from functools import lru_cache
from pathlib import Path
from typing import Any

from impactlink.config import FieldNames, FileTrackerConfig, LevelLabels
from impactlink.core.models import Issue, IssueKey
from impactlink.core.refs import find_refs
from impactlink.core.render import MARKER, render_comment, seal
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


def _items(data: Any) -> list[Any]:
    items = data.get("issues") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError("expected a JSON list of issues, or an object with an 'issues' list")
    return items


def repos_named(data: Any) -> set[str]:
    """Return the repositories the issue URLs of a gh export name."""
    found = set()
    for item in _items(data):
        if isinstance(item, dict) and "key" not in item:
            found |= {r.split("#")[0] for r in find_refs(str(item.get("url") or "")) if "/" in r}
    return found


def export_repo(path: Path) -> str | None:
    """Return the one repository a gh export's URLs all name, or None (unreadable, or many)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _export_repo(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _export_repo(path: Path, mtime_ns: int, size: int) -> str | None:
    try:
        repos = repos_named(json.loads(path.read_text(encoding="utf-8-sig")))
    except (OSError, ValueError):
        return None
    return next(iter(repos)) if len(repos) == 1 else None


def _fields(item: dict[str, Any]) -> dict[str, Any]:
    fields = item.get("fields")
    return fields if isinstance(fields, dict) else item


def export_warnings(data: Any) -> list[str]:
    """Return what an export lacks that changes the figures, each with its fix."""
    items = [i for i in _items(data) if isinstance(i, dict)]
    gh = [i for i in items if "key" not in i]
    jira = [i for i in items if "key" in i]
    stateless = [i for i in gh if "state" not in i] + [
        i for i in jira if "status" not in _fields(i)]
    if not stateless:
        return []
    return [f"tracker.path: {len(stateless)} of {len(items)} exported issues have no state, so "
            f"each is taken as open — export it: `gh issue list --state all --json "
            f"number,title,state,labels,url,body` (Jira: the status field)"]


def parse_issues(data: Any, default_repo: str | None = None) -> list[Issue]:
    """Return the issues of a gh export (a list) or a Jira export (a list or {"issues": [...]})."""
    items = _items(data)
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
        self.warnings: list[str] = []
        """What the last export read lacks (tracker.path: ...), for the run's warnings."""
        self._levels = LevelLabels().model_dump()
        self._level_of = {label.lower(): level for level, label in self._levels.items()}
        self._fields = FieldNames()

    def fetch_issues(self, references: Collection[str]) -> list[Issue]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8-sig"))
            repos = repos_named(data)
            default = self.default_repo or (next(iter(repos)) if len(repos) == 1 else None)
            issues = parse_issues(data, default)
        except OSError as exc:
            raise ConfigError(f"tracker.path: cannot read {self.path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"tracker.path: {self.path} is not an issue export: {exc}") from None
        self.warnings = export_warnings(data)
        return issues

    def plan(self, change: Change) -> list[Write]:
        """Say what GitHub (label, comment) or Jira (fields) would be sent, to apply by hand."""
        if "#" not in change.issue.key:
            return [self._plan_fields(change)]
        label = self._plan_label(change)
        return [*([label] if label is not None else []), self._plan_comment(change)]

    def apply(self, change: Change, write: Write) -> None:
        raise AssertionError("the file tracker's writes are printed, never applied")

    def check(self) -> list[str]:
        try:
            self.fetch_issues(())
        except ConfigError as exc:
            return [f"{exc} — export issues with `gh issue list --json "
                    f"number,title,state,labels,url,body` or a Jira search export"]
        return []

    def close(self) -> None:
        pass

    def _plan_label(self, change: Change) -> Write | None:
        repo, _, number = change.issue.key.rpartition("#")
        impact = change.impact
        want = self._levels.get(impact.level) if impact is not None else None
        present = [lb for lb in change.issue.labels if lb.lower() in self._level_of]
        add = want if want is not None and want.lower() not in {p.lower() for p in present} \
            else None
        remove = [lb for lb in present if want is None or lb.lower() != want.lower()]
        if not add and not remove:
            return None  # the export shows the label already
        edits = ([f"--add-label {shlex.quote(add)}"] if add else []) + [
            f"--remove-label {shlex.quote(lb)}" for lb in remove]
        held = ", ".join(self._level_of[lb.lower()] for lb in present) or "–"
        return Write("label", {"label": want},
                     (f"gh issue edit {number} --repo {repo} {' '.join(edits)}",),
                     held=held, printed_only=True)

    def _plan_comment(self, change: Change) -> Write:
        repo, _, number = change.issue.key.rpartition("#")
        body = seal(render_comment(change.impact, change.quotes, marker=MARKER), MARKER)
        return Write("comment", {"body": body},
                     (f"gh issue comment {number} --repo {repo} --body-file FILE  # the "
                      f"managed comment (--show-bodies prints it); edit it if it exists",),
                     printed_only=True)

    def _plan_fields(self, change: Change) -> Write:
        impact = change.impact
        values: dict[str, float | None] = {
            self._fields.score: impact.score if impact else None,
            self._fields.csat: impact.csat if impact else None,
            self._fields.affected: float(impact.affected) if impact else None,
        }
        shown = ", ".join(f'"{k}" = {"(empty)" if v is None else f"{v:g}"}'
                          for k, v in values.items())
        return Write("fields", {"values": values}, (f"set {shown} on {change.issue.key}",),
                     printed_only=True)
