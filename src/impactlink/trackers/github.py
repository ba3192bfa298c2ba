"""The GitHub tracker: issues by feature label, a level label, one managed comment, project fields.

plan() reads nothing per issue (the labels come with this cycle's listing; a repository's
own labels are read once, when a level label may need creating), so an unchanged issue
costs no request at all; apply() does the reads a write needs, such as finding the
managed comment by its marker before ever creating one.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any
from urllib.parse import quote

from impactlink.config import GithubTrackerConfig
from impactlink.core.matching import Catalog
from impactlink.core.models import Issue, IssueKey
from impactlink.core.render import MARKER, render_comment, seal
from impactlink.errors import TrackerAuthError, TrackerError
from impactlink.trackers.base import Change, Write
from impactlink.trackers.github_client import GithubClient, GithubHTTPError, build_auth
from impactlink.trackers.github_comments import ManagedComments
from impactlink.trackers.github_projects import ProjectFields, describe
from impactlink.trackers.github_refs import read_referenced
from impactlink.trackers.references import Reads

log = logging.getLogger(__name__)

_REF = re.compile(r"^(?:([^#\s/]+/[^#\s/]+))?#(\d+)$")
_WRITERS = ("admin", "maintain", "push", "triage")


class GithubTracker:
    """GitHub issues (REST through PyGithub) and Projects v2 fields (GraphQL)."""

    kind = "github"

    def __init__(self, config: GithubTrackerConfig, base_dir: Path, catalog: Catalog, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._catalog = catalog
        self._clock = clock
        self._client = GithubClient(config, build_auth(config, base_dir), sleep=sleep,
                                    clock=clock)
        self._repos = {r.lower(): r for r in config.repos}
        levels = config.labels
        self._levels = {"critical": levels.critical, "high": levels.high,
                        "medium": levels.medium, "low": levels.low}
        self._level_names = {name.lower() for name in self._levels.values()}
        self._projects = (ProjectFields(self._client, config, config.project)
                          if config.project else None)
        self._nodes: dict[str, str] = {}
        self._comments = ManagedComments(self._client, app_id=config.app_id)
        self._repo_info: dict[str, dict[str, Any]] = {}
        self._repo_labels: dict[str, set[str]] = {}
        self._creations: set[tuple[str, str]] = set()
        """Labels whose creation is planned already (once per repository and name)."""
        self._level_of = {name.lower(): level for level, name in self._levels.items()}

    @property
    def client(self) -> GithubClient:
        return self._client

    def fetch_issues(self, references: Collection[str]) -> list[Issue]:
        """List open issues per feature label and repo, plus open referenced issues.

        A cycle starts here: the write allowance (max_writes_per_run) is reset. Referenced
        issues are read as trackers.references says: capped, batched, cached when gone.
        """
        self._client.start_cycle()
        found: dict[str, Issue] = {}
        labels = sorted({lb for f in self._catalog.features.values() for lb in f.labels})
        for repo in self._config.repos:
            for label in labels:
                params = {"labels": label, "state": "open", "per_page": 100}
                for page in self._client.pages(f"/repos/{repo}/issues", params):
                    for item in page:
                        self._keep(repo, item, found)
        reads = Reads(references, self._canonical, found,
                      limit=self._config.max_referenced_issues,
                      revalidate_hours=self._config.referenced_revalidate_hours,
                      now=self._clock())
        read_referenced(self._client, reads, lambda repo, item: self._keep(repo, item, found))
        reads.finish()
        return [found[k] for k in sorted(found)]

    def plan(self, change: Change) -> list[Write]:
        """Say what the label, comment and project fields should hold; no per-issue reads."""
        writes = [self._plan_label(change)]
        if self._config.comment:
            writes.append(self._plan_comment(change))
        if self._projects is not None:
            writes.append(self._plan_project(change))
        return writes

    def apply(self, change: Change, write: Write) -> None:
        """Make one target hold what the write says; safe to repeat after a crash."""
        repo, number = _split(change.issue.key)
        if write.target == "label":
            self._apply_label(change, repo, number)
        elif write.target == "comment":
            self._comments.write(change.issue.key, repo, number, str(write.content["body"]),
                                 cleared=_cleared(change))
        elif write.target == "project" and self._projects is not None:
            values = write.content["values"]
            assert isinstance(values, dict)
            node = self._nodes.get(change.issue.key) or self._projects.issue_id(repo, number)
            self._nodes[change.issue.key] = node
            self._projects.write(node, values)
        else:
            raise TrackerError(f"unknown target {write.target!r} for the GitHub tracker")

    def check(self) -> list[str]:
        """Return each problem with the token, the repositories, labels and project fields."""
        try:
            self._client.get("/rate_limit")
        except GithubHTTPError as exc:
            if exc.status != 404:  # Enterprise Server without rate limiting answers 404
                return [f"GitHub at {self._config.api_url}: {exc}"]
        except TrackerAuthError as exc:
            return [str(exc)]
        except TrackerError as exc:
            return [f"GitHub at {self._config.api_url} unreachable ({exc}): check api_url "
                    f"(GitHub Enterprise Server: https://HOST/api/v3)"]
        problems: list[str] = []
        for repo in self._config.repos:
            problems += self._check_repo(repo)
        if self._projects is not None:
            problems += self._projects.problems()
        return problems

    def close(self) -> None:
        self._client.close()

    def _keep(self, repo: str, item: Any, found: dict[str, Issue]) -> None:
        if not isinstance(item, dict) or "pull_request" in item:
            return
        key = IssueKey(f"{repo}#{item['number']}")
        if item.get("node_id"):
            self._nodes[key] = str(item["node_id"])
        self._comments.listed(key, item.get("comments"))
        found[key] = Issue(
            key=key, title=str(item.get("title") or ""), url=str(item.get("html_url") or ""),
            state="closed" if item.get("state") == "closed" else "open",
            labels=tuple(sorted(str(lb["name"]) for lb in item.get("labels") or []
                                if isinstance(lb, dict) and lb.get("name"))),
            body=str(item.get("body") or ""))

    def _canonical(self, ref: str) -> str | None:
        target = self._resolve(ref)
        return None if target is None else f"{target[0]}#{target[1]}"

    def _resolve(self, ref: str) -> tuple[str, int] | None:
        match = _REF.match(ref.strip())
        if match is None:
            return None
        repo = self._repos.get(match.group(1).lower()) if match.group(1) else \
            self._config.repos[0]
        return (repo, int(match.group(2))) if repo else None

    def _plan_label(self, change: Change) -> Write:
        repo, number = _split(change.issue.key)
        want, add, remove = self._label_delta(change)
        held = ", ".join(self._level_of[lb.lower()] for lb in change.issue.labels
                         if lb.lower() in self._level_of) or "–"
        requests: list[str] = []
        if add:
            if self._plan_creation(repo, add):
                color = getattr(self._config.label_colors, _level(change))
                requests.append(f"POST /repos/{repo}/labels {{'name': {add!r}, 'color': "
                                f"{color!r}}} (the repository lacks it)")
            requests.append(f"POST /repos/{repo}/issues/{number}/labels {{'labels': [{add!r}]}}")
        requests += [f"DELETE /repos/{repo}/issues/{number}/labels/{quote(name, safe='')}"
                     for name in remove]
        return Write("label", {"label": want}, tuple(requests), held=held,
                     current=not add and not remove)

    def _plan_creation(self, repo: str, name: str) -> bool:
        """Tell whether a label must be created first: planned once per repository and name."""
        wanted = (repo, name.lower())
        if name.lower() in self._labels_of(repo) or wanted in self._creations:
            return False
        self._creations.add(wanted)
        return True

    def _labels_of(self, repo: str) -> set[str]:
        """Return the repository's label names, folded (read once, kept up to date)."""
        names = self._repo_labels.get(repo)
        if names is None:
            names = {str(lb["name"]).lower()
                     for page in self._client.pages(f"/repos/{repo}/labels", {"per_page": 100})
                     for lb in page if isinstance(lb, dict)}
            self._repo_labels[repo] = names
        return names

    def _label_delta(self, change: Change) -> tuple[str | None, str | None, list[str]]:
        level = _level(change)
        want = self._levels.get(level)
        present = [lb for lb in change.issue.labels if lb.lower() in self._level_names]
        has = {lb.lower() for lb in present}
        add = want if want is not None and want.lower() not in has else None
        remove = [lb for lb in present if want is None or lb.lower() != want.lower()]
        return want, add, remove

    def _plan_comment(self, change: Change) -> Write:
        repo, number = _split(change.issue.key)
        body = seal(render_comment(None if _cleared(change) else change.impact,
                                   self._quotes(change, repo), marker=MARKER), MARKER)
        requests = self._comments.requests(change.issue.key, repo, number,
                                           cleared=_cleared(change))
        return Write("comment", {"body": body}, requests)

    def _plan_project(self, change: Change) -> Write:
        assert self._config.project is not None
        names = self._config.fields
        impact = None if _cleared(change) else change.impact
        values: dict[str, float | None] = {
            names.score: impact.score if impact else None,
            names.csat: impact.csat if impact else None,
            names.affected: float(impact.affected) if impact else None,
        }
        shown = ", ".join(f"{k} = {'cleared' if v is None else v}"
                          for k, v in sorted(values.items()))
        board = describe(self._config.project)
        requests = (
            f"POST graphql addProjectV2ItemById ({board}, {change.issue.key})"
            + (" only if already on the board" if impact is None else ""),
            f"POST graphql one mutation: {shown}",
        )
        return Write("project", {"values": values}, requests)

    def _quotes(self, change: Change, repo: str) -> tuple[str, ...]:
        if not (self._config.quotes and change.quotes) or _cleared(change):
            return ()
        if self._config.allow_quotes_on_public_repos:
            return change.quotes
        info = self._repo(repo)
        if info.get("private") is not True:
            if not info.get("_warned"):
                info["_warned"] = True
                log.warning("%s is public: customer quotes left out of its comments "
                            "(allow_quotes_on_public_repos = true lets them in)", repo)
            return ()
        return change.quotes

    def _repo(self, repo: str) -> dict[str, Any]:
        info = self._repo_info.get(repo)
        if info is None:
            data = self._client.get(f"/repos/{repo}")
            info = data if isinstance(data, dict) else {}
            self._repo_info[repo] = info
        return info

    def _apply_label(self, change: Change, repo: str, number: int) -> None:
        _, add, remove = self._label_delta(change)
        if add:
            self._ensure_label(repo, add, getattr(self._config.label_colors, _level(change)))
            self._client.send("POST", f"/repos/{repo}/issues/{number}/labels",
                              {"labels": [add]})
        for name in remove:
            try:
                self._client.send("DELETE",
                                  f"/repos/{repo}/issues/{number}/labels/{quote(name, safe='')}")
            except GithubHTTPError as exc:
                if exc.status != 404:  # already gone
                    raise

    def _ensure_label(self, repo: str, name: str, color: str) -> None:
        names = self._labels_of(repo)
        if name.lower() in names:
            return
        try:
            self._client.send("POST", f"/repos/{repo}/labels", {
                "name": name, "color": color,
                "description": "Customer Impact level, maintained by impactlink"})
        except GithubHTTPError as exc:
            if exc.status != 422:  # 422 already_exists: someone created it meanwhile
                raise
        names.add(name.lower())

    def _check_repo(self, repo: str) -> list[str]:
        try:
            info = self._repo(repo)
        except GithubHTTPError as exc:
            if exc.status == 404:
                return [f"{repo}: repository not found or not visible to these credentials: "
                        f"check the name in tracker.repos and grant access to it"]
            return [f"{repo}: {exc}"]
        except TrackerError as exc:
            return [f"{repo}: {exc}"]
        problems = []
        perms = info.get("permissions")
        can_write = not isinstance(perms, dict) or any(perms.get(p) for p in _WRITERS)
        can_push = not isinstance(perms, dict) or any(perms.get(p) for p in _WRITERS[:3])
        if not can_write:
            problems.append(f"{repo}: the credentials cannot label or comment on issues: grant "
                            f"Triage or Write access (fine-grained token: Issues read and write)")
        if info.get("has_issues") is False:
            problems.append(f"{repo}: issues are disabled: enable them in the repository settings")
        try:
            present = {str(lb["name"]).lower()
                       for page in self._client.pages(f"/repos/{repo}/labels", {"per_page": 100})
                       for lb in page if isinstance(lb, dict)}
        except TrackerError as exc:
            return [*problems, f"{repo}: cannot list labels: {exc}"]
        self._repo_labels[repo] = present
        missing = [n for n in self._levels.values() if n.lower() not in present]
        if missing and not can_push:
            problems.append(f"{repo}: labels {', '.join(map(repr, missing))} are missing and "
                            f"these credentials cannot create them: create them, or grant Write")
        return problems


def _split(key: str) -> tuple[str, int]:
    repo, _, number = key.rpartition("#")
    return repo, int(number)


def _level(change: Change) -> str:
    return "none" if change.impact is None else change.impact.level


def _cleared(change: Change) -> bool:
    return change.impact is None or change.impact.level == "none"
