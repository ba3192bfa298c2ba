"""The one managed Jira comment: rendered as plain text by core.render, found by its first line.

NOTE: REST v3 (Cloud) takes comment bodies in Atlassian Document Format and v2 (Data
Center) in wiki markup. The rendered text goes in as inert text either way: ADF text nodes
(no markup is interpreted) or a wiki {noformat} block, so no customer quote can mention,
link or format. https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/
"""

from __future__ import annotations

from typing import Any

from impactlink.trackers.jira_client import JiraClient

MARKER = "impactlink:customer-impact"
_NOFORMAT = "{noformat}"
_PAGE = 100


def comment_body(text: str, *, adf: bool) -> Any:
    """Return the rendered comment as an ADF document (v3) or wiki text (v2)."""
    if not adf:
        return f"{_NOFORMAT}\n{text.replace(_NOFORMAT, '{ noformat}')}\n{_NOFORMAT}"
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


def find_managed(client: JiraClient, key: str) -> dict[str, Any] | None:
    """Return the issue's managed comment (the oldest, if a crash ever left two), or None."""
    start = 0
    while True:
        page = client.raw("GET", f"issue/{key}/comment",
                          params={"startAt": start, "maxResults": _PAGE, "orderBy": "created"})
        page = page if isinstance(page, dict) else {}
        comments = page.get("comments") or []
        for comment in comments:
            if isinstance(comment, dict) and is_managed(comment.get("body")):
                return dict(comment)
        start += len(comments)
        if not comments or start >= int(page.get("total") or 0):
            return None


def write_managed(client: JiraClient, key: str, body: Any) -> None:
    """Edit the managed comment, or create it when none exists; one idempotent step."""
    existing = find_managed(client, key)
    if existing is None:
        client.raw("POST", f"issue/{key}/comment", {"body": body})
    elif existing.get("body") != body:
        client.raw("PUT", f"issue/{key}/comment/{existing['id']}", {"body": body})
