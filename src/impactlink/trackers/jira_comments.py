"""The one managed Jira comment: rendered as plain text by core.render, found by its first line.

Only a comment written by the account impactlink signs in as is adopted (its account id
from /myself); a marker in anyone else's comment is left alone.

NOTE: REST v3 (Cloud) takes comment bodies in Atlassian Document Format and v2 (Data
Center) in wiki markup. The rendered text goes in as inert text either way: ADF text nodes
(no markup is interpreted) or a wiki {noformat} block, so no customer quote can mention,
link or format. https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from impactlink.core.render import seal
from impactlink.errors import TrackerError
from impactlink.trackers.jira_client import JiraClient

MARKER = "impactlink:customer-impact"
JIRA_LIMIT = 32_767
"""NOTE: Jira refuses a comment body over 32,767 characters."""
_NOFORMAT = "{noformat}"
_PAGE = 100


def comment_body(text: str, *, adf: bool) -> Any:
    """Return the rendered comment as an ADF document (v3) or wiki text (v2), within the limit."""
    limit = JIRA_LIMIT
    while True:
        sealed = seal(text, MARKER, limit=limit)
        body = _adf(sealed) if adf else _wiki(sealed)
        size = len(json.dumps(body, ensure_ascii=False)) if adf else len(body)
        if size <= JIRA_LIMIT or limit < 1_000:
            return body
        limit -= size - JIRA_LIMIT + 100  # the markup around the text took the difference


def _wiki(text: str) -> str:
    return f"{_NOFORMAT}\n{text.replace(_NOFORMAT, '{ noformat}')}\n{_NOFORMAT}"


def _adf(text: str) -> dict[str, Any]:
    paragraphs = []
    for block in text.split("\n\n"):
        content: list[dict[str, Any]] = []
        for n, line in enumerate(block.split("\n")):
            if n:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


def is_managed(body: Any) -> bool:
    """Tell whether a comment body starts with the marker (as this module writes it)."""
    if isinstance(body, str):
        return body.startswith(f"{_NOFORMAT}\n{MARKER}\n")
    if isinstance(body, dict):
        blocks = body.get("content") or []
        first = blocks[0].get("content") if blocks and isinstance(blocks[0], dict) else None
        return (isinstance(first, list) and bool(first) and isinstance(first[0], dict)
                and first[0].get("text") == MARKER)
    return False


@dataclass(frozen=True)
class Account:
    """The account impactlink signs in as: its accountId (Cloud) or user key (Data Center)."""

    field: str
    value: str

    def wrote(self, comment: Mapping[str, Any]) -> bool:
        """Tell whether a comment was written by this account."""
        author = comment.get("author")
        return isinstance(author, Mapping) and str(author.get(self.field) or "") == self.value


class ManagedComments:
    """Finds, creates and edits the managed comment of each issue, as impactlink's account."""

    def __init__(self, client: JiraClient) -> None:
        self._client = client
        self._account: Account | None = None

    def account(self) -> Account:
        """Return the account the credentials sign in as (read once, from /myself)."""
        if self._account is None:
            me = self._client.raw("GET", "myself")
            me = me if isinstance(me, Mapping) else {}
            # NOTE: Cloud identifies users by accountId only; Data Center by the user key,
            # which, unlike the user name, never changes.
            field = "accountId" if me.get("accountId") else "key"
            if not me.get(field):
                raise TrackerError("Jira's answer to /myself names no accountId or key")
            self._account = Account(field, str(me[field]))
        return self._account

    def find(self, key: str) -> dict[str, Any] | None:
        """Return the issue's managed comment (the oldest, if a crash ever left two), or None."""
        start = 0
        while True:
            page = self._client.raw("GET", f"issue/{key}/comment",
                                    params={"startAt": start, "maxResults": _PAGE,
                                            "orderBy": "created"})
            page = page if isinstance(page, dict) else {}
            comments = page.get("comments") or []
            for comment in comments:
                if (isinstance(comment, dict) and is_managed(comment.get("body"))
                        and self.account().wrote(comment)):
                    return dict(comment)
            start += len(comments)
            if not comments or start >= int(page.get("total") or 0):
                return None

    def write(self, key: str, body: Any) -> None:
        """Edit the managed comment, or create it when none exists; one idempotent step."""
        existing = self.find(key)
        if existing is None:
            self._client.raw("POST", f"issue/{key}/comment", {"body": body})
        elif existing.get("body") != body:
            self._client.raw("PUT", f"issue/{key}/comment/{existing['id']}", {"body": body})
