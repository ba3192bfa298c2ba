"""Run one hostile kind against every source kind; say what each source did with it.

A kind is a JSON file in corpus/, of one of two shapes.

A hostile *value* (``"value"``: ``{"text": ...}`` with an optional ``"times"`` to repeat it,
``{"json": "<JSON text>"}`` or ``{"hex": "..."}`` for raw bytes) is put, in turn, in each
role a source kind has (``id``, ``time``, ``score``, ``text``, ``arr``) of one record
between two good ones. ``"expect"``
gives, per role, what must happen to that record: ``keep`` (stored as is), ``repair``
(stored, counted as repaired), ``reject`` (quarantined with a reason) or ``error`` (the source
reports an error for the step, nothing stored). ``"expect_csv"``, ``"expect_http"`` and
``"expect_<source kind>"`` override it for CSV files, HTTP vendors, or one source kind.
A CSV cell gets a JSON value's string, or its JSON text when it is no string.

A hostile *file* (``"csv"``, ``"jsonl"``, ``"body"``: a list of pieces, each text, ``{"hex":
...}`` or ``{"repeat": text, "times": n}``; or ``"path"``) is read by each file kind of its
format (or served by each vendor as its first page). Rows are ``id,t,v,note`` (keys of the
same names in JSONL); an id starting with ``ok`` must be kept, ``fix`` kept and repaired,
``bad`` quarantined. ``"expect": "error"`` wants the source's error and nothing stored,
``"nothing"`` no record, an error allowed.

Whatever happens, no exception but a SourceError may escape, and every quarantine entry has
a reason. A record kept where the kind expects it rejected is a *wrong accept*.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from impactlink.config import (
    DelightedSourceConfig,
    FileSourceConfig,
    FreshdeskSourceConfig,
    IntercomSourceConfig,
    ZendeskSourceConfig,
)
from impactlink.errors import SourceError
from impactlink.sources.base import Batch
from impactlink.sources.delighted import RESPONSES, DelightedSource
from impactlink.sources.files import FileSource
from impactlink.sources.freshdesk import RATINGS as FD_RATINGS
from impactlink.sources.freshdesk import SURVEYS, TICKETS, FreshdeskSource
from impactlink.sources.intercom import SEARCH, IntercomSource
from impactlink.sources.zendesk import EXPORT, RATINGS, ZendeskSource

CORPUS = Path(__file__).parent / "corpus"
MARK = "__HOSTILE__"
T0 = 1709287200  # 2024-03-01T10:00:00Z
ISO = "2024-03-01T10:00:00Z"
ENV = {"ZD_EMAIL": "bot@acme.test", "ZD_TOKEN": "zd-s3cr3t", "IC_TOKEN": "ic-s3cr3t",
       "FD_KEY": "fd-s3cr3t", "DL_KEY": "dl-s3cr3t"}
_DECLARED = re.compile(rb"(?<![a-z])(?:ok|fix|bad)[0-9]+")
OUTCOMES = ("keep", "repair", "reject", "error", "nothing", "rows")
ACCEPTED = ("keep", "repair")


@dataclass
class Try:
    """One hostile kind in one place of one source kind, and what happened."""

    kind: str
    source: str
    role: str
    expected: str
    got: str = ""
    crash: str | None = None
    """An exception other than SourceError escaped the source."""
    problem: str | None = None
    """Something else went wrong: a good record lost, a quarantine entry without reason."""
    detail: str = ""
    batches: list[Batch] = field(default_factory=list)

    @property
    def wrong_accept(self) -> bool:
        return self.got in ACCEPTED and self.expected not in ACCEPTED

    @property
    def ok(self) -> bool:
        if self.crash is not None or self.problem is not None:
            return False
        return self.got == self.expected or (self.expected == "nothing" and self.got == "error")


def load(kind: str) -> dict[str, Any]:
    """Return a corpus kind's spec."""
    spec: dict[str, Any] = json.loads((CORPUS / f"{kind}.json").read_text(encoding="utf-8"))
    return spec


def kinds() -> list[str]:
    """Return every kind in the corpus, by name."""
    return sorted(p.stem for p in CORPUS.glob("*.json"))


