"""Issue #10's fuzz suite: the CSV and JSONL readers, every vendor payload parser and the
reference parser take whatever hypothesis makes up. No exception escapes (a SourceError is a
source's own, deliberate failure); every bad row is quarantined with a reason, every kept
record meets the store's rules (sources.screen) as it is, and a second read from the cursor
finds nothing new."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hostile.harness import VENDORS, Served, consume, secrets
from impactlink.config import FileSourceConfig
from impactlink.core.refs import collect_refs, find_refs, parse_ref_field
from impactlink.sources.base import Batch
from impactlink.sources.file_cursor import Bookmark
from impactlink.sources.files import FileSource
from impactlink.sources.plaintext import html_text
from impactlink.sources.screen import screen_record

FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PIECES = ["a", "4", "5", " ", ",", ";", '"', "\n", "\r", "\r\n", "\x00", "\ufeff", "\ud800",
          "\udfff", "\u0664", "\uff14", "0_4", "\u00e9", "\U0001f642", "\u202e", "\u200b", "-",
          "#12", "SHOP-1", "acme/shop#3", "https://x.io/browse/AB-2", "2024-03-01T10:00:00Z",
          "9999-12-31T23:59:59-01:00", "1e400", "-5", "nan", "[", "{", "}", "\\", "\t"]
HOSTILE = st.lists(st.sampled_from(PIECES), max_size=8).map("".join) | st.text(max_size=12)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats() | HOSTILE,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE, inner, max_size=4),
    max_leaves=12)
BYTES = st.lists(st.sampled_from([b"ok", b"7", b",", b'"', b"\n", b"\r", b"\r\n", b"\x00",
                                  b"\xef\xbb\xbf", b"\xff", b"\xe9", b"\xc3", b"2024-03-01",
                                  b"4", b" ", b";", b"{", b"}", b"[", b":"]),
                 max_size=80).map(b"".join)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def read(folder: Path, content: bytes, fmt: str, kind: str = "csat") -> tuple[
        FileSource, list[Batch], str | None]:
    """Read the content as a file source; assert nothing but a SourceError escaped."""
    (folder / f"fuzz.{fmt}").write_bytes(content)
    source = FileSource(FileSourceConfig(name="fuzz", type=fmt, kind=kind,
                                         path=Path(f"fuzz.{fmt}")), folder, batch_size=3)
    batches, error, crash = consume(source.batches(None))
    assert crash is None, crash
    return source, batches, error


def assert_sound(batches: list[Batch]) -> None:
    """Every quarantine entry has a reason; every kept record passes the store's rules as is."""
    for batch in batches:
        assert all(r.reason for r in batch.rejected)
        for record in [*batch.tickets, *batch.responses, *batch.customers]:
            assert screen_record(record) == (record, False)


def kept_and_quarantined(batches: list[Batch]) -> int:
    return sum(len(b) + len(b.rejected) for b in batches)


def assert_nothing_new(source: FileSource, batches: list[Batch]) -> None:
    """A second read from the last cursor finds nothing new in the unchanged file."""
    cursor = next((b.cursor for b in reversed(batches) if b.cursor), None)
    assert Bookmark.load(cursor) is not None
    again, error, crash = consume(source.batches(cursor))
    assert (crash, error) == (None, None)
    assert kept_and_quarantined(again) == 0


def csv_text(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "submitted_at", "score", "status", "comment"])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8", "surrogatepass")


CELL_ROWS = st.lists(st.tuples(
    st.sampled_from(["r1", "r2", "", " ", "r\x00", "r\ud800", "\u0664", "x" * 201]) | HOSTILE,
    st.sampled_from(["2024-03-01T10:00:00Z", "1709287200"]) | HOSTILE,
    st.sampled_from(["1", "5", "3.5", ""]) | HOSTILE,
    st.sampled_from(["", "answered", "offered"]) | HOSTILE,
    HOSTILE).map(list), max_size=8)


@FAST
@given(rows=CELL_ROWS)
@example(rows=[["r1", "2024-03-01", "4", "", "caf\ud800"], ["r2", "9999-12-31T23:59:59-01:00",
                                                            "4", "", ""]])
def test_csv_reader_keeps_or_quarantines_every_well_formed_row(folder: Path,
                                                                rows: list[list[str]]) -> None:
    for row in rows:  # a byte-order mark opening a line is dropped, which may blank the row
        row[0] = row[0].lstrip("\ufeff")
    source, batches, error = read(folder, csv_text(rows), "csv")
    assert error is None
    assert_sound(batches)
    not_blank = sum(1 for row in rows if any(cell.strip() for cell in row))
    assert kept_and_quarantined(batches) == not_blank
    assert_nothing_new(source, batches)


@FAST
@given(body=BYTES, kind=st.sampled_from(["csat", "tickets", "customers"]))
@example(body=b'ok,2024-03-01,4,"open\nok,2024-03-01,4,b\n', kind="csat")
@example(body=b"ok,2024-03-01,4,a\rok,2024-03-01,4,\xe9\r", kind="tickets")
def test_csv_reader_survives_any_bytes_after_its_header(folder: Path, body: bytes,
                                                        kind: str) -> None:
    header = {"csat": b"id,submitted_at,score,comment\n", "tickets": b"id,created_at,subject\n",
              "customers": b"id,name,arr\n"}[kind]
    source, batches, error = read(folder, header + body, "csv", kind)
    assert error is None
    assert_sound(batches)
    assert_nothing_new(source, batches)


