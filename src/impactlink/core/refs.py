"""Explicit issue references: GitHub ``#12``, ``owner/repo#12``, issue URLs; Jira keys and URLs.

A reference is kept in one canonical form: ``owner/repo#12`` (lower case, since GitHub
names are case-insensitive), ``#12`` (a bare number, resolved against the tracker's
default repository), or ``PROJ-12``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Any host: github.com and GitHub Enterprise Server alike put issues at /OWNER/REPO/issues/N.
# Numbers are ASCII digits, at most 12 of them: "\d" would also take "٤", and int() refuses
# more than 4,300 digits.
_GITHUB_URL = re.compile(
    r"https?://[A-Za-z0-9.\-]+(?::[0-9]+)?/([A-Za-z0-9][A-Za-z0-9\-]*)/([A-Za-z0-9._\-]+)"
    r"/issues/([0-9]{1,12})\b"
)
_GITHUB_FULL = re.compile(
    r"(?<![\w/.\-])([A-Za-z0-9][A-Za-z0-9\-]*)/([A-Za-z0-9._\-]+)#([0-9]{1,12})\b")
_GITHUB_BARE = re.compile(r"(?<![\w/&])#([0-9]{1,12})\b")
# A Jira URL is found from its start and its markers, not by one pattern: "https?://\S*/browse/"
# backtracks over the rest of the text at every URL, quadratic in a long hostile comment.
_URL_START = re.compile(r"https?://[^\s/]")
_SPACE = re.compile(r"\s")
_JIRA_MARK = re.compile(
    r"(?:/browse/|/issues/|[?&]selectedIssue=)([A-Z][A-Z0-9_]+-[0-9]{1,12})\b")
_JIRA_KEY = re.compile(r"(?<![\w\-/])([A-Z][A-Z0-9_]+-[1-9][0-9]{0,11})\b")


def _github(owner: str, repo: str, number: str) -> str:
    return f"{owner.lower()}/{repo.lower()}#{int(number)}"


def _jira_urls(text: str) -> tuple[set[str], list[tuple[int, int]]]:
    """Return the issue keys in Jira URLs and the spans, from each URL's start to its last key."""
    keys: set[str] = set()
    spans: list[tuple[int, int]] = []
    done = 0
    for start in _URL_START.finditer(text):
        if start.start() < done:
            continue  # a second scheme inside a URL already read
        space = _SPACE.search(text, start.end())
        done = space.start() if space else len(text)
        last = 0
        for mark in _JIRA_MARK.finditer(text, start.end(), done):
            keys.add(mark.group(1))
            last = mark.end()
        if last:
            spans.append((start.start(), last))
    return keys, spans


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """Return text with each span replaced by a space."""
    if not spans:
        return text
    parts, at = [], 0
    for begin, end in spans:
        parts += [text[at:begin], " "]
        at = end
    parts.append(text[at:])
    return "".join(parts)


def find_refs(text: str) -> set[str]:
    """Return the references that free text names unambiguously (no bare ``#12``)."""
    if not text:
        return set()
    found: set[str] = set()
    for m in _GITHUB_URL.finditer(text):
        found.add(_github(*m.groups()))
    stripped = _GITHUB_URL.sub(" ", text)
    keys, spans = _jira_urls(stripped)
    found |= keys
    stripped = _blank(stripped, spans)
    for m in _GITHUB_FULL.finditer(stripped):
        found.add(_github(*m.groups()))
    for m in _JIRA_KEY.finditer(stripped):
        found.add(m.group(1))
    return found


def parse_ref_field(value: str) -> set[str]:
    """Return the references in a field meant to hold them, where a bare ``#12`` counts too."""
    found = find_refs(value)
    stripped = _GITHUB_FULL.sub(" ", _GITHUB_URL.sub(" ", value))
    for m in _GITHUB_BARE.finditer(stripped):
        found.add(f"#{int(m.group(1))}")
    return found


def collect_refs(fields: Iterable[str], texts: Iterable[str]) -> tuple[str, ...]:
    """Return the sorted references from reference fields and free-text fields."""
    found: set[str] = set()
    for value in fields:
        found |= parse_ref_field(value)
    for text in texts:
        found |= find_refs(text)
    return tuple(sorted(found))


def github_issue_key(repo: str, number: int) -> str:
    """Return the canonical reference of a GitHub issue."""
    return f"{repo.lower()}#{number}"
