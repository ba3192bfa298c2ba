"""Derive github-rest-subset.json from @octokit/openapi's api.github.com.json.

Run from this folder: python extract_subset.py PATH/TO/api.github.com.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

PATHS = {
    "/rate_limit": ["get"],
    "/repos/{owner}/{repo}": ["get"],
    "/repos/{owner}/{repo}/issues": ["get"],
    "/repos/{owner}/{repo}/issues/{issue_number}": ["get"],
    "/repos/{owner}/{repo}/issues/{issue_number}/labels": ["post"],
    "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}": ["delete"],
    "/repos/{owner}/{repo}/labels": ["get", "post"],
    "/repos/{owner}/{repo}/issues/{issue_number}/comments": ["get", "post"],
    "/repos/{owner}/{repo}/issues/comments/{comment_id}": ["patch"],
    "/app/installations/{installation_id}/access_tokens": ["post"],
    "/user": ["get"],
}


def refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def main(source: str) -> None:
    with open(source, encoding="utf-8") as f:
        spec = json.load(f)
    paths = {p: {m: spec["paths"][p][m] for m in ms} for p, ms in PATHS.items()}
    for p in paths:
        if "parameters" in spec["paths"][p]:
            paths[p]["parameters"] = spec["paths"][p]["parameters"]
    components: dict[str, dict[str, Any]] = {}
    pending: set[str] = set()
    refs(paths, pending)
    done: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in done:
            continue
        done.add(ref)
        _, _, kind, name = ref.split("/", 3)
        node = spec["components"][kind][name]
        components.setdefault(kind, {})[name] = node
        refs(node, pending)
    subset = {
        "openapi": spec["openapi"],
        "info": {**spec["info"], "x-subset-of": "@octokit/openapi 23.0.2 api.github.com.json"},
        "servers": spec["servers"],
        "paths": paths,
        "components": {k: dict(sorted(v.items())) for k, v in sorted(components.items())},
    }
    with open("github-rest-subset.json", "w", encoding="utf-8") as f:
        json.dump(subset, f, indent=1, sort_keys=False)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
