"""A stateful fake GitHub on loopback that checks every request against GitHub's descriptions.

REST requests are validated with openapi-core against tests/contracts/github/
github-rest-subset.json (GitHub's official OpenAPI description, via @octokit/openapi);
GraphQL documents are validated and executed with graphql-core against GitHub's public
schema. A request GitHub would reject is answered 422 and recorded in ``violations``,
which the fixture asserts empty, so such a request fails the test.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt
from graphql import GraphQLError, GraphQLSchema, build_schema, graphql_sync, parse, validate
from graphql.language import OperationDefinitionNode, OperationType
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from fakes.faults import Faults, Gate
from fakes.github_graphql import GhError, Mutations, Queries
from fakes.loopback import serve_json, stop_server

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts" / "github"


@cache
def rest_spec() -> OpenAPI:
    return OpenAPI.from_dict(json.loads((CONTRACTS / "github-rest-subset.json").read_text()))


@cache
def graphql_schema() -> GraphQLSchema:
    sdl = (CONTRACTS / "github-graphql-schema.2026-03-06.graphql").read_text()
    schema = build_schema(sdl, assume_valid_sdl=True)
    # NOTE: GitHub's schema deprecates some implementations of non-deprecated interface
    # fields, which graphql-core's schema check rejects; documents are still validated.
    schema._validation_errors = []
    return schema


@dataclass
class _OpenAPIRequest:
    """A request as openapi-core reads it (its Request protocol)."""

    path: str
    method: str
    parameters: RequestParameters
    body: bytes | None
    content_type: str
    host_url: str = "https://api.github.com"


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    status: int = 0
    at: float = 0.0

    @property
    def graphql(self) -> bool:
        return self.path == "/graphql"

    @property
    def is_write(self) -> bool:
        """A content-changing request: a REST write or a GraphQL mutation."""
        if self.path.startswith("/app/"):
            return False
        if self.graphql:
            return str((self.body or {}).get("query", "")).lstrip().startswith("mutation")
        return self.method != "GET"


@dataclass
class Rule:
    """An answer forced on the next matching requests (rate limits, 5xx)."""

    method: str
    path: str
    status: int
    body: Any
    headers: dict[str, str]
    times: int = 1
    after: bool = False
    """Process the request first, then answer the error (a write that landed anyway)."""


@dataclass
class Repo:
    owner: str
    name: str
    private: bool = True
    permissions: dict[str, bool] = field(default_factory=lambda: {
        "admin": False, "maintain": False, "push": True, "triage": True, "pull": True})
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Project:
    id: str
    owner: str
    owner_type: str
    number: int
    title: str = "Roadmap"
    can_update: bool = True
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Item id -> {"content": issue node id, "values": {field id: number}}."""

    def values_of(self, issue_node: str) -> dict[str, float] | None:
        """Return the issue's number fields by name, or None when it is not on the board."""
        for item in self.items.values():
            if item["content"] == issue_node:
                return {self.fields[f]["name"]: v for f, v in item["values"].items()}
        return None