def pieces(spec: object, repeats: bool = True) -> bytes:
    """Return the bytes a list of pieces (text, {"hex"}, {"repeat", "times"}) stands for."""
    if isinstance(spec, str):
        return spec.encode("utf-8", "surrogatepass")
    if isinstance(spec, dict):
        if "hex" in spec:
            return bytes.fromhex(spec["hex"])
        return (spec["repeat"] * spec["times"]).encode() if repeats else b" "
    assert isinstance(spec, list)
    return b"".join(pieces(item, repeats) for item in spec)


def as_json(value: dict[str, str]) -> bytes:
    """Return a hostile value as the JSON bytes that replace a placeholder."""
    if "json" in value:
        return value["json"].encode("utf-8", "surrogatepass")
    if "hex" in value:
        return b'"' + bytes.fromhex(value["hex"]) + b'"'
    return json.dumps(value["text"] * value.get("times", 1)).encode()


def as_cell(value: dict[str, str]) -> bytes:
    """Return a hostile value as the bytes of one CSV cell (quoted when it needs it)."""
    if "hex" in value:
        return bytes.fromhex(value["hex"])
    if "json" in value:
        try:
            decoded = json.loads(value["json"])
        except (ValueError, RecursionError):
            decoded = None
        text = decoded if isinstance(decoded, str) else value["json"]
    else:
        text = value["text"] * value.get("times", 1)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([text])  # quotes a cell holding CR or LF
    return out.getvalue()[:-2].encode("utf-8", "surrogatepass")


def expectation(spec: dict[str, Any], source: str, role: str, http: bool) -> str:
    """Return what a source kind must do with the hostile value in a role."""
    expected = dict(spec.get("expect", {}))
    expected.update(spec.get("expect_http" if http else
                             "expect_csv" if source.startswith("csv") else "expect_jsonl", {}))
    expected.update(spec.get(f"expect_{source}", {}))
    found: str = expected[role]
    assert found in OUTCOMES, f"{spec['about']}: {found}"
    return found


@contextmanager
def secrets() -> Iterator[None]:
    """Set the vendors' credential variables for the duration."""
    saved = {name: os.environ.get(name) for name in ENV}
    os.environ.update(ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# File kinds ----------------------------------------------------------------------------------

FILE_ROWS: dict[str, tuple[list[str], dict[str, int], list[str]]] = {
    "csat": (["id", "submitted_at", "score", "comment"],
             {"id": 0, "time": 1, "score": 2, "text": 3}, ["{id}", ISO, "4", "fine"]),
    "tickets": (["id", "created_at", "subject", "status"], {"id": 0, "time": 1, "text": 2},
                ["{id}", ISO, "Checkout fails", "open"]),
    "customers": (["id", "name", "plan", "arr"], {"id": 0, "text": 1, "arr": 3},
                  ["{id}", "Acme", "pro", "100"]),
}
FILE_KINDS = [f"{fmt}_{kind}" for fmt in ("csv", "jsonl") for kind in FILE_ROWS]
NEUTRAL = {"csat": {"submitted_at": "t", "score": "v", "comment": "note"},
           "tickets": {"created_at": "t", "status": "v", "subject": "note"},
           "customers": {"arr": "v", "name": "note"}}


def file_source(base: Path, name: str, content: bytes | None, path: str | None = None,
                **settings: Any) -> FileSource:
    """Write the file (unless a path is given) and return the source kind reading it."""
    fmt, kind = name.split("_")
    target = Path(path) if path else base / f"{name}.{fmt}"
    if content is not None:
        target.write_bytes(content)
    config = FileSourceConfig(name=name.replace("_", "-"), type=fmt, kind=kind, path=target,
                              **settings)
    return FileSource(config, base, batch_size=50)


def value_file(name: str, role: str, value: dict[str, str]) -> bytes:
    """Return a file of three records, the middle one holding the value in the role."""
    fmt, kind = name.split("_")
    header, roles, row = FILE_ROWS[kind]
    records = []
    for rid in ("g1", "h1", "g2"):
        cells = [cell.replace("{id}", rid).encode() for cell in row]
        records.append((rid, cells))
    at = roles[role]
    if fmt == "csv":
        lines = [",".join(header).encode()]
        for rid, cells in records:
            if rid == "h1":
                cells = [*cells[:at], as_cell(value), *cells[at + 1:]]
            lines.append(b",".join(cells))
        return b"\n".join(lines) + b"\n"
    out = []
    for rid, cells in records:
        obj: dict[str, Any] = dict(zip(header, (c.decode() for c in cells), strict=True))
        if rid == "h1":
            obj[header[at]] = MARK
        out.append(json.dumps(obj).encode().replace(f'"{MARK}"'.encode(), as_json(value)))
    return b"\n".join(out) + b"\n"


# Vendors -------------------------------------------------------------------------------------


class Served:
    """A fake vendor: each path answers with one body (raw bytes), or 404."""

    def __init__(self, bodies: dict[str, bytes]) -> None:
        self.bodies = bodies

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = self.bodies.get(request.url.path)
        if body is None:
            return httpx.Response(404, json={"error": "not found"})
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))


