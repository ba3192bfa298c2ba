"""The one managed comment per issue, found by its hidden marker and edited in place.

Like python/bedevere, impactlink owns only the part of the comment fenced by its marker.
A comment is created only after looking for the marker (or when the issue listing said the
issue has no comment at all), so a crash, or a 5xx after a POST that landed, never leaves
two managed comments.
"""

from __future__ import annotations

from impactlink.core.render import MARKER, splice
from impactlink.errors import BudgetExhausted, TrackerAuthError, TrackerError
from impactlink.trackers.github_client import GithubClient, GithubHTTPError


class ManagedComments:
    """Finds, creates and edits the managed comment of each issue; remembers where it is."""

    def __init__(self, client: GithubClient) -> None:
        self._client = client
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
        return (f"GET /repos/{repo}/issues/{number}/comments (find {MARKER})",
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

    def _edit(self, key: str, comment_id: int, current: str, body: str, repo: str) -> None:
        merged = splice(current, body, marker=MARKER)
        if merged != current:
            self._client.send("PATCH", f"/repos/{repo}/issues/comments/{comment_id}",
                              {"body": merged})
        self._known[key] = (comment_id, merged)

    def _find(self, repo: str, number: int) -> tuple[int, str] | None:
        for page in self._client.pages(f"/repos/{repo}/issues/{number}/comments",
                                       {"per_page": 100}):
            for comment in page:
                text = str(comment.get("body") or "")
                if MARKER in text:
                    return int(comment["id"]), text
        return None
