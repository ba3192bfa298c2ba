"""A stateful fake Jira (Cloud or Data Center) on loopback that checks every request.

Each request is validated with openapi-core against tests/contracts/jira/jira-cloud-subset.json
(Atlassian's OpenAPI description; Data Center's v2 paths are checked against the same
operations of v3, whose shapes they share), and every JQL query is parsed by
fakes.jira_jql. A request Jira would reject by contract is answered 400 and recorded in
``violations``, which the fixtures assert empty; a JQL error is a 400 as Jira gives it,
and also a violation unless the test expects it (``expect_jql_errors``).

Flavors: "cloud" serves /rest/api/3 (and /rest/api/2), search at /search/jql with
nextPageToken, /search answers 410, basic auth with email + API token, comments in ADF.
"datacenter" serves /rest/api/2 only, /search with startAt, Bearer personal access tokens,
comments in wiki text.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from fakes.faults import Faults, Gate
from fakes.jira_jql import Clause, JqlError, Node, Query, clauses, parse
from fakes.loopback import serve_json, stop_server

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts" / "jira"
CATEGORIES = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
_CLOUD_ONLY = {"search/jql", "issue/bulkfetch", "jql/parse"}
NOTIFY_REFUSED = ("To discard the user notification either admin or project admin "
                  "permissions are required.")


@cache
def spec() -> OpenAPI:
    return OpenAPI.from_dict(json.loads((CONTRACTS / "jira-cloud-subset.json").read_text()))


@dataclass
class _OpenAPIRequest:
    path: str
    method: str
    parameters: RequestParameters
    body: bytes | None
    content_type: str
    host_url: str = "https://your-domain.atlassian.net"


@dataclass
class Recorded:
    method: str
    path: str
    query: list[tuple[str, str]]
    body: Any
    headers: dict[str, str]
    status: int = 0
    at: float = 0.0

    @property
    def is_write(self) -> bool:
        return self.method in {"PUT", "DELETE"} or (
            self.method == "POST" and not self.path.endswith(("/bulkfetch", "/jql/parse")))

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


@dataclass
class Rule:
    method: str
    path: str
    status: int
    body: Any
    headers: dict[str, str]
    times: int = 1
    after: bool = False
    """Process the request first, then answer the error (a write that landed anyway)."""


@dataclass
class FakeIssue:
    id: str
    key: str
    project: str
    type: str = "Bug"
    summary: str = ""
    category: str = "new"
    labels: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    description: Any = None
    """As the flavor's REST version gives it: ADF (Cloud, v3) or wiki text (Data Center, v2)."""