def _dumped(document: object, value: bytes) -> bytes:
    return json.dumps(document).encode().replace(f'"{MARK}"'.encode(), value)


def _put(record: dict[str, Any], path: str) -> None:
    """Set the placeholder at a dotted path of a record."""
    *parents, last = path.split(".")
    for key in parents:
        record = record[key]
    record[last] = MARK


def zendesk_bodies(role: str) -> tuple[dict[str, Any], str, str]:
    """Return the pages, and where the role is (stream path, kind of the target record)."""
    def ticket(i: str) -> dict[str, Any]:
        return {"id": i, "created_at": ISO, "updated_at": ISO, "status": "open",
                "subject": "Checkout fails", "description": "It spins", "tags": ["checkout"],
                "custom_fields": [], "organization_id": i, "requester_id": 7}

    def rating(i: str) -> dict[str, Any]:
        return {"id": i, "score": "bad", "comment": "slow", "ticket_id": i, "requester_id": 7,
                "created_at": ISO, "updated_at": ISO}

    def org(i: str) -> dict[str, Any]:
        return {"id": i, "name": "Acme", "organization_fields": {"arr": "100", "plan": "pro"}}

    tickets, ratings, orgs = [ticket("g1"), ticket("h1")], [rating("g1"), rating("h1")], \
        [org("g1"), org("h1")]
    where = {"id": (tickets[1], "id", "ticket"), "time": (tickets[1], "created_at", "ticket"),
             "text": (tickets[1], "subject", "ticket"), "score": (ratings[1], "score", "response"),
             "arr": (orgs[1], "organization_fields.arr", "customer")}
    record, path, kind = where[role]
    _put(record, path)
    pages = {EXPORT: {"tickets": tickets, "organizations": orgs, "end_of_stream": True},
             RATINGS: {"satisfaction_ratings": ratings, "meta": {"has_more": False}}}
    return pages, EXPORT, kind


def intercom_bodies(role: str) -> tuple[dict[str, Any], str, str]:
    """Return the pages, and where the role is (stream path, kind of the target record)."""
    def conversation(i: str) -> dict[str, Any]:
        return {"type": "conversation", "id": i, "created_at": T0, "updated_at": T0,
                "state": "open", "title": "Checkout fails", "source": {"body": "<p>help</p>"},
                "contacts": {"contacts": [{"id": f"c{i}"}]}, "tags": {"tags": []},
                "custom_attributes": {},
                "conversation_rating": {"rating": 2, "remark": "slow", "created_at": T0,
                                        "contact": {"id": f"c{i}"}}}

    def companies(i: str) -> dict[str, Any]:
        return {"data": [{"id": i, "name": "Acme", "custom_attributes": {"arr": 100}}]}

    conversations = [conversation("g1"), conversation("h1")]
    target = companies("h1")
    where = {"id": (conversations[1], "id", "ticket"),
             "time": (conversations[1], "created_at", "ticket"),
             "text": (conversations[1], "title", "ticket"),
             "score": (conversations[1], "conversation_rating.rating", "response"),
             "arr": (target["data"][0], "custom_attributes.arr", "customer")}
    record, path, kind = where[role]
    _put(record, path)
    pages = {SEARCH: {"conversations": conversations, "pages": {}},
             "/contacts/cg1/companies": companies("g1"), "/contacts/ch1/companies": target}
    return pages, SEARCH, kind


