"""CSV and JSONL file sources: mapping, quarantine, incremental reads and resumable cursors."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from impactlink.config import FileSourceConfig
from impactlink.core.models import Customer, Rejected, Response, Ticket
from impactlink.core.refs import collect_refs
from impactlink.errors import SourceError
from impactlink.sources.base import Batch
from impactlink.sources.file_cursor import hash_range
from impactlink.sources.file_rows import RefFinder
from impactlink.sources.files import FileSource

CSAT_HEADER = "id,submitted_at,score,status,comment\n"
JAN1 = datetime(2024, 1, 1, tzinfo=UTC)


def make_source(tmp_path: Path, content: bytes | str, *, path: str = "data.csv",
                batch_size: int = 5000, **settings: Any) -> FileSource:
    """Write the file and return a source reading it (a csat CSV unless settings say otherwise)."""
    raw = content.encode() if isinstance(content, str) else content
    (tmp_path / path).write_bytes(raw)
    fields: dict[str, Any] = {"name": "survey", "type": "csv", "kind": "csat", "path": path}
    return FileSource(FileSourceConfig(**{**fields, **settings}), tmp_path, batch_size)


def run(source: FileSource, cursor: str | None = None) -> tuple[list[Batch], str | None]:
    """Consume every batch; return them and the cursor the store would keep afterwards."""
    batches = list(source.batches(cursor))
    kept = cursor
    for batch in batches:
        kept = batch.cursor if batch.cursor is not None else kept
    return batches, kept


def responses(batches: list[Batch]) -> list[Response]:
    return [r for b in batches for r in b.responses]


def rejected(batches: list[Batch]) -> list[Rejected]:
    return [r for b in batches for r in b.rejected]


def ids(batches: list[Batch]) -> list[str]:
    records: list[Response | Ticket | Customer] = []
    for batch in batches:
        records += [*batch.responses, *batch.tickets, *batch.customers]
    return [record.external_id for record in records]


def only_response(tmp_path: Path, content: bytes | str, **settings: Any) -> Response:
    batches, _ = run(make_source(tmp_path, content, **settings))
    assert rejected(batches) == []
    [response] = responses(batches)
    return response


def csat_rows(start: int, stop: int) -> str:
    return "".join(f"r{i},2024-01-01T00:00:{i % 60:02d}Z,{i % 5 + 1},,row {i}\n"
                   for i in range(start, stop))


# Mapping -------------------------------------------------------------------------------


def test_csat_row_maps_every_field(tmp_path: Path) -> None:
    content = ("id,submitted_at,score,status,customer_id,respondent_id,comment,tags,ticket_id,"
               "issue_refs,plan\n"
               "r1,2024-03-01T10:00:00Z,4,answered,acct-9,p-3, Slow checkout ,Checkout;Pay_Ment,"
               "T-1,#12,pro\n")
    response = only_response(tmp_path, content, segments=["plan"], ticket_source="desk")
    assert response == Response(
        source="survey", external_id="r1", submitted_at=datetime(2024, 3, 1, 10, tzinfo=UTC),
        status="answered", score=4.0, satisfied=True, customer_id="acct-9", respondent_id="p-3",
        comment="Slow checkout", tags=("checkout", "pay-ment"), refs=("#12",),
        ticket_source="desk", ticket_id="T-1", segments=(("plan", "pro"),))


def test_empty_optional_ids_become_none(tmp_path: Path) -> None:
    content = "id,submitted_at,score,customer_id,respondent_id,ticket_id\nr1,2024-01-01,5, ,,\n"
    response = only_response(tmp_path, content)
    assert (response.customer_id, response.respondent_id, response.ticket_id) == (None, None, None)
    assert response.ticket_source is None


def test_ticket_row_maps_every_field_and_finds_refs_in_the_subject(tmp_path: Path) -> None:
    content = ("id,created_at,updated_at,customer_id,requester_id,status,subject,tags,"
               "issue_refs,platform\n"
               "t1,2024-01-01,,acct-1,req-1,open,Broken since SHOP-7,billing,#3,ios\n"
               "t2,2024-01-01,2024-01-02T08:00:00+01:00,,,,,,,\n")
    source = make_source(tmp_path, content, name="desk", kind="tickets", segments=["platform"])
    batches, _ = run(source)
    assert [b.responses for b in batches] == [[]]
    assert batches[0].tickets == [
        Ticket(source="desk", external_id="t1", created_at=JAN1, updated_at=None,
               customer_id="acct-1", requester_id="req-1", status="open",
               subject="Broken since SHOP-7", tags=("billing",), refs=("#3", "SHOP-7"),
               segments=(("platform", "ios"),)),
        Ticket(source="desk", external_id="t2", created_at=JAN1,
               updated_at=datetime(2024, 1, 2, 7, tzinfo=UTC))]


def test_ticket_description_column_is_read_and_its_references_found(tmp_path: Path) -> None:
    content = ("id,created_at,subject,description,issue_refs\n"
               't1,2024-01-01,Checkout down,"Fails at pay,\nsee SHOP-31 and #4",#3\n'
               "t2,2024-01-01,No body,,\n")
    batches, _ = run(make_source(tmp_path, content, name="desk", kind="tickets"))
    assert rejected(batches) == []
    first, second = [t for b in batches for t in b.tickets]
    assert first.description == "Fails at pay,\nsee SHOP-31 and #4"
    assert first.refs == ("#3", "SHOP-31")  # a bare #4 in free text is no reference
    assert (second.description, second.refs) == ("", ())


def test_ticket_description_column_can_be_mapped_or_left_out(tmp_path: Path) -> None:
    mapped = make_source(tmp_path, "ID,Opened,Body\nt1,2024-01-01,PAY-9 broke\n",
                         name="desk", kind="tickets",
                         columns={"id": "ID", "created_at": "Opened", "description": "Body"})
    [ticket] = [t for b in run(mapped)[0] for t in b.tickets]
    assert (ticket.description, ticket.refs) == ("PAY-9 broke", ("PAY-9",))
    absent = make_source(tmp_path, "id,created_at\nt1,2024-01-01\n", path="plain.csv",
                         name="desk", kind="tickets")
    assert absent.check() == []
    assert [t.description for b in run(absent)[0] for t in b.tickets] == [""]
    jsonl = make_source(tmp_path, json.dumps({"id": "t1", "created_at": "2024-01-01",
                                              "Text": "see SHOP-5"}) + "\n",
                        path="t.jsonl", type="jsonl", name="desk", kind="tickets",
                        columns={"description": "Text"})
    [row] = [t for b in run(jsonl)[0] for t in b.tickets]
    assert (row.description, row.refs) == ("see SHOP-5", ("SHOP-5",))


def test_customers_kind_reads_name_plan_and_arr(tmp_path: Path) -> None:
    content = ("id,name,plan,arr\nc1,Acme,enterprise,12000.5\nc2,Beta,,\nc3,Gamma,pro,lots\n"
               "c4,Delta,pro,1e400\n")
    batches, _ = run(make_source(tmp_path, content, name="crm", kind="customers"))
    assert [c for b in batches for c in b.customers] == [
        Customer("crm", "c1", "Acme", "enterprise", 12000.5), Customer("crm", "c2", "Beta")]
    assert rejected(batches) == [
        Rejected("crm", "data.csv:4", "arr 'lots' is not a number", "c3,Gamma,pro,lots"),
        Rejected("crm", "data.csv:5", "arr '1e400' is not a finite number",
                 "c4,Delta,pro,1e400")]


def test_columns_mapping_reads_renamed_columns(tmp_path: Path) -> None:
    content = "Response ID,Answered At,Rating,Feedback,Tier\nx9,2024-01-01,2,too slow,free\n"
    response = only_response(
        tmp_path, content, segments=["plan"],
        columns={"id": "Response ID", "submitted_at": "Answered At", "score": "Rating",
                 "comment": "Feedback", "plan": "Tier"})
    assert (response.external_id, response.score, response.satisfied, response.comment,
            response.segments) == ("x9", 2.0, False, "too slow", (("plan", "free"),))


def test_header_names_match_ignoring_case_and_surrounding_space(tmp_path: Path) -> None:
    response = only_response(tmp_path, " ID ,Submitted_At,SCORE\nr1,2024-01-01,3\n")
    assert (response.external_id, response.score) == ("r1", 3.0)


def test_segments_are_sorted_pairs_without_empty_values(tmp_path: Path) -> None:
    content = ("id,submitted_at,score,platform,plan\n"
               "r1,2024-01-01,5,ios,pro\nr2,2024-01-01,5,,free\nr3,2024-01-01,5,,\n")
    batches, _ = run(make_source(tmp_path, content, segments=["platform", "plan"]))
    assert [r.segments for r in responses(batches)] == [
        (("plan", "pro"), ("platform", "ios")), (("plan", "free"),), ()]


def test_tags_split_on_semicolons_and_commas_and_are_normalised(tmp_path: Path) -> None:
    content = ('id,submitted_at,score,tags\n'
               'r1,2024-01-01,5,"Check Out; billing,,SSO_login;billing"\n')
    assert only_response(tmp_path, content).tags == ("billing", "check-out", "sso-login")


def test_refs_come_from_issue_refs_and_from_the_comment(tmp_path: Path) -> None:
    content = ("id,submitted_at,score,comment,issue_refs\n"
               "r1,2024-01-01,1,see https://github.com/Acme/Shop/issues/5 and #9,"
               "\"#12, SHOP-3\"\n"
               "r2,2024-01-01,1,plain text - 2 stars,\n"
               "r3,2024-01-01,1,https://github.com/acme/web/issues/8,\n")
    batches, _ = run(make_source(tmp_path, content))
    # A bare #9 in free text is ambiguous; in a reference field a bare #12 counts.
    assert [r.refs for r in responses(batches)] == [
        ("#12", "SHOP-3", "acme/shop#5"), (), ("acme/web#8",)]


_REF_PIECES = st.sampled_from([
    "#", "/", "-", "7", "12", "SHOP", "a", " ", "\n", ";", "acme/shop", "https://", "github.com/",
    "gh.acme.io:8443/", "issues/", "jira.acme.io/", "browse/", "?selectedIssue=", "&"])


@given(field=st.lists(_REF_PIECES, max_size=12).map("".join),
       text=st.lists(_REF_PIECES, max_size=16).map("".join))
@example(field="", text="https://jira.acme.io/browse/PAY-8")
@example(field="", text="https://github.com/acme/shop/issues/7")
def test_ref_finder_gives_what_collect_refs_gives(field: str, text: str) -> None:
    finder = RefFinder()
    assert finder(field, text) == collect_refs([field], [text])
    assert finder(field, text) == collect_refs([field], [text])  # from its memo this time


@pytest.mark.parametrize(("cell", "expected"), [
    ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, tzinfo=UTC)),
    ("2024-03-01T10:00:00", datetime(2024, 3, 1, 10, tzinfo=UTC)),
    ("2024-03-01 10:00:00.250", datetime(2024, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)),
    ("2024-03-01T12:00:00+02:00", datetime(2024, 3, 1, 10, tzinfo=UTC)),
    ("2024-03-01", datetime(2024, 3, 1, tzinfo=UTC)),
    ("1709287200", datetime(2024, 3, 1, 10, tzinfo=UTC)),
    ("1709287200.5", datetime(2024, 3, 1, 10, 0, 0, 500000, tzinfo=UTC)),
    ("1709287200000", datetime(2024, 3, 1, 10, tzinfo=UTC)),
])
def test_times_in_iso_or_epoch_are_stored_as_utc(tmp_path: Path, cell: str,
                                                  expected: datetime) -> None:
    submitted = only_response(tmp_path, f"id,submitted_at,score\nr1,{cell},5\n").submitted_at
    assert submitted == expected
    assert submitted.tzinfo is UTC


@pytest.mark.parametrize(("scale", "below", "threshold", "top"), [
    ("1-5", "3", "4", "5"),
    ("1-7", "5", "6", "7"),
    ("1-10", "7", "8", "10"),
    ("0-10", "8", "9", "10"),
    ("good/bad", "bad", "good", "Good"),
    ("thumbs", "down", "up", "\U0001f44d"),
])
def test_each_scale_is_satisfied_from_its_threshold(tmp_path: Path, scale: str, below: str,
                                                    threshold: str, top: str) -> None:
    content = "id,submitted_at,score\n" + "".join(
        f"r{i},2024-01-01,{score}\n" for i, score in enumerate((below, threshold, top)))
    batches, _ = run(make_source(tmp_path, content, scale=scale))
    assert rejected(batches) == []
    assert [r.satisfied for r in responses(batches)] == [False, True, True]


def test_offered_survey_has_no_score_even_when_the_row_gives_one(tmp_path: Path) -> None:
    content = CSAT_HEADER + "r1,2024-01-01,,offered,\nr2,2024-01-01,2,Offered,\n"
    batches, _ = run(make_source(tmp_path, content))
    assert [(r.status, r.score, r.satisfied) for r in responses(batches)] == [
        ("offered", None, None), ("offered", None, None)]


def test_a_file_of_offered_surveys_needs_no_score_column(tmp_path: Path) -> None:
    content = "id,submitted_at,status\nr1,2024-01-01,offered\nr2,2024-01-01,answered\n"
    batches, _ = run(make_source(tmp_path, content))
    assert [r.status for r in responses(batches)] == ["offered"]
    assert [r.reason for r in rejected(batches)] == [
        "score is empty (a survey sent but not answered needs status offered)"]


def test_semicolon_delimiter(tmp_path: Path) -> None:
    response = only_response(tmp_path, "id;submitted_at;score\nr1;2024-01-01;4\n", delimiter=";")
    assert (response.external_id, response.score) == ("r1", 4.0)


# Encodings and CSV shapes ------------------------------------------------------------------


def test_bom_and_crlf_are_read_like_plain_lf(tmp_path: Path) -> None:
    content = b"\xef\xbb\xbfid,submitted_at,score,comment\r\nr1,2024-01-01,5,fine\r\nr2,x,5,\r\n"
    batches, _ = run(make_source(tmp_path, content))
    [response] = responses(batches)
    assert (response.external_id, response.comment) == ("r1", "fine")
    assert [(r.location, r.raw) for r in rejected(batches)] == [("data.csv:3", "r2,x,5,")]


def test_invalid_utf8_in_the_header_does_not_reject_the_first_row(tmp_path: Path) -> None:
    content = b"id,submitted_at,score,caf\xe9\nr1,2024-01-01,5,x\n"
    assert only_response(tmp_path, content).external_id == "r1"


def test_quoted_field_spanning_lines_is_one_row_and_later_lines_keep_their_numbers(
        tmp_path: Path) -> None:
    content = (CSAT_HEADER + 'r1,2024-01-01,5,,"first line\nsecond, with comma\nthird"\n'
               "r2,2024-01-01,9,,\n")
    batches, _ = run(make_source(tmp_path, content))
    assert [r.comment for r in responses(batches)] == ["first line\nsecond, with comma\nthird"]
    assert [r.location for r in rejected(batches)] == ["data.csv:5"]


def test_every_kind_of_bad_row_is_quarantined_and_the_rest_ingested(tmp_path: Path) -> None:
    content = (CSAT_HEADER.encode()
               + b"ok1,2024-01-01T00:00:00Z,5,,fine\n"      # 2
               + b",2024-01-01,4,,no id\n"                  # 3
               + b"r3,yesterday,4,,bad time\n"              # 4
               + b"r4,2024-01-01,6,,out of scale\n"         # 5
               + b"r5,2024-01-01,great,,not a number\n"     # 6
               + b"r6,2024-01-01,4,maybe,unknown status\n"  # 7
               + b"r7,2024-01-01,,answered,no score\n"      # 8
               + b"r8,2024-01-01,4\n"                       # 9
               + b"r9,2024-01-01,4,,caf\xe9 in latin-1\n"   # 10
               + b"\n"                                      # 11, blank: skipped
               + b'ok2,2024-01-02,3,,"two\nlines"\n'        # 12-13
               + b"r14,2024-01-01,0,,below the scale\n"    # 14
               + b"r15,,4,,no time\n")                      # 15
    batches, _ = run(make_source(tmp_path, content))
    assert ids(batches) == ["ok1", "r9", "ok2"]  # r9: its comment is repaired (U+FFFD)
    assert [(r.location, r.reason) for r in rejected(batches)] == [
        ("data.csv:3", "id is empty"),
        ("data.csv:4", "submitted_at 'yesterday' is not an ISO 8601 time or epoch seconds"),
        ("data.csv:5", "score '6' is outside the 1-5 scale (1-5)"),
        ("data.csv:6", "score 'great' is not a number"),
        ("data.csv:7", "status 'maybe' is neither answered nor offered"),
        ("data.csv:8", "score is empty (a survey sent but not answered needs status offered)"),
        ("data.csv:9", "has 3 columns where the header has 5"),
        ("data.csv:14", "score '0' is outside the 1-5 scale (1-5)"),
        ("data.csv:15", "submitted_at '' is empty"),
    ]
    assert {r.source for r in rejected(batches)} == {"survey"}
    assert rejected(batches)[0].raw == ",2024-01-01,4,,no id"
    assert responses(batches)[1].comment == "caf\ufffd in latin-1"
    assert sum(b.repaired for b in batches) == 1


def test_quarantined_raw_text_is_cut_at_500_characters(tmp_path: Path) -> None:
    content = CSAT_HEADER + "r1,bad-time,5,," + "x" * 900 + "\n"
    [bad] = rejected(run(make_source(tmp_path, content))[0])
    assert bad.raw == ("r1,bad-time,5,," + "x" * 900)[:500]


def test_csv_error_quarantines_the_row_and_reading_goes_on(tmp_path: Path) -> None:
    content = CSAT_HEADER + "r1,2024-01-01,5,," + "y" * 300 + "\nr2,2024-01-01,4,,short\n"
    limit = csv.field_size_limit(100)
    try:
        batches, _ = run(make_source(tmp_path, content))
    finally:
        csv.field_size_limit(limit)
    assert ids(batches) == ["r2"]
    [bad] = rejected(batches)
    assert bad.location == "data.csv:2" and bad.reason.startswith("not valid CSV: field larger")


# JSONL ---------------------------------------------------------------------------------


def test_jsonl_values_may_be_numbers_lists_and_nulls(tmp_path: Path) -> None:
    lines = [
        {"id": 17, "submitted_at": 1704067200, "score": 4, "tags": ["Checkout", "pay,ment"],
         "issue_refs": ["#3", "SHOP-9"], "customer_id": None, "plan": "pro"},
        {"id": "r2", "submitted_at": "2024-01-01", "score": "2", "tags": "a;b",
         "comment": "fails on acme/shop#4", "ticket_id": 88, "status": None,
         "respondent_id": 7},
    ]
    content = "".join(json.dumps(line) + "\n" for line in lines)
    source = make_source(tmp_path, content, path="data.jsonl", type="jsonl", segments=["plan"])
    batches, _ = run(source)
    assert rejected(batches) == []
    first, second = responses(batches)
    assert (first.external_id, first.submitted_at, first.score, first.tags, first.refs,
            first.customer_id, first.segments) == (
        "17", JAN1, 4.0, ("checkout", "ment", "pay"), ("#3", "SHOP-9"), None, (("plan", "pro"),))
    assert (second.score, second.tags, second.refs, second.ticket_id, second.status,
            second.respondent_id) == (
        2.0, ("a", "b"), ("acme/shop#4",), "88", "answered", "7")


def test_jsonl_bad_lines_are_quarantined_and_blank_lines_skipped(tmp_path: Path) -> None:
    content = (b"\xef\xbb\xbf" + b'{"id": "ok1", "submitted_at": "2024-01-01", "score": 5}\r\n'
               + b"\r\n"
               + b'{"id": "r3", "submitted_at": "2024-01-01", "score": \n'
               + b'["r4", "2024-01-01", 5]\n'
               + b'{"id": "r5", "submitted_at": "2024-01-01", "score": "caf\xe9"}\n'
               + b'{"submitted_at": "2024-01-01", "score": 5}\n'
               + b'{"id": "r7", "submitted_at": "2024-01-01", "score": true}\n'
               + b'{"id": "ok2", "submitted_at": 1704067200.0, "score": 1}\n')
    source = make_source(tmp_path, content, path="data.jsonl", type="jsonl")
    batches, _ = run(source)
    assert ids(batches) == ["ok1", "ok2"]
    assert [(r.location, r.reason.split(":")[0]) for r in rejected(batches)] == [
        ("data.jsonl:3", "not valid JSON"),
        ("data.jsonl:4", "a JSON list, not an object"),
        ("data.jsonl:5", "score 'caf\\udce9' is not a number"),
        ("data.jsonl:6", "id is empty"),
        ("data.jsonl:7", "score 'true' is not a number"),
    ]
    assert rejected(batches)[1].raw == '["r4", "2024-01-01", 5]'


def test_jsonl_tickets_and_customers(tmp_path: Path) -> None:
    tickets = make_source(tmp_path, json.dumps(
        {"id": 5, "created_at": "2024-01-01T00:00:00Z", "subject": "SHOP-2 again",
         "status": "open"}) + "\n", path="t.jsonl", type="jsonl", kind="tickets", name="desk")
    customers = make_source(tmp_path, json.dumps({"id": "c1", "name": "Acme", "arr": 900}) + "\n",
                            path="c.jsonl", type="jsonl", kind="customers", name="crm")
    [ticket] = [t for b in run(tickets)[0] for t in b.tickets]
    [customer] = [c for b in run(customers)[0] for c in b.customers]
    assert (ticket.external_id, ticket.created_at, ticket.refs, ticket.status) == (
        "5", JAN1, ("SHOP-2",), "open")
    assert customer == Customer("crm", "c1", "Acme", None, 900.0)


# Incremental reads -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_same_file_twice_yields_nothing_the_second_time(tmp_path: Path, kind: str) -> None:
    source = make_source(tmp_path, _csat_file(kind, 0, 10), path=f"data.{kind}", type=kind)
    first, cursor = run(source)
    assert len(ids(first)) == 10
    assert run(source, cursor) == ([], cursor)


def test_cursor_records_offset_line_header_and_prefix_hash(tmp_path: Path) -> None:
    content = CSAT_HEADER + csat_rows(0, 3)
    source = make_source(tmp_path, content)
    _, cursor = run(source)
    assert cursor is not None
    mark = json.loads(cursor)
    data = content.encode()
    assert mark == {"v": 1, "size": len(data), "offset": len(data), "line": 4,
                    "prefix_sha256": hashlib.sha256(data).hexdigest(), "tail_sha256": None,
                    "header": ["id", "submitted_at", "score", "status", "comment"],
                    "reading": source.reading}


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_appended_rows_alone_are_read_and_keep_their_line_numbers(tmp_path: Path,
                                                                  kind: str) -> None:
    source = make_source(tmp_path, _csat_file(kind, 0, 5), path=f"data.{kind}", type=kind)
    _, cursor = run(source)
    with source.path.open("ab") as file:
        file.write(_csat_file(kind, 5, 8, header=False).encode())
        file.write(_bad_row(kind).encode())
    batches, cursor2 = run(source, cursor)
    assert ids(batches) == ["r5", "r6", "r7"]
    header_lines = 1 if kind == "csv" else 0
    assert [r.location for r in rejected(batches)] == [f"data.{kind}:{9 + header_lines}"]
    assert run(source, cursor2) == ([], cursor2)


def test_rewritten_file_is_read_again_from_the_start(tmp_path: Path) -> None:
    source = make_source(tmp_path, CSAT_HEADER + csat_rows(0, 4))
    _, cursor = run(source)
    same_size = (CSAT_HEADER + csat_rows(0, 4)).replace("row 1", "row X")
    source.path.write_text(same_size)
    assert ids(run(source, cursor)[0]) == ["r0", "r1", "r2", "r3"]
    source.path.write_text(CSAT_HEADER + csat_rows(0, 2))  # shorter: truncated and rewritten
    assert ids(run(source, cursor)[0]) == ["r0", "r1"]
    source.path.write_text(CSAT_HEADER + csat_rows(10, 16))  # longer, different start
    assert ids(run(source, cursor)[0]) == [f"r{i}" for i in range(10, 16)]


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_unterminated_last_row_is_yielded_and_read_again_once_completed(tmp_path: Path,
                                                                        kind: str) -> None:
    content = _csat_file(kind, 0, 3).removesuffix("\n")
    source = make_source(tmp_path, content, path=f"data.{kind}", type=kind)
    batches, cursor = run(source)
    assert ids(batches) == ["r0", "r1", "r2"]
    assert run(source, cursor) == ([], cursor)  # untouched: not read again
    with source.path.open("a") as file:
        file.write("\n" + _csat_file(kind, 3, 4, header=False))
    batches, cursor = run(source, cursor)
    assert ids(batches) == ["r2", "r3"]
    assert run(source, cursor) == ([], cursor)


def test_unclosed_quote_at_the_end_keeps_the_cursor_before_its_row(tmp_path: Path) -> None:
    source = make_source(tmp_path, CSAT_HEADER + csat_rows(0, 2) + 'r2,2024-01-01,5,,"half\n')
    batches, cursor = run(source)
    assert ids(batches) == ["r0", "r1", "r2"]
    with source.path.open("a") as file:
        file.write('done"\nr3,2024-01-01,5,,\n')
    batches, _ = run(source, cursor)
    assert [(r.external_id, r.comment) for r in responses(batches)] == [
        ("r2", "half\ndone"), ("r3", "")]
    assert rejected(batches) == []


def test_unusable_cursor_reads_the_file_from_the_start(tmp_path: Path) -> None:
    source = make_source(tmp_path, CSAT_HEADER + csat_rows(0, 2))
    for cursor in ("not json", '{"v": 99}', '{"v": 1, "offset": -1}', "[]"):
        assert ids(run(source, cursor)[0]) == ["r0", "r1"]


def test_empty_and_header_only_files_yield_no_records_and_are_then_skipped(
        tmp_path: Path) -> None:
    for content in ("", CSAT_HEADER):
        source = make_source(tmp_path, content)
        batches, cursor = run(source)
        assert ids(batches) == [] and rejected(batches) == [] and cursor is not None
        assert run(source, cursor) == ([], cursor)


# Batches and crashes ---------------------------------------------------------------------


def test_batches_hold_at_most_batch_size_rows_each_with_its_cursor(tmp_path: Path) -> None:
    source = make_source(tmp_path, CSAT_HEADER + csat_rows(0, 10), batch_size=4)
    batches, _ = run(source)
    assert [len(b) for b in batches] == [4, 4, 2]
    offsets = [json.loads(b.cursor or "")["offset"] for b in batches]
    assert offsets == sorted(offsets) and offsets[-1] == source.path.stat().st_size
    exact = make_source(tmp_path, CSAT_HEADER + csat_rows(0, 10), batch_size=5)
    assert [len(b) for b in run(exact)[0]] == [5, 5]  # no empty batch trailing


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
@pytest.mark.parametrize("stop_after", [1, 2, 3])
def test_restart_after_a_crash_loses_nothing_and_repeats_at_most_one_batch(
        tmp_path: Path, kind: str, stop_after: int) -> None:
    source = make_source(tmp_path, _csat_file(kind, 0, 25), path=f"data.{kind}", type=kind,
                         batch_size=6)
    stored: list[str] = []
    saved: str | None = None
    batches = source.batches(None)
    for _ in range(stop_after):  # each batch is stored with its cursor in one transaction
        batch = next(batches)
        stored += ids([batch])
        saved = batch.cursor
    next(batches)  # read, then the worker dies before storing it
    del batches
    restarted = ids(run(source, saved)[0])
    assert set(stored) | set(restarted) == {f"r{i}" for i in range(25)}
    assert len(set(stored) & set(restarted)) == 0  # the unsaved batch is read again, no more
    assert len(stored) + len(restarted) == 25


def test_memory_stays_flat_as_the_file_grows(tmp_path: Path) -> None:
    def peak(rows: int) -> int:
        source = make_source(tmp_path, CSAT_HEADER + csat_rows(0, rows), path=f"m{rows}.csv",
                             batch_size=500)
        tracemalloc.start()
        try:
            for _ in source.batches(None):
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(5_000), peak(40_000)
    assert large < small * 1.5 + 200_000


# Errors and check() ----------------------------------------------------------------------


def test_missing_file_raises_source_error_naming_source_and_path(tmp_path: Path) -> None:
    source = FileSource(FileSourceConfig(name="survey", type="csv", kind="csat",
                                         path=Path("gone.csv")), tmp_path)
    with pytest.raises(SourceError, match=r"source 'survey': cannot read .*gone\.csv"):
        next(source.batches(None))
    assert len(source.check()) == 1 and "gone.csv" in source.check()[0]


def test_a_folder_in_place_of_the_file_raises_source_error(tmp_path: Path) -> None:
    (tmp_path / "folder.csv").mkdir()
    source = FileSource(FileSourceConfig(name="survey", type="csv", kind="csat",
                                         path=Path("folder.csv")), tmp_path)
    with pytest.raises(SourceError, match=r"source 'survey': cannot read .*folder\.csv"):
        next(source.batches(None))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_raises_source_error(tmp_path: Path) -> None:
    source = make_source(tmp_path, CSAT_HEADER)
    source.path.chmod(0)
    with pytest.raises(SourceError, match="Permission denied"):
        next(source.batches(None))


def test_header_without_a_required_column_fails_with_the_columns_found_and_the_fix(
        tmp_path: Path) -> None:
    source = make_source(tmp_path, "ID,When,Rating\nr1,2024-01-01,5\n")
    with pytest.raises(SourceError) as caught:
        next(source.batches(None))
    message = str(caught.value)
    assert "no column 'submitted_at' (for submitted_at), 'score' (for score)" in message
    assert "columns found: 'ID', 'When', 'Rating'" in message
    assert 'columns = { submitted_at = "Your Column", score = "Your Column" }' in message
    assert source.check() == [message]


def test_unknown_field_in_columns_is_an_error(tmp_path: Path) -> None:
    source = make_source(tmp_path, CSAT_HEADER, columns={"scroe": "Rating"})
    with pytest.raises(SourceError, match=r"maps unknown field.* scroe"):
        next(source.batches(None))
    assert "scroe" in source.check()[0]


def test_check_is_empty_for_a_good_file_and_names_missing_mapped_or_segment_columns(
        tmp_path: Path) -> None:
    assert make_source(tmp_path, CSAT_HEADER).check() == []
    source = make_source(tmp_path, CSAT_HEADER, segments=["plan"], columns={"tags": "Labels"})
    [problem] = source.check()
    assert "'Labels' (for tags), 'plan' (for plan)" in problem
    assert make_source(tmp_path, "").check() == [
        f"source 'survey': {tmp_path / 'data.csv'} is empty; it needs a header row"]


def test_check_reads_the_first_jsonl_object(tmp_path: Path) -> None:
    def check(content: str) -> list[str]:
        return make_source(tmp_path, content, path="d.jsonl", type="jsonl").check()

    assert check('\n{"id": 1, "submitted_at": 0, "score": 5}\n') == []
    assert check('{"id": 1, "submitted_at": 0, "status": "offered"}\n') == []
    assert "no column 'submitted_at'" in check('{"id": 1, "when": 0, "score": 5}\n')[0]
    assert "line 1 is not JSON" in check("{oops\n")[0]
    assert "line 1 holds a JSON list" in check("[1, 2]\n")[0]
    assert check("\n") == [f"source 'survey': {tmp_path / 'd.jsonl'} is empty"]


def test_hash_range_refuses_a_file_shorter_than_the_range(tmp_path: Path) -> None:
    (tmp_path / "short").write_bytes(b"0123456789")
    fd = os.open(tmp_path / "short", os.O_RDONLY)
    try:
        with pytest.raises(OSError, match="shrank"):
            hash_range(fd, hashlib.sha256(), 0, 100)
    finally:
        os.close(fd)


def _csat_file(kind: str, start: int, stop: int, header: bool = True) -> str:
    if kind == "csv":
        return (CSAT_HEADER if header else "") + csat_rows(start, stop)
    return "".join(json.dumps({"id": f"r{i}", "submitted_at": f"2024-01-01T00:00:{i % 60:02d}Z",
                               "score": i % 5 + 1}) + "\n" for i in range(start, stop))


def _bad_row(kind: str) -> str:
    return "r9,never,5,,\n" if kind == "csv" else '{"id": "r9", "submitted_at": "never"}\n'