class FakeGithub:
    """GitHub's state (repos, issues, labels, comments, projects, tokens) and its answers."""

    def __init__(self, *, prefix: str = "", token: str = "ghp_test",
                 login: str = "impactlink-bot", app_slug: str = "impactlink-app") -> None:
        self.prefix = prefix
        self.tokens: dict[str, float] = {token: float("inf")}
        self.users: dict[str, str] = {token: login}
        """Token -> the login it acts as (installation tokens act as ``<app-slug>[bot]``)."""
        self.app_slug = app_slug
        self.token_apps: dict[str, int] = {}
        """Installation token -> the id of the App it was issued to."""
        self.repos: dict[str, Repo] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.projects: list[Project] = []
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.rules: list[Rule] = []
        self.app_keys: dict[int, Any] = {}
        self.installations: dict[int, int] = {}
        self.token_lifetimes: list[float] = []
        self.issued_tokens: list[str] = []
        self.remaining = 5000
        self.faults: Faults | None = None
        """Seeded transient errors on a share of the requests (fakes.faults)."""
        self.gate: Gate | None = None
        """One request to hold in flight (fakes.faults)."""
        self._link: str | None = None
        self._ids = itertools.count(1000)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # -- state ------------------------------------------------------------------------------

    def new_id(self) -> int:
        return next(self._ids)

    def add_repo(self, full_name: str, **kw: Any) -> Repo:
        owner, name = full_name.split("/")
        repo = Repo(owner, name, **kw)
        self.repos[full_name.lower()] = repo
        return repo

    def add_label(self, full_name: str, name: str, color: str = "ededed") -> dict[str, Any]:
        label = {"id": next(self._ids), "node_id": f"LA_{next(self._ids)}", "name": name,
                 "color": color, "default": False, "description": None,
                 "url": f"https://api.github.com/repos/{full_name}/labels/{name}"}
        self.repos[full_name.lower()].labels[name.lower()] = label
        return label

    def add_issue(self, full_name: str, number: int, *, labels: tuple[str, ...] = (),
                  state: str = "open", pull: bool = False, title: str = "",
                  body: str | None = None) -> dict[str, Any]:
        repo = self.repos[full_name.lower()]
        for name in labels:
            if name.lower() not in repo.labels:
                self.add_label(full_name, name)
        issue = {"id": next(self._ids), "node_id": f"I_{full_name}#{number}", "number": number,
                 "title": title or f"Issue {number}", "body": body, "state": state,
                 "labels": [repo.labels[n.lower()] for n in labels], "comments": [],
                 "html_url": f"https://github.com/{full_name}/issues/{number}"}
        if pull:
            issue["pull_request"] = {"url": f"https://api.github.com/repos/{full_name}/pulls/{number}"}
        repo.issues[number] = issue
        return issue

    def add_project(self, owner: str, number: int, *, owner_type: str = "org",
                    fields: dict[str, str] | None = None) -> Project:
        project = Project(f"PVT_{owner}_{number}", owner, owner_type, number)
        for name, kind in (fields or {}).items():
            fid = f"PVTF_{next(self._ids)}"
            project.fields[fid] = {"id": fid, "name": name, "dataType": kind}
        self.projects.append(project)
        return project

    def add_app(self, app_id: int, public_key: Any, installation_id: int,
                lifetimes: list[float]) -> None:
        """Accept JWTs of an app; its installation tokens live for these seconds, in turn."""
        self.app_keys[app_id] = public_key
        self.installations[installation_id] = app_id
        self.token_lifetimes = list(lifetimes)

    def issue(self, full_name: str, number: int) -> dict[str, Any]:
        return self.repos[full_name.lower()].issues[number]

    def labels_of(self, full_name: str, number: int) -> list[str]:
        return sorted(lb["name"] for lb in self.issue(full_name, number)["labels"])

    def comments_of(self, full_name: str, number: int) -> list[dict[str, Any]]:
        return [self.comments[c] for c in self.issue(full_name, number)["comments"]]

    def add_comment(self, full_name: str, number: int, body: str, *,
                    login: str = "mallory", app_id: int | None = None) -> dict[str, Any]:
        """Post a comment as someone (an outsider by default), as GitHub would store it."""
        repo = self.repos[full_name.lower()]
        cid = next(self._ids)
        app = (None if app_id is None else
               {"id": app_id, "slug": self.app_slug, "name": self.app_slug})
        self.comments[cid] = {"id": cid, "node_id": f"IC_{cid}", "body": body,
                              "user": {"login": login,
                                       "type": "Bot" if login.endswith("[bot]") else "User"},
                              "performed_via_github_app": app,
                              "issue_url": f"/repos/{repo.full_name}/issues/{number}"}
        repo.issues[number]["comments"].append(cid)
        return self.comments[cid]

    def inject(self, method: str, path: str, status: int, body: Any = None, *,
               headers: dict[str, str] | None = None, times: int = 1, after: bool = False) -> None:
        """Force the next ``times`` requests matching method and path regex to get this answer."""
        self.rules.append(Rule(method, path, status, body, headers or {}, times, after))

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.is_write]

    def reads(self) -> list[Recorded]:
        return [r for r in self.requests if not r.is_write and not r.path.startswith("/app/")]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- server -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.prefix}"

    def start(self) -> FakeGithub:
        self._server = serve_json(self.handle, "application/json; charset=utf-8")
        return self

    def stop(self) -> None:
        stop_server(self._server)

    # -- dispatch ---------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str],
               raw: bytes) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            path = urlsplit(target).path
            if self.prefix and path.startswith(self.prefix):
                path = path[len(self.prefix):]
            gate = self.gate if self.gate is not None and self.gate.matches(method, path) \
                else None
        if gate is not None and not gate.after:
            gate.hold()
            raise ConnectionAbortedError("held until its client was killed: never processed")
        answer = self._handle(method, target, headers, raw)
        if gate is not None and gate.after:
            gate.hold()
        return answer

    def _handle(self, method: str, target: str, headers: dict[str, str],
                raw: bytes) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            parts = urlsplit(target)
            path = parts.path
            if self.prefix and path.startswith(self.prefix):
                path = path[len(self.prefix):]
            elif self.prefix and path == "/api/graphql":
                path = "/graphql"
            elif self.prefix:
                return self._violation(f"{method} {parts.path}: outside the Enterprise prefix")
            body = json.loads(raw) if raw else None
            record = Recorded(method, path, dict(parse_qsl(parts.query)), body,
                              {k.lower(): v for k, v in headers.items()}, at=time.monotonic())
            self.requests.append(record)
            status, out_headers, out = self._answer(method, path, parts.query, record, raw)
            record.status = status
            return status, out_headers, out

    def _answer(self, method: str, path: str, query: str, record: Recorded,
                raw: bytes) -> tuple[int, dict[str, str], Any]:
        rule = self._rule(method, path, record.is_write)
        if rule is not None and not rule.after:
            return rule.status, self._limit_headers(rule.headers), rule.body
        if path.startswith("/app/installations/"):
            return self._exchange(path, record)
        if not self._authorized(record.headers.get("authorization", "")):
            return 401, self._limit_headers(), {"message": "Bad credentials"}
        if path == "/graphql":
            status, out = self._graphql(record.body or {})
        else:
            problem = self._validate(method, path, query, record.headers, raw)
            if problem:
                return self._violation(f"{method} {path}: {problem}")
            self._link = None
            status, out = self._rest(method, path, record)
        headers = self._limit_headers()
        if self._link:
            headers["Link"] = self._link
            self._link = None
        if rule is not None:
            return rule.status, self._limit_headers(rule.headers), rule.body
        if method == "GET" and status == 200:
            etag = '"' + hashlib.sha1(json.dumps(out, sort_keys=True).encode()).hexdigest() + '"'
            headers["ETag"] = etag
            if record.headers.get("if-none-match") == etag:
                return 304, headers, None
        self.remaining -= 1
        return status, headers, out

    def _rule(self, method: str, path: str, write: bool) -> Rule | None:
        for rule in self.rules:
            if rule.times > 0 and rule.method == method and re.search(rule.path, path):
                rule.times -= 1
                return rule
        fault = self.faults.draw(write) if self.faults is not None else None
        if fault is not None:
            return Rule(method, path, fault.status, fault.body, dict(fault.headers), 0,
                        fault.after)
        return None

    def _limit_headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": str(self.remaining),
                   "x-ratelimit-reset": str(int(time.time()) + 3600),
                   "x-ratelimit-resource": "core"}
        headers.update(extra or {})
        return headers

    def _violation(self, text: str) -> tuple[int, dict[str, str], Any]:
        self.violations.append(text)
        return 422, {}, {"message": f"contract violation: {text}"}

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        return scheme.lower() in {"token", "bearer"} and self.tokens.get(token, 0) > time.time()

    def _validate(self, method: str, path: str, query: str, headers: dict[str, str],
                  raw: bytes) -> str | None:
        request = _OpenAPIRequest(
            path=path, method=method.lower(),
            parameters=RequestParameters(query=ImmutableMultiDict(parse_qsl(query)),
                                         header=Headers(headers)),
            body=raw or None, content_type=headers.get("content-type", "application/json"))
        try:
            rest_spec().validate_request(request)
        except Exception as exc:
            cause = exc.__cause__ or exc
            return f"{type(exc).__name__}: {cause}"[:500]
        return None

    # -- REST -------------------------------------------------------------------------------

    def _rest(self, method: str, path: str, record: Recorded) -> tuple[int, Any]:
        for pattern, handler in self._routes():
            match = re.fullmatch(pattern[1], path)
            if match and pattern[0] == method:
                return handler(record, *[unquote(g) for g in match.groups()])
        return 404, {"message": "Not Found"}

    def _routes(self) -> list[tuple[tuple[str, str], Callable[..., tuple[int, Any]]]]:
        repo = r"/repos/([^/]+/[^/]+)"
        return [
            (("GET", r"/rate_limit"), lambda r: (200, {"resources": {}, "rate": {}})),
            (("GET", r"/user"), self._get_user),
            (("GET", repo), self._get_repo),
            (("GET", repo + r"/issues"), self._list_issues),
            (("GET", repo + r"/issues/(\d+)"), self._get_issue),
            (("POST", repo + r"/issues/(\d+)/labels"), self._add_labels),
            (("DELETE", repo + r"/issues/(\d+)/labels/([^/]+)"), self._remove_label),
            (("GET", repo + r"/labels"), self._list_labels),
            (("POST", repo + r"/labels"), self._create_label),
            (("GET", repo + r"/issues/(\d+)/comments"), self._list_comments),
            (("POST", repo + r"/issues/(\d+)/comments"), self._create_comment),
            (("PATCH", repo + r"/issues/comments/(\d+)"), self._edit_comment),
        ]

    def _repo(self, name: str) -> Repo | None:
        return self.repos.get(name.lower())

    def _get_repo(self, r: Recorded, name: str) -> tuple[int, Any]:
        repo = self._repo(name)
        if repo is None:
            return 404, {"message": "Not Found"}
        return 200, {"id": 1, "full_name": repo.full_name, "private": repo.private,
                     "visibility": "private" if repo.private else "public",
                     "has_issues": True, "permissions": repo.permissions}

    def _page(self, r: Recorded, items: list[Any]) -> tuple[int, Any]:
        per_page = int(r.query.get("per_page", 30))
        page = int(r.query.get("page", 1))
        chunk = items[(page - 1) * per_page: page * per_page]
        if page * per_page < len(items):
            query = "&".join(f"{k}={v}" for k, v in sorted({**r.query, "page": page + 1}.items()))
            self._link = f'<{self.base_url}{r.path}?{query}>; rel="next"'
        return 200, chunk

    def _list_issues(self, r: Recorded, name: str) -> tuple[int, Any]:
        repo = self._repo(name)
        if repo is None:
            return 404, {"message": "Not Found"}
        wanted = {w.strip().lower() for w in r.query.get("labels", "").split(",") if w.strip()}
        state = r.query.get("state", "open")
        items = [i for _, i in sorted(repo.issues.items())
                 if (state == "all" or i["state"] == state)
                 and wanted <= {lb["name"].lower() for lb in i["labels"]}]
        return self._page(r, [_public(i) for i in items])

    def _get_issue(self, r: Recorded, name: str, number: str) -> tuple[int, Any]:
        repo = self._repo(name)
        if repo is None or int(number) not in repo.issues:
            return 404, {"message": "Not Found"}
        return 200, _public(repo.issues[int(number)])

    def _add_labels(self, r: Recorded, name: str, number: str) -> tuple[int, Any]:
        repo = self._repo(name)
        if repo is None or int(number) not in repo.issues:
            return 404, {"message": "Not Found"}
        issue = repo.issues[int(number)]
        for label in r.body["labels"]:
            if label.lower() not in repo.labels:
                self.add_label(repo.full_name, label)
            if label.lower() not in {lb["name"].lower() for lb in issue["labels"]}:
                issue["labels"].append(repo.labels[label.lower()])
        return 200, issue["labels"]

    def _remove_label(self, r: Recorded, name: str, number: str, label: str) -> tuple[int, Any]:
        repo = self._repo(name)
        if repo is None or int(number) not in repo.issues:
            return 404, {"message": "Not Found"}
        issue = repo.issues[int(number)]
        before = len(issue["labels"])
        issue["labels"] = [lb for lb in issue["labels"] if lb["name"].lower() != label.lower()]
        if len(issue["labels"]) == before:
            return 404, {"message": "Label does not exist"}
        return 200, issue["labels"]

    def _list_labels(self, r: Recorded, name: str) -> tuple[int, Any]:
        repo = self._repo(name)
        if repo is None:
            return 404, {"message": "Not Found"}
        return self._page(r, list(repo.labels.values()))

    def _create_label(self, r: Recorded, name: str) -> tuple[int, Any]:
        repo = self._repo(name)
        if repo is None:
            return 404, {"message": "Not Found"}
        if r.body["name"].lower() in repo.labels:
            return 422, {"message": "Validation Failed",
                         "errors": [{"resource": "Label", "code": "already_exists"}]}
        return 201, self.add_label(repo.full_name, r.body["name"], r.body.get("color", "ededed"))

    def _list_comments(self, r: Recorded, name: str, number: str) -> tuple[int, Any]:
        repo = self._repo(name)
        if repo is None or int(number) not in repo.issues:
            return 404, {"message": "Not Found"}
        return self._page(r, [self.comments[c] for c in repo.issues[int(number)]["comments"]])

    def _token(self, r: Recorded) -> str:
        return r.headers.get("authorization", "").partition(" ")[2]

    def _get_user(self, r: Recorded) -> tuple[int, Any]:
        token = self._token(r)
        if token in self.token_apps:  # NOTE: GitHub refuses /user to installation tokens
            return 403, {"message": "Resource not accessible by integration"}
        login = self.users.get(token, "impactlink-bot")
        return 200, {"login": login, "id": 1, "type": "User"}

    def _create_comment(self, r: Recorded, name: str, number: str) -> tuple[int, Any]:
        repo = self._repo(name)
        if repo is None or int(number) not in repo.issues:
            return 404, {"message": "Not Found"}
        token = self._token(r)
        app_id = self.token_apps.get(token)
        login = (f"{self.app_slug}[bot]" if app_id is not None
                 else self.users.get(token, "impactlink-bot"))
        return 201, self.add_comment(repo.full_name, int(number), r.body["body"], login=login,
                                     app_id=app_id)

    def _edit_comment(self, r: Recorded, name: str, cid: str) -> tuple[int, Any]:
        if int(cid) not in self.comments:
            return 404, {"message": "Not Found"}
        self.comments[int(cid)]["body"] = r.body["body"]
        return 200, self.comments[int(cid)]

    # -- App installation tokens --------------------------------------------------------------

    def _exchange(self, path: str, record: Recorded) -> tuple[int, dict[str, str], Any]:
        match = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        scheme, _, token = record.headers.get("authorization", "").partition(" ")
        if match is None or scheme.lower() != "bearer":
            return 401, {}, {"message": "A JSON web token could not be decoded"}
        installation = int(match.group(1))
        app_id = self.installations.get(installation)
        if app_id is None:
            return 404, {}, {"message": "Not Found"}
        try:
            claims = jwt.decode(token, self.app_keys[app_id], algorithms=["RS256"])
        except jwt.PyJWTError as exc:
            return 401, {}, {"message": f"A JSON web token could not be decoded: {exc}"}
        if str(claims.get("iss")) != str(app_id):
            return 401, {}, {"message": "'Issuer' claim ('iss') must be an Integer"}
        lifetime = self.token_lifetimes.pop(0) if len(self.token_lifetimes) > 1 else \
            self.token_lifetimes[0]
        issued = f"ghs_{next(self._ids)}"
        expires = time.time() + lifetime
        self.tokens[issued] = expires
        self.token_apps[issued] = app_id
        self.issued_tokens.append(issued)
        return 201, {}, {"token": issued, "expires_at": datetime.fromtimestamp(expires, UTC)
                         .strftime("%Y-%m-%dT%H:%M:%SZ"), "permissions": {"issues": "write"},
                         "repository_selection": "selected"}

    # -- GraphQL ------------------------------------------------------------------------------

    def _graphql(self, body: dict[str, Any]) -> tuple[int, Any]:
        source = str(body.get("query", ""))
        try:
            document = parse(source)
        except GraphQLError as exc:
            self.violations.append(f"GraphQL syntax: {exc.message}")
            return 200, {"errors": [{"message": exc.message}]}
        problems = validate(graphql_schema(), document)
        if problems:
            self.violations += [f"GraphQL: {p.message}" for p in problems]
            return 200, {"errors": [{"message": p.message} for p in problems]}
        op = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        root = Mutations(self) if op.operation == OperationType.MUTATION else Queries(self)
        result = graphql_sync(graphql_schema(), source, root_value=root,
                              variable_values=body.get("variables") or {})
        errors = []
        for error in result.errors or []:
            original = error.original_error
            if isinstance(original, GhError):
                errors.append({"type": original.kind, "message": str(original),
                               "path": error.path})
            else:
                self.violations.append(f"GraphQL execution: {error.message}")
                errors.append({"message": error.message})
        out: dict[str, Any] = {"data": result.data}
        if errors:
            out["errors"] = errors
        return 200, out

    def project(self, pid: str) -> Project:
        for project in self.projects:
            if project.id == pid:
                return project
        raise GhError("NOT_FOUND", f"Could not resolve to a node with the global id of '{pid}'")

    def issue_by_node(self, node: str) -> dict[str, Any] | None:
        for repo in self.repos.values():
            for issue in repo.issues.values():
                if issue["node_id"] == node:
                    return issue
        return None

    def project_view(self, project: Project) -> dict[str, Any]:
        def fields(info: Any, first: int = 100, after: str | None = None,
                   **_: Any) -> dict[str, Any]:
            nodes = [{"__typename": "ProjectV2Field", **f} for f in project.fields.values()]
            start = int(after) if after else 0
            chunk = nodes[start:start + first]
            more = start + first < len(nodes)
            return {"nodes": chunk, "totalCount": len(nodes),
                    "pageInfo": {"hasNextPage": more, "endCursor": str(start + first),
                                 "hasPreviousPage": start > 0, "startCursor": str(start)}}

        return {"id": project.id, "title": project.title, "number": project.number,
                "viewerCanUpdate": project.can_update, "fields": fields}


def _public(issue: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in issue.items() if k != "comments"}
    shown["comments"] = len(issue["comments"])
    return shown


def serve(prefix: str = "") -> Iterator[FakeGithub]:
    """Start a fake on 127.0.0.1 (port 0), yield it, stop it."""
    fake = FakeGithub(prefix=prefix).start()
    try:
        yield fake
    finally:
        fake.stop()