def freshdesk_bodies(role: str) -> tuple[dict[str, Any], str, str]:
    """Return the pages, and where the role is (stream path, kind of the target record)."""
    def ticket(i: str) -> dict[str, Any]:
        return {"id": i, "subject": "Checkout fails", "description_text": "It spins",
                "status": 2, "tags": ["checkout"], "custom_fields": {}, "company_id": i,
                "requester_id": 7, "created_at": ISO, "updated_at": ISO}

    def rating(i: str) -> dict[str, Any]:
        return {"id": i, "survey_id": 1, "user_id": 7, "ticket_id": i, "feedback": "slow",
                "ratings": {"default_question": -103}, "created_at": ISO}

    def company(i: str) -> dict[str, Any]:
        return {"id": i, "name": "Acme", "custom_fields": {"arr": 100}}

    tickets, ratings, target = [ticket("g1"), ticket("h1")], [rating("g1"), rating("h1")], \
        company("h1")
    where = {"id": (tickets[1], "id", "ticket"), "time": (tickets[1], "created_at", "ticket"),
             "text": (tickets[1], "subject", "ticket"),
             "score": (ratings[1], "ratings.default_question", "response"),
             "arr": (target, "custom_fields.arr", "customer")}
    record, path, kind = where[role]
    _put(record, path)
    survey = [{"id": 1, "questions": [{"id": "default_question", "default": True,
                                        "accepted_ratings": [-103, 100, 103]}]}]
    pages = {TICKETS: tickets, FD_RATINGS: ratings, SURVEYS: survey,
             "/api/v2/companies/g1": company("g1"), "/api/v2/companies/h1": target}
    return pages, TICKETS, kind


def delighted_bodies(role: str) -> tuple[dict[str, Any], str, str]:
    """Return the pages, and where the role is (stream path, kind of the target record)."""
    def response(i: str) -> dict[str, Any]:
        return {"id": i, "person": "7", "survey_type": "nps", "score": 3, "comment": "slow",
                "created_at": T0, "updated_at": T0, "tags": [],
                "person_properties": {"customer_id": i, "arr": "100"}}

    responses = [response("g1"), response("h1")]
    where = {"id": (responses[1], "id", "response"),
             "time": (responses[1], "created_at", "response"),
             "text": (responses[1], "comment", "response"),
             "score": (responses[1], "score", "response"),
             "arr": (responses[1], "person_properties.arr", "customer")}
    record, path, kind = where[role]
    _put(record, path)
    return {RESPONSES: responses}, RESPONSES, kind


def _zendesk(client: httpx.Client, **extra: Any) -> ZendeskSource:
    config = ZendeskSourceConfig(**{
        "type": "zendesk", "name": "zd", "subdomain": "acme", "email_env": "ZD_EMAIL",
        "token_env": "ZD_TOKEN", "arr_field": "arr", "plan_field": "plan", "jira_links": False,
        "start_date": "2024-01-01T00:00:00Z", **extra})
    return ZendeskSource(config, Path("."), client=client, sleep=lambda s: None)


def _intercom(client: httpx.Client, **extra: Any) -> IntercomSource:
    config = IntercomSourceConfig(**{
        "type": "intercom", "name": "ic", "token_env": "IC_TOKEN", "arr_field": "arr",
        "start_date": "2024-01-01T00:00:00Z", **extra})
    return IntercomSource(config, Path("."), client=client, sleep=lambda s: None)


def _freshdesk(client: httpx.Client, **extra: Any) -> FreshdeskSource:
    config = FreshdeskSourceConfig(**{
        "type": "freshdesk", "name": "fd", "domain": "acme", "api_key_env": "FD_KEY",
        "arr_field": "arr", "deleted_tickets": False, "start_date": "2024-01-01T00:00:00Z",
        **extra})
    return FreshdeskSource(config, Path("."), client=client, sleep=lambda s: None)