JSON_LINE = st.dictionaries(
    st.sampled_from(["id", "submitted_at", "score", "status", "comment", "tags", "ticket_id",
                     "issue_refs"]), JSON_VALUE, max_size=6).map(
    lambda d: json.dumps(d).encode("utf-8", "surrogatepass"))
RAW_LINE = BYTES.map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))


@FAST
@given(lines=st.lists(JSON_LINE | RAW_LINE | JSON_VALUE.map(
    lambda v: json.dumps(v).encode("utf-8", "surrogatepass")), max_size=8))
@example(lines=[b'{"id": "r1", "submitted_at": 0, "score": ["4"]}',
                b'{"id": {"a": 1}, "submitted_at": 0, "score": 4}', b"[" * 3000])
def test_jsonl_reader_keeps_or_quarantines_every_line(folder: Path, lines: list[bytes]) -> None:
    source, batches, error = read(folder, b"\n".join(lines) + b"\n", "jsonl")
    assert error is None
    assert_sound(batches)
    not_blank = sum(1 for line in lines
                    if line.decode("utf-8", "replace").removeprefix("\ufeff").strip())
    assert kept_and_quarantined(batches) == not_blank
    assert_nothing_new(source, batches)


def vendor_run(name: str, changes: dict[str, Any], whole: Any = None) -> list[Batch]:
    """Serve the vendor's pages with its target item changed (or replaced); return batches."""
    bodies, build = VENDORS[name]
    pages, first, _ = bodies("text")
    page = pages[first]
    items = page if isinstance(page, list) else next(v for v in page.values()
                                                      if isinstance(v, list))
    items[1] = whole if whole is not None else {**items[1], **changes}
    served = {path: json.dumps(body).replace('"__HOSTILE__"', '"text"').encode(
        "utf-8", "surrogatepass") for path, body in pages.items()}
    with secrets():
        batches, error, crash = consume(build(Served(served).client()).batches(None))
    assert crash is None, crash
    assert_sound(batches)
    if error is None:  # the good item is kept whatever its neighbour holds
        assert "g1" in [r.external_id for b in batches for r in [*b.tickets, *b.responses]]
    return batches


FIELDS = st.sampled_from(["id", "created_at", "updated_at", "subject", "title", "comment",
                          "score", "status", "tags", "custom_fields", "organization_id",
                          "company_id", "requester_id", "contacts", "source",
                          "conversation_rating", "person_properties", "person", "ratings",
                          "description", "description_text", "state", "custom_attributes"])


@FAST
@given(name=st.sampled_from(sorted(VENDORS)),
       changes=st.dictionaries(FIELDS, JSON_VALUE, min_size=1, max_size=4))
@example(name="intercom", changes={"updated_at": 10**20})
@example(name="zendesk", changes={"created_at": "9999-12-31T23:59:59-01:00"})
def test_vendor_parsers_quarantine_any_malformed_item(name: str,
                                                      changes: dict[str, Any]) -> None:
    vendor_run(name, changes)


@FAST
@given(name=st.sampled_from(sorted(VENDORS)), whole=JSON_VALUE.filter(lambda v: v is not None))
def test_vendor_parsers_quarantine_an_item_that_is_not_an_object(name: str, whole: Any) -> None:
    vendor_run(name, {}, whole)


CANONICAL = re.compile(r"[a-z0-9][a-z0-9\-]*/[a-z0-9._\-]+#[0-9]+|#[0-9]+|[A-Z][A-Z0-9_]+-[0-9]+",
                       re.ASCII)
REF_TEXT = st.lists(st.sampled_from([
    "#", "/", "-", "7", "12", "SHOP", "a", " ", "\n", "acme/shop", "https://", "github.com/",
    "gh.acme.io:8443/", "issues/", "jira.acme.io/", "browse/", "?selectedIssue=", "&", "\u0664",
    "\uff14", "\x00", "\ud800", "9" * 20, "AB-", "_"]), max_size=30).map("".join) | st.text()


@FAST
@given(field=REF_TEXT, text=REF_TEXT)
@example(field="#" + "1" * 5000, text="https://a/" * 500)
@example(field="acme/shop#\u0664", text="SHOP-\uff14 https://jira/browse/AB-" + "9" * 20)
def test_reference_parser_takes_any_text_and_gives_canonical_references(field: str,
                                                                        text: str) -> None:
    found = collect_refs([field], [text])
    assert found == tuple(sorted(set(found)))
    assert all(CANONICAL.fullmatch(ref) for ref in found), found
    assert find_refs(text) <= set(found) and parse_ref_field(field) <= set(found)


HTML = st.lists(st.sampled_from(["<", ">", "!", "[", "]", "-", "&", "#", ";", "x", "<!--", "-->",
                                 "<![", "</", "<script>", "</script>", "&#99999999999;", "<?",
                                 "<!DOCTYPE", "<p>", "<br/>", " ", "\n", "\x00", "\ud800"]),
                max_size=30).map("".join) | st.text()


@FAST
@given(markup=HTML)
@example(markup="<![<")  # Python 3.11's HTMLParser fails an assertion here
def test_intercom_message_html_becomes_text_whatever_it_holds(markup: str) -> None:
    text = html_text(markup)
    assert all(line and line == line.strip() for line in text.split("\n")) or text == ""


def test_reference_parser_is_linear_in_a_long_hostile_comment() -> None:
    import time

    started = time.perf_counter()
    for text in ("https://a/" * 20000, "https://jira.io/browse/" * 10000, "a-" * 100000):
        find_refs(text)
    assert time.perf_counter() - started < 5  # quadratic, this took minutes
