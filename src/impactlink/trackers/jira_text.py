"""A Jira description as plain text: ADF (REST v3, Cloud) walked to text; wiki text (v2) as is.

NOTE: ADF is a tree of block nodes (paragraph, heading, listItem, ...) holding inline nodes
(text, hardBreak, mention, emoji, inlineCard, ...).
https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/
"""

from __future__ import annotations

from typing import Any

_BLOCKS = frozenset({
    "blockCard", "blockquote", "bulletList", "codeBlock", "decisionItem", "decisionList",
    "embedCard", "expand", "heading", "listItem", "mediaGroup", "mediaSingle", "nestedExpand",
    "orderedList", "panel", "paragraph", "rule", "table", "tableCell", "tableHeader",
    "tableRow", "taskItem", "taskList"})


def _inline(node: dict[str, Any]) -> str | None:
    """Return the text an inline node stands for, or None when it is no inline leaf."""
    kind, attrs = node.get("type"), node.get("attrs") or {}
    if kind == "text":
        return str(node.get("text") or "")
    if kind == "hardBreak":
        return "\n"
    if kind in ("mention", "emoji", "status"):
        return str(attrs.get("text") or attrs.get("shortName") or "")
    if kind in ("inlineCard", "blockCard", "embedCard"):
        return str(attrs.get("url") or "")
    return None


def _walk(node: object, out: list[str]) -> None:
    if isinstance(node, list):
        for child in node:
            _walk(child, out)
        return
    if not isinstance(node, dict):
        return
    leaf = _inline(node)
    if leaf is not None:
        out.append(leaf)
    block = node.get("type") in _BLOCKS
    if block:
        out.append("\n")
    _walk(node.get("content"), out)
    if block:
        out.append("\n")


def adf_text(doc: object) -> str:
    """Return an ADF document's text: one line per block or hard break, blank lines dropped."""
    out: list[str] = []
    _walk(doc, out)
    lines = (line.strip() for line in "".join(out).split("\n"))
    return "\n".join(line for line in lines if line)


def description_text(value: object) -> str:
    """Return a description as plain text: ADF (Cloud, v3) converted, a string (v2) as is."""
    if isinstance(value, str):
        return value
    return adf_text(value) if isinstance(value, dict | list) else ""
