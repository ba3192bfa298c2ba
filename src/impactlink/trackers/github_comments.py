"""The one managed comment per issue, found by its hidden marker and edited in place.

Like python/bedevere, impactlink owns only the part of the comment fenced by its marker,
and only in a comment it wrote itself: a marker in anyone else's comment is text, never
an invitation to edit it. A comment is created only after looking for ours (or when the
issue listing said the issue has no comment at all), so a crash, or a 5xx after a POST
that landed, never leaves two managed comments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from impactlink.core.render import GITHUB_LIMIT, MARKER, fence, seal, splice
from impactlink.errors import BudgetExhausted, TrackerAuthError, TrackerError
from impactlink.trackers.github_client import GithubClient, GithubHTTPError


@dataclass(frozen=True)
class Author:
    """Who impactlink writes as: the token's user, or a GitHub App's installation."""

    login: str | None = None
    app_id: int | None = None

    def wrote(self, comment: Mapping[str, Any]) -> bool:
        """Tell whether a comment was written by these credentials."""
        if self.app_id is not None:
            # NOTE: GitHub sets performed_via_github_app on what an App's installation
            # writes; its author is the `<app-slug>[bot]` user, which no person can be.
            app = comment.get("performed_via_github_app")
            return isinstance(app, Mapping) and app.get("id") == self.app_id
        user = comment.get("user")
        login = str(user.get("login") or "") if isinstance(user, Mapping) else ""
        return self.login is not None and login.casefold() == self.login.casefold()


class ManagedComments:
    """Finds, creates and edits the managed comment of each issue; remembers where it is."""

    def __init__(self, client: GithubClient, *, app_id: int | None = None) -> None:
        self._client = client
        self._app_id = app_id
        self._author: Author | None = None
        self._known: dict[str, tuple[int, str]] = {}
        self._uncommented: set[str] = set()

    def listed(self, key: str, comments: object) -> None:
        """Note the comment count the issue listing gave (0 means nothing to look for)."""
        if comments == 0:
            self._uncommented.add(key)
        else:
            self._uncommented.discard(key)

    def requests(self, key: str, repo: str, number: int, *, cleared: bool) -> tuple[str, ...]:
        """Return the requests a write would send, for --dry-run."""
        known = self._known.get(key)
        create = f"POST /repos/{repo}/issues/{number}/comments (create)"
        if known is not None:
            return (f"PATCH /repos/{repo}/issues/comments/{known[0]} (edit in place)",)
        if key in self._uncommented:
            return () if cleared else (create,)
        verb = "or nothing when none exists" if cleared else f"else {create}"
        return (f"GET /repos/{repo}/issues/{number}/comments (find ours with {MARKER})",
                f"PATCH /repos/{repo}/issues/comments/{{id}} (edit in place) {verb}")

    def write(self, key: str, repo: str, number: int, body: str, *, cleared: bool) -> None:
        """Make the managed comment say body; when cleared, never create one."""
        known = self._known.get(key)
        if known is not None:
            try:
                self._edit(key, known[0], known[1], body, repo)
                return
            except GithubHTTPError as exc:
                if exc.status != 404:
                    raise
                del self._known[key]  # deleted by someone since
        found = None if key in self._uncommented else self._find(repo, number)
        if found is not None:
            self._edit(key, found[0], found[1], body, repo)
            return
        if cleared:
            return  # nothing of ours to clear
        try:
            created = self._client.send("POST", f"/repos/{repo}/issues/{number}/comments",
                                        {"body": body}, idempotent=False)
        except (BudgetExhausted, TrackerAuthError):
            raise
        except TrackerError:
            # NOTE: a 5xx or a dropped connection can follow a POST that landed; look before
            # anyone tries again, so the issue never gets two managed comments.
            found = self._find(repo, number)
            if found is None:
                raise
            self._edit(key, found[0], found[1], body, repo)
            return
        self._known[key] = (int(created["id"]), body)
        self._uncommented.discard(key)

    def author(self) -> Author:
        """Return who these credentials write as (asked once, when first needed)."""
        if self._author is None:
            self._author = Author(app_id=self._app_id) if self._app_id is not None \
                else Author(login=self._login())
        return self._author

    def _login(self) -> str:
        try:
            user = self._client.get("/user")
        except TrackerAuthError:
            raise TrackerAuthError(
                "GitHub would not say which account the token belongs to (GET /user: 403): "
                "impactlink edits only comments it wrote, so it must know; use a personal "
                "access token, or configure the GitHub App (app_id, private_key_file, "
                "installation_id)") from None
        login = user.get("login") if isinstance(user, Mapping) else None
        if not login:
            raise TrackerError("GitHub's answer to GET /user names no login")
        return str(login)

    def _edit(self, key: str, comment_id: int, current: str, body: str, repo: str) -> None:
        merged = splice(current, body, marker=MARKER)
        if len(merged) > GITHUB_LIMIT:  # text around the fence leaves less room for ours
            room = GITHUB_LIMIT - (len(merged) - len(body))
            merged = splice(current, seal(body, MARKER, limit=room), marker=MARKER)
        if merged != current:
            self._client.send("PATCH", f"/repos/{repo}/issues/comments/{comment_id}",
                              {"body": merged})
        self._known[key] = (comment_id, merged)

    def _find(self, repo: str, number: int) -> tuple[int, str] | None:
        """Return our comment that carries the fence (the oldest, should there be two)."""
        for page in self._client.pages(f"/repos/{repo}/issues/{number}/comments",
                                       {"per_page": 100}):
            for comment in page:
                if not isinstance(comment, Mapping):
                    continue
                text = str(comment.get("body") or "")
                if fence(text, MARKER) is not None and self.author().wrote(comment):
                    return int(comment["id"]), text
        return None
