"""Issue #10, items 1 and 2: each found trigger is quarantined, each wrong accept refused or
repaired by rule — in the file readers, the vendor parsers and the store alike."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from hostile.harness import vendor_batches
from impactlink.config import ConfigError, FileSourceConfig, parse_settings
from impactlink.config_sources import ticket_source_problems
from impactlink.core.models import Customer, Rejected, Response, Ticket
from impactlink.core.scales import parse_score
from impactlink.errors import SourceError
from impactlink.sources.base import Batch
from impactlink.sources.files import FileSource
from impactlink.sources.payloads import amount, parse_time
from impactlink.store import records
from impactlink.store.records import CURSORS, QUARANTINE, RESPONSES, TICKETS
from test_file_sources import CSAT_HEADER, ids, make_source, rejected, responses, run

JAN1 = "2024-01-01T00:00:00Z"


def jsonl(*objects: dict[str, Any]) -> str:
    return "".join(json.dumps(o) + "\n" for o in objects)


def reasons(batches: list[Batch]) -> list[str]:
    return [r.reason for r in rejected(batches)]


# Found triggers: each was fatal to the whole cycle, each is now one quarantine entry -----------


def test_an_offset_time_at_the_calendars_edge_is_quarantined(tmp_path: Path) -> None:
    edge = "9999-12-31T23:59:59-01:00"  # past the calendar's end once in UTC: OverflowError
    batches, _ = run(make_source(tmp_path, f"{CSAT_HEADER}r1,{edge},5,,\nr2,{JAN1},5,,\n"))
    assert ids(batches) == ["r2"]
    assert reasons(batches) == [f"submitted_at {edge!r} is outside the years 1000 to 8999"]
    read, error, crash = vendor_batches("zendesk", "time", json.dumps(edge).encode())
    assert (error, crash) == (None, None)
    assert [t.external_id for b in read for t in b.tickets] == ["g1"]
    assert "out of range" in next(r.reason for b in read for r in b.rejected)


def test_an_out_of_range_epoch_from_a_vendor_is_quarantined() -> None:
    for vendor in ("intercom", "delighted"):  # their times are epoch seconds: OverflowError
        read, error, crash = vendor_batches(vendor, "time", b"100000000000000000000")
        assert (error, crash) == (None, None), vendor
        assert [r.reason for b in read for r in b.rejected] == [
            "time 100000000000000000000 is out of range"]
    with pytest.raises(ValueError, match="out of range"):
        parse_time(float("nan"))


def test_a_lone_surrogate_in_json_is_repaired_in_text_and_refused_in_an_id(
        tmp_path: Path) -> None:
    content = ('{"id": "r1", "submitted_at": "2024-01-01", "score": 5, "comment": "a\\ud800b"}\n'
               '{"id": "r2\\udc00", "submitted_at": "2024-01-01", "score": 5}\n')
    batches, _ = run(make_source(tmp_path, content, path="d.jsonl", type="jsonl"))
    assert [(r.external_id, r.comment) for r in responses(batches)] == [("r1", "a\ufffdb")]
    assert sum(b.repaired for b in batches) == 1
    assert reasons(batches) == ["id holds a NUL byte or invalid UTF-8"]
    read, error, _ = vendor_batches("delighted", "text", b'"slow \\udfff"')
    assert error is None and [r.comment for b in read for r in b.responses] == [
        "slow", "slow \ufffd"]


def test_deeply_nested_json_is_quarantined_in_a_file_and_refused_as_a_page(
        tmp_path: Path) -> None:
    deep = "[" * 5000 + "]" * 5000  # RecursionError in json.loads
    content = (f'{{"id": "r1", "submitted_at": "2024-01-01", "score": 5, "tags": {deep}}}\n'
               '{"id": "r2", "submitted_at": "2024-01-01", "score": 5}\n')
    batches, _ = run(make_source(tmp_path, content, path="d.jsonl", type="jsonl"))
    assert ids(batches) == ["r2"] and reasons(batches) == ["not valid JSON: nested too deeply"]
    _, error, crash = vendor_batches("zendesk", "text", deep.encode())
    assert crash is None and error is not None and "nested too deeply" in error


def test_a_cr_only_csv_is_read_row_by_row(tmp_path: Path) -> None:
    content = "id,submitted_at,score,comment\rr1,2024-01-01,5,a\rr2,2024-01-01,4,\"two\rlines\"\r"
    source = make_source(tmp_path, content)
    batches, cursor = run(source)
    assert [(r.external_id, r.comment) for r in responses(batches)] == [
        ("r1", "a"), ("r2", "two\rlines")]
    assert run(source, cursor) == ([], cursor)
    # A CR as the file's last byte may be half a CRLF: its row is read again as the file grows.
    assert json.loads(cursor or "")["offset"] == content.index("r2")
    with source.path.open("a", newline="") as file:
        file.write("r3,2024-01-01,3,c\r")
    assert ids(run(source, cursor)[0]) == ["r2", "r3"]


def test_a_nul_byte_is_removed_from_text_and_refused_in_an_id_on_both_stores(
        engine: Engine) -> None:
    """By rule (sources.screen): text loses its NUL bytes, an id with one is quarantined."""
    when = datetime(2024, 1, 1, tzinfo=UTC)
    batch = Batch(responses=[Response("s", "r1", when, score=5.0, satisfied=True,
                                      comment="fine\x00 thanks"),
                             Response("s", "r2\x00", when, score=5.0, satisfied=True)])
    assert records.save_batch(engine, "s", batch, lambda tags, refs: "") == 0
    with engine.connect() as conn:
        stored = conn.execute(select(RESPONSES.c.external_id, RESPONSES.c.comment)).all()
        quarantined = conn.execute(select(QUARANTINE.c.location, QUARANTINE.c.reason)).all()
    assert [tuple(row) for row in stored] == [("r1", "fine thanks")]
    assert [tuple(row) for row in quarantined] == [
        ("response id=r2\ufffd", "id holds a NUL byte or invalid UTF-8")]
    assert batch.repaired == 1


def test_arr_that_overflows_to_infinity_is_quarantined(tmp_path: Path) -> None:
    read, error, _ = vendor_batches("zendesk", "arr", b'"1.7e308"', arr_multiplier=12)
    assert error is None and [c.external_id for b in read for c in b.customers] == ["g1"]
    assert [r.reason for b in read for r in b.rejected] == ["arr '1.7e308' is not a finite number"]
    batches, _ = run(make_source(tmp_path, "id,arr\nc1,1e309\nc2,5\n", kind="customers"))
    assert ids(batches) == ["c2"] and reasons(batches) == ["arr '1e309' is not a finite number"]


# Wrong accepts: refused or repaired by rule ----------------------------------------------------


@pytest.mark.parametrize(("cell", "reason"), [
    ("-5", "arr '-5' is negative"), ("1e19", "arr '1e19' is above 10**18"),
    ("1_000", "arr '1_000' is not a number"), ("\u0664", "arr '\u0664' is not a number")])
def test_negative_or_unreadable_arr_is_quarantined(tmp_path: Path, cell: str, reason: str) -> None:
    batches, _ = run(make_source(tmp_path, f"id,arr\nc1,{cell}\n", kind="customers"))
    assert ids(batches) == [] and reasons(batches) == [reason]
    with pytest.raises(ValueError):
        amount(cell)


@pytest.mark.parametrize("raw", ["\u0664", "\uff14", "0_4", "4,0", "+4", "4e0", " 0x4", "\u00b2"])
def test_scores_in_other_numeral_systems_or_with_separators_are_refused(
        tmp_path: Path, raw: str) -> None:
    with pytest.raises(ValueError, match="not a number"):
        parse_score(raw, "1-5")
    quoted = f'"{raw}"' if "," in raw else raw
    batches, _ = run(make_source(tmp_path, f"{CSAT_HEADER}r1,{JAN1},{quoted},,\n"))
    assert ids(batches) == [] and reasons(batches) == [f"score {raw.strip()!r} is not a number"]


def test_ascii_scores_with_one_decimal_point_are_read() -> None:
    assert [parse_score(raw, "1-5") for raw in ("4", " 4.5 ", "4.", "1.0")] == [4, 4.5, 4, 1]


def test_a_json_list_as_a_score_is_refused(tmp_path: Path) -> None:
    content = jsonl({"id": "r1", "submitted_at": JAN1, "score": ["4"]},
                    {"id": "r2", "submitted_at": JAN1, "score": 4, "tags": ["a", "b"]})
    batches, _ = run(make_source(tmp_path, content, path="d.jsonl", type="jsonl"))
    assert ids(batches) == ["r2"] and responses(batches)[0].tags == ("a", "b")
    assert reasons(batches) == ["score is a JSON list, not a single value"]
    read, _, _ = vendor_batches("delighted", "score", b'["4"]')
    assert [r.reason for b in read for r in b.rejected] == ["score of type list is not a number"]


def test_an_object_as_an_id_is_refused(tmp_path: Path) -> None:
    content = jsonl({"id": {"$oid": "r1"}, "submitted_at": JAN1, "score": 4},
                    {"id": "r2", "submitted_at": JAN1, "score": 4, "customer_id": [1]})
    batches, _ = run(make_source(tmp_path, content, path="d.jsonl", type="jsonl"))
    assert ids(batches) == []
    assert reasons(batches) == ["id is a JSON object, not a single value",
                                "customer_id is a JSON list, not a single value"]
    for vendor in ("zendesk", "intercom", "freshdesk", "delighted"):
        read, _, _ = vendor_batches(vendor, "id", b'{"$oid": "h1"}')
        assert any("id (a JSON object) is not a string or an integer" in r.reason
                   for b in read for r in b.rejected), vendor


def test_a_byte_order_mark_mid_file_is_not_kept_in_an_id(tmp_path: Path) -> None:
    part = CSAT_HEADER + f"r1,{JAN1},5,,\n"
    joined = ("\ufeff" + part + "\ufeff" + f"r2,{JAN1},4,,\n").encode()  # two exports, cat'ed
    batches, _ = run(make_source(tmp_path, joined))
    assert ids(batches) == ["r1", "r2"]
    lines = ("\ufeff" + jsonl({"id": "r3", "submitted_at": JAN1, "score": 5})) * 2
    batches, _ = run(make_source(tmp_path, lines, path="d.jsonl", type="jsonl"))
    assert ids(batches) == ["r3", "r3"] and rejected(batches) == []


def test_ticket_source_naming_no_source_is_a_configuration_error() -> None:
    configs = [FileSourceConfig(name="survey", type="csv", kind="csat", path=Path("a.csv"),
                                ticket_source="desk"),
               FileSourceConfig(name="tickets", type="csv", kind="tickets", path=Path("b.csv"))]
    assert ticket_source_problems(configs) == [
        "sources[0] (name = 'survey').ticket_source: no source named 'desk'; known: survey, "
        "tickets"]
    assert ticket_source_problems(configs[1:]) == []
    with pytest.raises(ConfigError) as refused:
        parse_settings({"sources": [c.model_dump(mode="json") for c in configs],
                        "tracker": {"type": "file", "path": "issues.json"}}, Path("."))
    assert "ticket_source: no source named 'desk'" in refused.value.problems[0]


def _source(tmp_path: Path, **settings: Any) -> FileSource:
    config = FileSourceConfig(name="s", type="csv", kind="csat", path=Path("data.csv"),
                              **settings)
    return FileSource(config, tmp_path)


@pytest.mark.parametrize(("before", "after", "field", "values"), [
    ({"scale": "1-10"}, {"scale": "1-5"}, "satisfied", (False, True)),
    ({"columns": {"comment": "note"}}, {"columns": {"comment": "text"}}, "comment", ("n", "t")),
    ({"segments": ["plan"]}, {"segments": []}, "segments", ((("plan", "pro"),), ())),
])
def test_a_change_of_scale_or_columns_reads_the_file_again(
        tmp_path: Path, before: dict[str, Any], after: dict[str, Any], field: str,
        values: tuple[Any, Any]) -> None:
    (tmp_path / "data.csv").write_text(f"id,submitted_at,score,note,text,plan\n"
                                       f"r1,{JAN1},4,n,t,pro\n")
    first = _source(tmp_path, **before)
    batches, cursor = run(first)
    assert run(first, cursor) == ([], cursor)  # nothing changed: nothing read
    again, _ = run(_source(tmp_path, **after), cursor)
    assert (getattr(responses(batches)[0], field), getattr(responses(again)[0], field)) == values


def test_a_change_of_delimiter_reads_the_file_again(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text(f"id;submitted_at;score\nr1;{JAN1};4\n")
    _, cursor = run(_source(tmp_path, delimiter=";"))
    with pytest.raises(SourceError, match="columns found: 'id;submitted_at;score'"):
        run(_source(tmp_path, delimiter=","), cursor)  # read again: its header, split anew


def test_an_unbalanced_quote_quarantines_its_row_and_the_rest_is_read(tmp_path: Path) -> None:
    content = (CSAT_HEADER + f"r1,{JAN1},5,,fine\n" + f'r2,{JAN1},4,,"never closed\n'
               + f"r3,{JAN1},3,,fine\n" + f"r4,{JAN1},2,,fine\n")
    source = make_source(tmp_path, content)
    batches, cursor = run(source)
    assert ids(batches) == ["r1", "r3", "r4"]
    assert rejected(batches) == [Rejected(
        "survey", "data.csv:3", "unbalanced quote: a quoted cell opened on this line is still "
        "open at the end of the file", f'r2,{JAN1},4,,"never closed')]
    # The cursor stays before the open quote: once the quote is closed, the row is read whole.
    assert json.loads(cursor or "")["line"] == 2
    with source.path.open("a") as file:
        file.write('done"\n')
    batches, _ = run(source, cursor)
    assert [(r.external_id, r.comment) for r in responses(batches)] == [
        ("r2", f"never closed\nr3,{JAN1},3,,fine\nr4,{JAN1},2,,fine\ndone")]


def test_an_unbalanced_quote_before_a_quoted_cell_loses_no_later_row(tmp_path: Path) -> None:
    content = (CSAT_HEADER + f'r1,{JAN1},5,,"never closed\n' + f"r2,{JAN1},4,,fine\n"
               + f'r3,{JAN1},3,,"quoted, fine"\n' + f"r4,{JAN1},2,,fine\n")
    batches, _ = run(make_source(tmp_path, content))
    assert ids(batches) == ["r2", "r3", "r4"]
    assert [r.location for r in rejected(batches)] == ["data.csv:2"]
    assert reasons(batches)[0].startswith("unbalanced quote: a quoted cell opened on this line "
                                          "runs over 2 more line(s)")


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_a_10_mb_line_is_quarantined_without_being_held_in_memory(tmp_path: Path,
                                                                  kind: str) -> None:
    huge = "x" * (10 << 20)
    if kind == "csv":
        content = f"{CSAT_HEADER}r1,{JAN1},5,,{huge}\nr2,{JAN1},4,,\n"
    else:
        content = jsonl({"id": "r1", "comment": huge}, {"id": "r2", "submitted_at": JAN1,
                                                        "score": 4})
    source = make_source(tmp_path, content, path=f"d.{kind}", type=kind)
    del huge, content
    tracemalloc.start()
    try:
        batches, _ = run(source)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ids(batches) == ["r2"]
    assert reasons(batches)[0].endswith("longer than 1048576 bytes")
    assert peak < 8 << 20  # a few 1 MiB reads at a time, never the line


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null"])
def test_a_device_as_the_path_is_a_source_error_not_an_endless_read(tmp_path: Path,
                                                                     path: str) -> None:
    source = FileSource(FileSourceConfig(name="s", type="jsonl", kind="csat", path=Path(path)),
                        tmp_path)
    with pytest.raises(SourceError, match="not a regular file"):
        next(source.batches(None))
    assert "not a regular file" in source.check()[0]


def test_invalid_utf8_in_a_comment_keeps_its_row_with_u_fffd_and_counts_as_repaired(
        tmp_path: Path) -> None:
    content = CSAT_HEADER.encode() + f"r1,{JAN1},5,,caf".encode() + b"\xe9\n" \
        + f"r2\xff,{JAN1},5,,\n".encode("latin-1")
    batches, _ = run(make_source(tmp_path, content))
    assert [(r.external_id, r.comment) for r in responses(batches)] == [("r1", "caf\ufffd")]
    assert sum(b.repaired for b in batches) == 1
    assert reasons(batches) == ["id holds a NUL byte or invalid UTF-8"]


def test_a_row_with_surplus_empty_trailing_cells_is_kept(tmp_path: Path) -> None:
    content = CSAT_HEADER + f"r1,{JAN1},5,,fine,,,\nr2,{JAN1},5,,fine, ,\nr3,{JAN1},5,,x,y\n"
    batches, _ = run(make_source(tmp_path, content))
    assert ids(batches) == ["r1", "r2"]
    assert reasons(batches) == ["has 6 columns where the header has 5"]


def test_the_zendesk_score_is_one_of_its_own_words() -> None:
    read, _, _ = vendor_batches("zendesk", "score", b'"0_4"')  # "0" on good/bad, once
    assert [r.external_id for b in read for r in b.responses] == ["g1"]
    assert [r.reason for b in read for r in b.rejected] == ["score '0_4' is not a Zendesk score"]


# A store error on one batch is narrowed to the rows that cause it -----------------------------


def test_a_store_error_is_narrowed_to_the_records_that_cause_it(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "screen_batch", lambda source, batch: batch)  # a rule's gap
    when = datetime(2024, 1, 1, tzinfo=UTC)
    batch = Batch(tickets=[Ticket("s", f"t{i}", when, subject="checkout") for i in range(5)],
                  responses=[Response("s", f"r{i}", when, score=4.0, satisfied=True,
                                      comment="card 4111 1111 1111 1111 \udce9" if i == 3
                                      else "fine") for i in range(6)],
                  customers=[Customer("s", "c1", "Acme")], cursor='{"page": 2}')
    assert records.save_batch(engine, "s", batch, lambda tags, refs: "") == 1
    with engine.connect() as conn:
        tickets = conn.execute(select(TICKETS.c.external_id)).scalars().all()
        kept = conn.execute(select(RESPONSES.c.external_id)).scalars().all()
        quarantine = conn.execute(select(QUARANTINE.c.source, QUARANTINE.c.location,
                                         QUARANTINE.c.reason, QUARANTINE.c.raw)).all()
        cursor = conn.execute(select(CURSORS.c.cursor)).scalar()
    assert sorted(tickets) == [f"t{i}" for i in range(5)]
    assert sorted(kept) == ["r0", "r1", "r2", "r4", "r5"]
    assert [tuple(q) for q in quarantine] == [
        ("s", "response id=r3", "the store refused it (UnicodeEncodeError)", "")]
    assert cursor == '{"page": 2}'  # stored after the rest: the batch is done


def test_a_store_that_fails_for_all_rows_alike_is_not_narrowed(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    def down(*args: object) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(records, "_store", down)
    batch = Batch(customers=[Customer("s", "c1", "Acme")], cursor='{"page": 2}')
    with pytest.raises(OperationalError):
        records.save_batch(engine, "s", batch, lambda tags, refs: "")