class FakeJira:
    """Jira's state (projects, fields, screens, issues, comments) and its answers."""

    def __init__(self, flavor: str = "cloud", *, email: str = "bot@acme.test",
                 token: str = "api-token", admin: bool = True) -> None:
        assert flavor in {"cloud", "datacenter"}
        self.flavor = flavor
        self.email, self.token, self.admin = email, token, admin
        self.projects: dict[str, set[str]] = {}
        self.fields: list[dict[str, Any]] = [
            {"id": "summary", "name": "Summary", "custom": False,
             "schema": {"type": "string", "system": "summary"}},
            {"id": "labels", "name": "Labels", "custom": False,
             "schema": {"type": "array", "items": "string", "system": "labels"}},
        ]
        self.hidden: dict[tuple[str, str], set[str]] = {}
        self.issues: dict[str, FakeIssue] = {}
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.jql_errors: list[str] = []
        self.expect_jql_errors = False
        self.rules: list[Rule] = []
        self.faults: Faults | None = None
        """Seeded transient errors on a share of the requests (fakes.faults)."""
        self.gate: Gate | None = None
        """One request to hold in flight (fakes.faults)."""
        self._ids = itertools.count(10000)
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # -- state ------------------------------------------------------------------------------

    def add_project(self, key: str, components: tuple[str, ...] = ()) -> None:
        self.projects[key] = set(components)

    def add_field(self, name: str, kind: str = "number") -> str:
        fid = f"customfield_{next(self._ids)}"
        custom = {"number": "com.atlassian.jira.plugin.system.customfieldtypes:float",
                  "string": "com.atlassian.jira.plugin.system.customfieldtypes:textfield"}
        self.fields.append({"id": fid, "key": fid, "name": name, "custom": True,
                            "clauseNames": [f"cf[{fid.split('_')[1]}]", name],
                            "schema": {"type": kind, "custom": custom.get(kind, kind),
                                       "customId": int(fid.split("_")[1])}})
        return fid

    def field_id(self, name: str, kind: str = "number") -> str:
        return next(str(f["id"]) for f in self.fields
                    if f["name"] == name and f["schema"]["type"] == kind)

    def add_issue(self, key: str, *, type: str = "Bug", labels: tuple[str, ...] = (),
                  components: tuple[str, ...] = (), category: str = "new",
                  summary: str = "", description: Any = None) -> FakeIssue:
        project = key.rsplit("-", 1)[0]
        self.projects.setdefault(project, set()).update(components)
        issue = FakeIssue(str(next(self._ids)), key, project, type, summary or f"Issue {key}",
                          category, list(labels), list(components), description=description)
        self.issues[key] = issue
        return issue

    def hide_from_screen(self, project: str, issue_type: str, field_id: str) -> None:
        self.hidden.setdefault((project, issue_type), set()).add(field_id)

    def value(self, key: str, name: str) -> Any:
        return self.issues[key].values.get(self.field_id(name))

    def inject(self, method: str, path: str, status: int, body: Any = None, *,
               headers: dict[str, str] | None = None, times: int = 1, after: bool = False) -> None:
        self.rules.append(Rule(method, path, status, body, headers or {}, times, after))

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.is_write]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- server -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/jira"

    def start(self) -> FakeJira:
        self._server = serve_json(self.handle, "application/json;charset=UTF-8")
        return self

    def stop(self) -> None:
        stop_server(self._server)

    # -- dispatch ---------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str],
               raw: bytes) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            gate = self.gate if self.gate is not None and \
                self.gate.matches(method, urlsplit(target).path) else None
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
            query = parse_qsl(parts.query, keep_blank_values=True)
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                return self._violation(f"{method} {parts.path}: body is not JSON")
            record = Recorded(method, parts.path, query, body,
                              {k.lower(): v for k, v in headers.items()}, at=time.monotonic())
            self.requests.append(record)
            status, out_headers, out = self._answer(method, parts.path, record, raw)
            record.status = status
            return status, out_headers, out

    def _answer(self, method: str, full: str, record: Recorded,
                raw: bytes) -> tuple[int, dict[str, str], Any]:
        m = re.fullmatch(r"/jira/rest/api/(2|3)/(.+)", full)
        if m is None:
            return 404, {}, {"errorMessages": [f"no resource at {full}"]}
        version, path = m.groups()
        if self.flavor == "datacenter" and version == "3":
            return 404, {}, None  # Data Center has REST v2 only
        rule = self._rule(method, path, record.is_write)
        if rule is not None and not rule.after:
            return rule.status, rule.headers, rule.body
        if not self._authorized(record.headers.get("authorization", "")):
            return 401, {}, {"errorMessages": ["Client must be authenticated to access this "
                                               "resource."]}
        if self.flavor == "cloud" and path == "search":
            return 410, {}, {"errorMessages": ["The requested API has been removed. Please "
                                               "migrate to the /rest/api/3/search/jql API."]}
        if self.flavor == "datacenter" and path in _CLOUD_ONLY:
            return 404, {}, None
        problem = self._validate(method, f"/rest/api/3/{path}", record, raw)
        if problem:
            return self._violation(f"{method} {full}: {problem}")
        status, out = self._route(method, path, record, version)
        if rule is not None:
            return rule.status, rule.headers, rule.body
        return status, {}, out

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

    def _violation(self, text: str) -> tuple[int, dict[str, str], Any]:
        self.violations.append(text)
        return 400, {}, {"errorMessages": [f"contract violation: {text}"]}

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if self.flavor == "cloud":
            if scheme.lower() != "basic":
                return False
            return base64.b64decode(value).decode() == f"{self.email}:{self.token}"
        return scheme.lower() == "bearer" and value == self.token

    def _validate(self, method: str, path: str, record: Recorded, raw: bytes) -> str | None:
        request = _OpenAPIRequest(
            path=path, method=method.lower(),
            parameters=RequestParameters(query=ImmutableMultiDict(record.query),
                                         header=Headers(record.headers)),
            body=raw or None, content_type=record.headers.get("content-type",
                                                              "application/json"))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Bearer is not among Cloud's schemes
                spec().validate_request(request)
        except Exception as exc:
            cause = exc.__cause__ or exc
            text = f"{type(exc).__name__}: {cause}"
            if "SecurityNotFound" in text or "Security" in type(exc).__name__:
                return None  # the fake checks credentials itself (Bearer PATs are DC-only)
            return text[:500]
        return None

    # -- routes -----------------------------------------------------------------------------

    def _route(self, method: str, path: str, r: Recorded, version: str) -> tuple[int, Any]:
        routes: list[tuple[str, str, Callable[..., tuple[int, Any]]]] = [
            ("GET", r"serverInfo", self._server_info),
            ("GET", r"myself", self._myself),
            ("GET", r"field", lambda r: (200, self.fields)),
            ("GET", r"search/jql", self._search_jql),
            ("GET", r"search", self._search),
            ("POST", r"issue/bulkfetch", self._bulkfetch),
            ("POST", r"jql/parse", self._parse),
            ("GET", r"issue/([^/]+)", self._get_issue),
            ("PUT", r"issue/([^/]+)", self._put_issue),
            ("GET", r"issue/([^/]+)/editmeta", self._editmeta),
            ("GET", r"issue/([^/]+)/comment", self._comments),
            ("POST", r"issue/([^/]+)/comment", self._add_comment),
            ("PUT", r"issue/([^/]+)/comment/(\d+)", self._edit_comment),
        ]
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                return handler(r, *[unquote(g) for g in match.groups()])
        return 404, {"errorMessages": [f"no {method} {path}"]}

    def _server_info(self, r: Recorded) -> tuple[int, Any]:
        cloud = self.flavor == "cloud"
        return 200, {"baseUrl": self.url, "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.2",
                     "versionNumbers": [1001, 0, 0] if cloud else [9, 12, 2],
                     "deploymentType": "Cloud" if cloud else "Server", "buildNumber": 100000,
                     "serverTitle": "Jira"}

    def _myself(self, r: Recorded) -> tuple[int, Any]:
        return 200, {**self.author(), "emailAddress": self.email, "active": True}

    def author(self, who: str = "impactlink") -> dict[str, str]:
        """Return a comment author as this flavor gives it (Cloud: accountId; DC: key, name)."""
        if self.flavor == "cloud":
            account = "5b10a2844c20165700ede21g" if who == "impactlink" else f"acct-{who}"
            return {"accountId": account, "displayName": f"{who} bot"}
        return {"key": who, "name": who, "displayName": f"{who} bot"}

    def add_comment(self, key: str, body: Any, *, who: str = "mallory") -> dict[str, Any]:
        """Post a comment as someone (an outsider by default)."""
        comment = {"id": str(next(self._ids)), "body": body, "author": self.author(who)}
        self.issues[key].comments.append(comment)
        return comment

    # -- JQL --------------------------------------------------------------------------------

    def _jql(self, text: str, *, warn: bool = False) -> Query:
        """Parse and check a query; raise JqlError as Jira would."""
        try:
            query = parse(text)
            errors = []
            for clause in clauses(query.where):
                try:
                    self._check_clause(clause, warn=warn)
                except JqlError as exc:
                    errors.append(str(exc))
            if errors:
                raise JqlError(" ".join(errors))
        except JqlError as exc:
            self.jql_errors.append(f"{text!r}: {exc}")
            if not self.expect_jql_errors:
                self.violations.append(f"JQL rejected: {text!r}: {exc}")
            raise
        return query

    def _check_clause(self, clause: Clause, *, warn: bool) -> None:
        name = clause.field.lower()
        if name == "project":
            for v in clause.values:
                if v not in self.projects:
                    raise JqlError(f"The value '{v}' does not exist for the field 'project'.")
        elif name == "component":
            known = {c.casefold() for cs in self.projects.values() for c in cs}
            for v in clause.values:
                if v.casefold() not in known:
                    raise JqlError(f"The value '{v}' does not exist for the field "
                                   f"'component'.")
        elif name in {"key", "issuekey"}:
            for v in clause.values:
                if v not in self.issues and not warn:
                    raise JqlError(f"An issue with key '{v}' does not exist for field 'key'.")
        elif name == "statuscategory":
            for v in clause.values:
                if v.casefold() not in {c.casefold() for c in (*CATEGORIES, *CATEGORIES.values())}:
                    raise JqlError(f"The value '{v}' does not exist for the field "
                                   f"'statusCategory'.")
        elif name not in {"labels", "issuetype", "type", "summary"} and \
                self._custom(clause.field) is None:
            raise JqlError(f"Field '{clause.field}' does not exist or you do not have "
                           f"permission to view it.")

    def _custom(self, name: str) -> str | None:
        for f in self.fields:
            if f.get("custom") and (f["name"] == name or name in f.get("clauseNames", [])):
                return str(f["id"])
        return None

    def _values(self, issue: FakeIssue, name: str) -> list[str]:
        n = name.lower()
        table = {"project": [issue.project], "key": [issue.key], "issuekey": [issue.key],
                 "statuscategory": [issue.category, CATEGORIES[issue.category]],
                 "component": issue.components, "labels": issue.labels,
                 "issuetype": [issue.type], "type": [issue.type], "summary": [issue.summary]}
        if n in table:
            return [str(v) for v in table[n]]
        fid = self._custom(name)
        value = issue.values.get(fid) if fid else None
        return [] if value is None else [str(value)]

    def _match(self, node: Node | Clause | None, issue: FakeIssue) -> bool:
        if node is None:
            return True
        if isinstance(node, Node):
            results = [self._match(c, issue) for c in node.children]
            return all(results) if node.op == "and" else any(results) if node.op == "or" \
                else not results[0]
        have = {v.casefold() for v in self._values(issue, node.field)}
        wanted = {v.casefold() for v in node.values}
        if node.op in {"=", "in"}:
            return bool(have & wanted)
        if node.op in {"!=", "not in"}:
            return not have & wanted
        try:
            x, y = float(next(iter(have))), float(node.values[0])
        except (StopIteration, ValueError):
            return False
        return {">": x > y, ">=": x >= y, "<": x < y, "<=": x <= y}[node.op]

    def _select(self, query: Query) -> list[FakeIssue]:
        found = [i for i in self.issues.values() if self._match(query.where, i)]
        for name, desc in reversed(query.order):
            def order(issue: FakeIssue, n: str = name) -> tuple[str, ...]:
                if n.lower() == "key":
                    project, number = _sort_key(issue.key)
                    return project, f"{number:012d}"
                return tuple(self._values(issue, n))

            found.sort(key=order, reverse=desc)
        return found

    # -- search -----------------------------------------------------------------------------

    def _fields_param(self, r: Recorded) -> list[str]:
        wanted = [f for k, v in r.query if k == "fields" for f in v.split(",") if f]
        return wanted or ["*navigable"]

    def _search_jql(self, r: Recorded) -> tuple[int, Any]:
        try:
            query = self._jql(r.param("jql") or "")
        except JqlError as exc:
            return 400, {"errorMessages": [str(exc)], "warningMessages": []}
        found = self._select(query)
        token = r.param("nextPageToken")
        start = int(base64.b64decode(token).decode().removeprefix("offset:")) if token else 0
        size = min(int(r.param("maxResults") or 50), 100)
        page = found[start:start + size]
        out: dict[str, Any] = {"issues": [self._json(i, self._fields_param(r)) for i in page],
                               "isLast": start + size >= len(found)}
        if not out["isLast"]:
            out["nextPageToken"] = base64.b64encode(f"offset:{start + size}".encode()).decode()
        return 200, out

    def _search(self, r: Recorded) -> tuple[int, Any]:
        warn = (r.param("validateQuery") or "strict") in {"warn", "none", "false"}
        try:
            query = self._jql(r.param("jql") or "", warn=warn)
        except JqlError as exc:
            return 400, {"errorMessages": [str(exc)], "warningMessages": []}
        found = self._select(query)
        start, size = int(r.param("startAt") or 0), min(int(r.param("maxResults") or 50), 100)
        return 200, {"startAt": start, "maxResults": size, "total": len(found),
                     "issues": [self._json(i, self._fields_param(r))
                                for i in found[start:start + size]]}

    def _bulkfetch(self, r: Recorded) -> tuple[int, Any]:
        wanted = r.body.get("fields") or ["*navigable"]
        issues = [self._json(self.issues[k], wanted) for k in r.body["issueIdsOrKeys"]
                  if k in self.issues]
        return 200, {"issues": issues, "issueErrors": []}

    def _parse(self, r: Recorded) -> tuple[int, Any]:
        out = []
        for text in r.body["queries"]:
            try:
                self._jql(text)
                out.append({"query": text, "structure": {}})
            except JqlError as exc:
                out.append({"query": text, "errors": [str(exc)]})
        return 200, {"queries": out}

    def _json(self, issue: FakeIssue, wanted: list[str]) -> dict[str, Any]:
        every: dict[str, Any] = {"summary": issue.summary, "description": issue.description,
                 "labels": list(issue.labels),
                 "components": [{"name": c} for c in issue.components],
                 "issuetype": {"name": issue.type}, "project": {"key": issue.project},
                 "status": {"name": CATEGORIES[issue.category],
                            "statusCategory": {"key": issue.category,
                                               "name": CATEGORIES[issue.category]}}}
        for f in self.fields:
            if f.get("custom"):
                every[f["id"]] = issue.values.get(f["id"])
        if not {"*all", "*navigable"} & set(wanted):
            every = {k: v for k, v in every.items() if k in wanted}
        return {"id": issue.id, "key": issue.key,
                "self": f"{self.url}/rest/api/2/issue/{issue.id}", "fields": every}

    # -- issues -----------------------------------------------------------------------------

    def _issue(self, key: str) -> FakeIssue | None:
        return self.issues.get(key) or next((i for i in self.issues.values() if i.id == key),
                                            None)

    def _get_issue(self, r: Recorded, key: str) -> tuple[int, Any]:
        issue = self._issue(key)
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission "
                                           "to see it."], "errors": {}}
        return 200, self._json(issue, self._fields_param(r))

    def _screen(self, issue: FakeIssue) -> list[str]:
        hidden = self.hidden.get((issue.project, issue.type), set())
        return [f["id"] for f in self.fields if f["id"] not in hidden]

    def _editmeta(self, r: Recorded, key: str) -> tuple[int, Any]:
        issue = self._issue(key)
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist"], "errors": {}}
        by_id = {f["id"]: f for f in self.fields}
        return 200, {"fields": {fid: {"key": fid, "name": by_id[fid]["name"], "required": False,
                                      "schema": by_id[fid]["schema"], "operations": ["set"]}
                                for fid in self._screen(issue)}}

    def _put_issue(self, r: Recorded, key: str) -> tuple[int, Any]:
        issue = self._issue(key)
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist"], "errors": {}}
        if r.param("notifyUsers") == "false" and not self.admin:
            return 400, {"errorMessages": [NOTIFY_REFUSED], "errors": {}}
        screen = set(self._screen(issue))
        by_id = {f["id"]: f for f in self.fields}
        changes = dict((r.body or {}).get("fields") or {})
        updates = dict((r.body or {}).get("update") or {})
        errors = {fid: f"Field '{fid}' cannot be set. It is not on the appropriate screen, or "
                       f"unknown." for fid in [*changes, *updates] if fid not in screen}
        for fid, value in changes.items():
            kind = by_id.get(fid, {}).get("schema", {}).get("type")
            if kind == "number" and value is not None and not isinstance(value, int | float):
                errors[fid] = "Operation value must be a number"
        if errors:
            return 400, {"errorMessages": [], "errors": errors}
        for fid, value in changes.items():
            if fid == "labels":
                issue.labels = list(value)
            else:
                issue.values[fid] = value
        for op in updates.get("labels", []):
            if "add" in op and op["add"] not in issue.labels:
                issue.labels.append(op["add"])
            if "remove" in op and op["remove"] in issue.labels:
                issue.labels.remove(op["remove"])
        return 204, None

    def _comments(self, r: Recorded, key: str) -> tuple[int, Any]:
        issue = self._issue(key)
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist"], "errors": {}}
        start, size = int(r.param("startAt") or 0), int(r.param("maxResults") or 100)
        return 200, {"startAt": start, "maxResults": size, "total": len(issue.comments),
                     "comments": issue.comments[start:start + size]}

    def _body_ok(self, body: Any) -> bool:
        if self.flavor == "cloud":
            return isinstance(body, dict) and body.get("type") == "doc"
        return isinstance(body, str)

    def _add_comment(self, r: Recorded, key: str) -> tuple[int, Any]:
        issue = self._issue(key)
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist"], "errors": {}}
        if not self._body_ok((r.body or {}).get("body")):
            return 400, {"errorMessages": [], "errors": {"comment": "Comment body is not valid!"}}
        return 201, self.add_comment(issue.key, r.body["body"], who="impactlink")

    def _edit_comment(self, r: Recorded, key: str, cid: str) -> tuple[int, Any]:
        issue = self._issue(key)
        comment = next((c for c in issue.comments if c["id"] == cid), None) if issue else None
        if comment is None:
            return 404, {"errorMessages": ["Comment does not exist"], "errors": {}}
        if not self._body_ok((r.body or {}).get("body")):
            return 400, {"errorMessages": [], "errors": {"comment": "Comment body is not valid!"}}
        comment["body"] = r.body["body"]
        return 200, comment


def _sort_key(key: str) -> tuple[str, int]:
    project, _, number = key.rpartition("-")
    return project, int(number)
