"""Referenced GitHub issues, read up to 50 in one GraphQL query (aliases of repository.issue).

NOTE: in a GraphQL answer a field that fails alone (an issue number that is missing, or a
pull request) is null with an error whose ``path`` names its alias; the other fields
still come back. https://docs.github.com/en/graphql/guides/forming-calls-with-graphql
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from impactlink.errors import BudgetExhausted, TrackerAuthError, TrackerError
from impactlink.trackers.github_client import GithubClient
from impactlink.trackers.references import Reads

BATCH = 50
_FIELDS = ("id number title body state url comments { totalCount } "
           "labels(first: 100) { nodes { name } }")

Keep = Callable[[str, dict[str, Any]], None]
"""Take one open issue, shaped like the REST listing's items, into the cycle's issues."""


def read_referenced(client: GithubClient, reads: Reads, keep: Keep) -> None:
    """Read the chosen referenced issues, a batch per query; a failing batch is recorded."""
    batches: list[tuple[str, list[int]]] = []
    by_repo: dict[str, list[int]] = {}
    for key in reads.keys:
        repo, _, number = key.rpartition("#")
        by_repo.setdefault(repo, []).append(int(number))
    for repo, numbers in by_repo.items():
        batches += [(repo, numbers[i:i + BATCH]) for i in range(0, len(numbers), BATCH)]
    for n, (repo, numbers) in enumerate(batches):
        owner, name = repo.split("/")
        try:
            data, errors = client.graphql_partial(_query(numbers),
                                                  {"owner": owner, "name": name})
        except BudgetExhausted as exc:
            reads.fail([f"{r}#{i}" for r, rest in batches[n:] for i in rest], str(exc))
            return
        except TrackerAuthError:
            raise
        except TrackerError as exc:
            reads.fail([f"{repo}#{i}" for i in numbers], str(exc))
            continue
        _take(repo, numbers, data, errors, reads, keep)


def _query(numbers: list[int]) -> str:
    aliases = " ".join(f"i{n}: issue(number: {n}) {{ {_FIELDS} }}" for n in numbers)
    return ("query($owner: String!, $name: String!) { "
            f"repository(owner: $owner, name: $name) {{ {aliases} }} }}")


def _take(repo: str, numbers: list[int], data: Mapping[str, Any],
          errors: list[dict[str, Any]], reads: Reads, keep: Keep) -> None:
    per_issue: dict[str, dict[str, Any]] = {}
    for error in errors:
        path = error.get("path") or []
        if len(path) >= 2 and path[0] == "repository":
            per_issue[str(path[1])] = error
        else:  # the repository itself, or the whole query
            reads.fail([f"{repo}#{n}" for n in numbers], _message(error))
            return
    found = data.get("repository") or {}
    for n in numbers:
        key, node, problem = f"{repo}#{n}", found.get(f"i{n}"), per_issue.get(f"i{n}")
        if isinstance(node, dict):
            is_open = node.get("state") == "OPEN"
            reads.found(key, "open" if is_open else "closed")
            if is_open:
                keep(repo, _as_rest(node))
        elif problem is None or problem.get("type") == "NOT_FOUND":
            reads.found(key, "missing")
        else:
            reads.fail([key], _message(problem))


def _message(error: Mapping[str, Any]) -> str:
    return f"GitHub GraphQL: {str(error.get('message', error))[:200]}"


def _as_rest(node: Mapping[str, Any]) -> dict[str, Any]:
    """Return a GraphQL issue shaped as the REST listing gives it."""
    labels = (node.get("labels") or {}).get("nodes") or []
    return {"number": node.get("number"), "title": node.get("title"),
            "body": node.get("body"), "state": "open", "html_url": node.get("url"),
            "node_id": node.get("id"), "comments": (node.get("comments") or {}).get("totalCount"),
            "labels": [{"name": lb.get("name")} for lb in labels if isinstance(lb, dict)]}
