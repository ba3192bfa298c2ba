"""JQL built from values, never pasted: quoted strings, validated keys, one query per purpose.

NOTE: JQL string literals are double-quoted with backslash escapes; reserved words and
characters (``,``, ``)``, ``"``, ``=``) are harmless inside quotes.
https://support.atlassian.com/jira-software-cloud/docs/use-advanced-search-with-jira-query-language-jql/
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]+-[1-9][0-9]*$")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


def quote(value: str) -> str:
    """Return value as a JQL string literal."""
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


def in_list(field: str, values: Iterable[str]) -> str:
    """Return ``field in ("a", "b")`` with every value quoted."""
    return f"{field} in ({', '.join(quote(v) for v in values)})"


def is_issue_key(text: str) -> bool:
    """Tell whether text is a canonical Jira key such as SHOP-12."""
    return ISSUE_KEY.fullmatch(text) is not None


def project_of(key: str) -> str:
    """Return the project part of an issue key."""
    return key.rpartition("-")[0]


def check_narrowing(jql: str) -> None:
    """Raise ValueError unless ``AND (jql)`` can only narrow a query.

    The operator's JQL is pasted, so it must be one closed expression: parentheses that
    balance outside string literals, every string closed, and no ORDER BY. Otherwise
    ``x) OR (project is not EMPTY`` would reopen the search to every project.
    """
    depth, quote_char, escaped = 0, "", False
    outside: list[str] = []
    for c in jql:
        if quote_char:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == quote_char:
                quote_char = ""
            outside.append(" ")
            continue
        if c in "\"'":
            quote_char = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise ValueError("jql closes a parenthesis it never opened; give a filter "
                                 "such as 'issuetype = Bug'")
        outside.append(" " if c in "\"'" else c)
    if quote_char:
        raise ValueError("jql has a string that is never closed")
    if depth:
        raise ValueError("jql leaves a parenthesis open")
    if _ORDER_BY.search("".join(outside)):
        raise ValueError("jql may not hold ORDER BY: impactlink orders the search itself")


def feature_query(projects: Iterable[str], components: Iterable[str], labels: Iterable[str],
                  extra: str | None = None) -> str | None:
    """Return the JQL of unresolved issues carrying a feature component or label, or None.

    The operator's ``extra`` JQL is ANDed in parentheses after the project clause, so it
    narrows the search and never widens it past ``projects``.
    """
    components, labels = sorted(set(components)), sorted(set(labels))
    carries = [in_list("component", components)] if components else []
    carries += [in_list("labels", labels)] if labels else []
    if not carries:
        return None
    parts = [in_list("project", sorted(projects)), "statusCategory != Done",
             "(" + " OR ".join(carries) + ")"]
    if extra and extra.strip():
        check_narrowing(extra)
        parts.append(f"({extra.strip()})")
    return " AND ".join(parts) + " ORDER BY key ASC"


def keys_query(projects: Iterable[str], keys: Iterable[str]) -> str:
    """Return the JQL of the issues among keys, resolved or not (each checked to be a key).

    Resolved ones come back too, so that they can be remembered as resolved.
    """
    checked = sorted(set(keys))
    for key in checked:
        if not is_issue_key(key):
            raise ValueError(f"{key!r} is not a Jira issue key")
    return (f"{in_list('project', sorted(projects))} AND {in_list('key', checked)} "
            f"ORDER BY key ASC")
