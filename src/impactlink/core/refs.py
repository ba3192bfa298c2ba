"""Explicit issue references: GitHub ``#12``, ``owner/repo#12``, issue URLs; Jira keys and URLs.

A reference is kept in one canonical form: ``owner/repo#12`` (lower case, since GitHub
names are case-insensitive), ``#12`` (a bare number, resolved against the tracker's
default repository), or ``PROJ-12``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Any host: github.com and GitHub Enterprise Server alike put issues at /OWNER/REPO/issues/N.
_GITHUB_URL = re.compile(
    r"https?://[A-Za-z0-9.\-]+(?::\d+)?/([A-Za-z0-9][A-Za-z0-9\-]*)/([A-Za-z0-9._\-]+)/issues/(\d+)\b"
)
_GITHUB_FULL = re.compile(r"(?<![\w/.\-])([A-Za-z0-9][A-Za-z0-9\-]*)/([A-Za-z0-9._\-]+)#(\d+)\b")
_GITHUB_BARE = re.compile(r"(?<![\w/&])#(\d+)\b")
_JIRA_URL = re.compile(
    r"https?://[^\s/]+(?:/[^\s]*)?(?:/browse/|/issues/|[?&]selectedIssue=)([A-Z][A-Z0-9_]+-\d+)\b"
)
_JIRA_KEY = re.compile(r"(?<![\w\-/])([A-Z][A-Z0-9_]+-[1-9]\d*)\b")


def _github(owner: str, repo: str, number: str) -> str:
    return f"{owner.lower()}/{repo.lower()}#{int(number)}"


def find_refs(text: str) -> set[str]:
    """Return the references that free text names unambiguously (no bare ``#12``)."""
    if not text:
        return set()
    found: set[str] = set()
    for m in _GITHUB_URL.finditer(text):
        found.add(_github(*m.groups()))
    for m in _JIRA_URL.finditer(text):
        found.add(m.group(1))
    stripped = _JIRA_URL.sub(" ", _GITHUB_URL.sub(" ", text))
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