def _delighted(client: httpx.Client, **extra: Any) -> DelightedSource:
    config = DelightedSourceConfig(**{
        "type": "delighted", "name": "dl", "api_key_env": "DL_KEY", "arr_field": "arr",
        "start_date": "2024-01-01T00:00:00Z", **extra})
    return DelightedSource(config, Path("."), client=client, sleep=lambda s: None)


VENDORS: dict[str, tuple[Callable[[str], tuple[dict[str, Any], str, str]], Callable[..., Any]]]
VENDORS = {"zendesk": (zendesk_bodies, _zendesk), "intercom": (intercom_bodies, _intercom),
           "freshdesk": (freshdesk_bodies, _freshdesk), "delighted": (delighted_bodies, _delighted)}


def vendor_batches(name: str, role: str, value: bytes,
                   **extra: Any) -> tuple[list[Batch], str | None, str | None]:
    """Serve a vendor's pages with the JSON value in a role; return what its source read."""
    bodies, build = VENDORS[name]
    pages, _, _ = bodies(role)
    served = Served({path: _dumped(page, value) for path, page in pages.items()})
    with secrets():
        return consume(build(served.client(), **extra).batches(None))


ROLES = ("id", "time", "score", "text", "arr")


# Running -------------------------------------------------------------------------------------


def consume(batches: Iterator[Batch]) -> tuple[list[Batch], str | None, str | None]:
    """Return the batches read, the source's error, and an escaped exception's name."""
    read: list[Batch] = []
    try:
        for batch in batches:
            read.append(batch)
    except SourceError as exc:
        return read, str(exc), None
    except Exception as exc:  # the corpus counts these: any one is a crash
        return read, None, f"{type(exc).__name__}: {str(exc)[:200]}"
    return read, None, None


def records(batches: list[Batch], kind: str) -> list[str]:
    """Return the external ids of one kind of record in batches."""
    lists = {"ticket": "tickets", "response": "responses", "customer": "customers"}
    return [r.external_id for b in batches for r in getattr(b, lists[kind])]


GOOD = frozenset({"g1", "g2"})


def judge(attempt: Try, batches: list[Batch], error: str | None, kind: str, role: str,
          neighbours: frozenset[str]) -> None:
    """Set what happened to the hostile record (and check its good neighbours were kept)."""
    attempt.batches = batches
    ids = records(batches, kind)
    kept = [i for i in ids if i not in GOOD] if role == "id" else [i for i in ids if i == "h1"]
    repaired = sum(b.repaired for b in batches)
    rejected = [r for b in batches for r in b.rejected]
    if any(not r.reason for r in rejected):
        attempt.problem = "a quarantine entry without a reason"
    if kept:
        attempt.got = "repair" if repaired else "keep"
    elif error is not None:
        attempt.got = "error"
        attempt.detail = error[:200]
    elif rejected:
        attempt.got = "reject"
        attempt.detail = rejected[0].reason[:200]
    else:
        attempt.got = "lost"  # neither stored nor quarantined: silently dropped
    if error is None and not neighbours <= set(ids):
        attempt.problem = attempt.problem or f"good records lost: {sorted(neighbours - set(ids))}"


def run_value(kind: str, spec: dict[str, Any], base: Path) -> list[Try]:
    """Put the hostile value in every role of every source kind."""
    value = spec["value"]
    tries: list[Try] = []
    for name in FILE_KINDS:
        roles = FILE_ROWS[name.split("_")[1]][1]
        for role in roles:
            attempt = Try(kind, name, role, expectation(spec, name, role, http=False))
            source = file_source(base, name, value_file(name, role, value))
            batches, error, attempt.crash = consume(source.batches(None))
            if attempt.crash is None:
                record_kind = {"csat": "response", "tickets": "ticket",
                               "customers": "customer"}[name.split("_")[1]]
                judge(attempt, batches, error, record_kind, role, GOOD)
            tries.append(attempt)
    with secrets():
        for name, (bodies, build) in VENDORS.items():
            for role in ROLES:
                attempt = Try(kind, name, role, expectation(spec, name, role, http=True))
                pages, _, record_kind = bodies(role)
                served = Served({path: _dumped(page, as_json(value))
                                 for path, page in pages.items()})
                source = build(served.client())
                batches, error, attempt.crash = consume(source.batches(None))
                if attempt.crash is None:
                    judge(attempt, batches, error, record_kind, role, frozenset({"g1"}))
                tries.append(attempt)
    return tries


def run_file(kind: str, spec: dict[str, Any], base: Path) -> list[Try]:
    """Read the hostile file with every file kind of its format, or serve it as a first page."""
    expected = spec.get("expect", "rows")
    tries: list[Try] = []
    for fmt in ("csv", "jsonl"):
        if fmt not in spec and "path" not in spec:
            continue
        for name in (n for n in FILE_KINDS if n.startswith(fmt)):
            file_kind = name.split("_")[1]
            settings: dict[str, Any] = {"columns": NEUTRAL[file_kind],
                                        **spec.get("settings", {})}
            content = pieces(spec[fmt]) if fmt in spec else None
            path = str(base / spec["path"]) if "path" in spec else None
            source = file_source(base, name, content, path, **settings)
            attempt = Try(kind, name, "file", expected)
            batches, error, attempt.crash = consume(source.batches(None))
            if attempt.crash is None:
                judge_rows(attempt, batches, error, pieces(spec.get(fmt, ""), repeats=False),
                           {"csat": "response", "tickets": "ticket",
                            "customers": "customer"}[file_kind])
            tries.append(attempt)
    if "body" in spec:
        body = pieces(spec["body"])
        with secrets():
            for name, (bodies, build) in VENDORS.items():
                pages, first, first_kind = bodies("text")
                served = {path: json.dumps(page).replace(MARK, "x").encode()
                          for path, page in pages.items()}
                served[first] = body
                attempt = Try(kind, name, "body", expected)
                batches, error, attempt.crash = consume(build(Served(served).client())
                                                        .batches(None))
                if attempt.crash is None:
                    attempt.batches = batches
                    from_page = records(batches, first_kind)  # what the hostile page gave
                    attempt.got = "keep" if from_page else "error" if error else "nothing"
                    attempt.detail = (error or "")[:200]
                tries.append(attempt)
    return tries


def judge_rows(attempt: Try, batches: list[Batch], error: str | None, content: bytes,
               kind: str) -> None:
    """Check the ok/fix/bad rows of a hostile file (its text, repeats left out), or its error."""
    attempt.batches = batches
    stored = records(batches, kind)
    rejected = [r for b in batches for r in b.rejected]
    if any(not r.reason for r in rejected):
        attempt.problem = "a quarantine entry without a reason"
    if attempt.expected in ("error", "nothing"):
        attempt.got = "keep" if stored else "error" if error else "nothing"
        attempt.detail = (error or "")[:200]
        return
    if error is not None:
        attempt.got, attempt.detail = "error", error[:200]
        return
    declared = _declared_ids(content)
    problems = []
    wrong = [i for i in stored if not i.startswith(("ok", "fix"))]
    if wrong:
        attempt.got = "keep"  # something not meant to be stored was: a wrong accept
        attempt.detail = f"stored {wrong[:3]}"
        return
    missing = [i for i in declared if i.startswith(("ok", "fix")) and i not in stored]
    if missing:
        problems.append(f"lost {missing[:3]}")
    fixes = sum(1 for i in declared if i.startswith("fix"))
    if sum(b.repaired for b in batches) < fixes:
        problems.append("a fix row was not counted as repaired")
    bad = sum(1 for i in declared if i.startswith("bad"))
    if len(rejected) < bad:
        problems.append(f"{bad} bad rows but {len(rejected)} quarantined")
    attempt.got = "rows" if not problems else "wrong rows"
    attempt.detail = "; ".join(problems)


def _declared_ids(content: bytes) -> list[str]:
    """Return the row ids a hostile file declares (each ok…, fix… or bad… it names)."""
    return list(dict.fromkeys(m.decode() for m in _DECLARED.findall(content)))


def run_kind(kind: str, base: Path) -> list[Try]:
    """Run one corpus kind against every source kind it applies to."""
    spec = load(kind)
    base = base / kind
    base.mkdir(parents=True, exist_ok=True)
    return run_value(kind, spec, base) if "value" in spec else run_file(kind, spec, base)
