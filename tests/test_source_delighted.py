"""Delighted source against a fake Delighted serving the API reference's examples."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from impactlink.config import DelightedSourceConfig
from impactlink.sources import delighted
from impactlink.sources.base import Batch
from impactlink.sources.delighted import METRICS, RESPONSES, DelightedSource
from test_source_http import FakeClock, Vendor, assert_resumes, fixture

T0 = 1713497396  # the example's created_at / updated_at


def response(rid: str, score: object, dt: int, **changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = fixture("delighted_survey_response_create.json")
    return {**raw, "id": rid, "score": score, "updated_at": T0 + dt, **changes}


SERVED = [
    fixture("delighted_survey_response_create.json"),
    response("3", 3, 10, comment="Checkout is slow", tags=["Detractor"], person="p3",
             person_properties={"customer_id": "acct-1", "plan": "pro", "company": "Acme",
                                "tags": "checkout; mobile", "ticket_id": "35436",
                                "arr": "24000", "platform": "ios"}),
    response("4", 10, 10, person_properties={"customer_id": "acct-1", "plan": "pro"}),
    response("5", 11, 20),
    response("6", 7, 30, created_at="2024-04-19T010:00:00Z"),
    response("7", 8, 40, person_properties={"customer_id": "acct-2", "tags": ["billing"]}),
]


def survey_responses(request: httpx.Request) -> httpx.Response:
    """Filter by updated_since (inclusive), order by updated_at, page by page and per_page."""
    params = request.url.params
    assert params["order"] == "asc:updated_at"
    size, page = int(params["per_page"]), int(params["page"])
    kept = [r for r in SERVED if r["updated_at"] >= int(params["updated_since"])]
    return httpx.Response(200, json=kept[(page - 1) * size:page * size])


def delighted_api(*first: httpx.Response) -> Vendor:
    vendor = Vendor()
    vendor.on("GET", RESPONSES, *first, survey_responses)
    vendor.on("GET", METRICS, httpx.Response(200, json=fixture("delighted_metrics.json")))
    return vendor


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delighted, "PER_PAGE", 2)
    monkeypatch.setenv("DL_KEY", "dl-s3cr3t")


def source(vendor: Vendor, clock: FakeClock | None = None, **extra: Any) -> DelightedSource:
    config = DelightedSourceConfig(**{
        "type": "delighted", "name": "nps", "api_key_env": "DL_KEY", "ticket_source": "zd",
        "arr_field": "arr", "segments": ["plan"], "segment_fields": {"platform": "platform"},
        "start_date": "2024-01-01T00:00:00Z", **extra})
    clock = clock or FakeClock()
    return DelightedSource(config, Path("."), client=vendor.client(), sleep=clock.sleep,
                           clock=clock.time)


def run(vendor: Vendor, cursor: str | None = None, clock: FakeClock | None = None) -> list[Batch]:
    return list(source(vendor, clock).batches(cursor))


def test_small_run_matches_hand_expectations() -> None:
    batches = run(delighted_api())
    responses = {r.external_id: r for b in batches for r in b.responses}
    assert {k: (r.score, r.satisfied, r.customer_id) for k, r in responses.items()} == {
        "2": (9.0, True, None), "3": (3.0, False, "acct-1"), "4": (10.0, True, "acct-1"),
        "7": (8.0, False, "acct-2")}
    r3 = responses["3"]
    assert r3.tags == ("checkout", "detractor", "mobile") and r3.comment == "Checkout is slow"
    assert (r3.ticket_source, r3.ticket_id, r3.respondent_id) == ("zd", "35436", "p3")
    assert r3.segments == (("plan", "pro"), ("platform", "ios"))
    assert responses["2"].submitted_at == datetime.fromtimestamp(T0, UTC)
    assert responses["2"].respondent_id == "1" and responses["2"].status == "answered"
    assert responses["7"].tags == ("billing",)
    customers = [(c.external_id, c.name, c.plan, c.arr) for b in batches for c in b.customers]
    assert customers == [("acct-1", "Acme", "pro", 24000.0), ("acct-2", "", None, None)]


def test_ticket_is_linked_only_when_ticket_source_is_set() -> None:
    batches = list(source(delighted_api(), ticket_source=None).batches(None))
    assert all(r.ticket_id is None and r.ticket_source is None
               for b in batches for r in b.responses)


def test_malformed_records_are_quarantined_not_fatal() -> None:
    rejected = [r for b in run(delighted_api()) for r in b.rejected]
    assert [r.location for r in rejected] == [f"{RESPONSES} id=5", f"{RESPONSES} id=6"]
    assert "outside the 0-10 scale" in rejected[0].reason
    assert "010:00:00" in rejected[1].reason


def test_pages_follow_the_watermark_to_the_end() -> None:
    vendor = delighted_api()
    batches = run(vendor)
    asked = [(r.url.params["updated_since"], r.url.params["page"])
             for r in vendor.calls(RESPONSES)]
    start = "1704067200"
    assert asked == [(start, "1"), (str(T0 + 10), "1"), (str(T0 + 10), "2"),
                     (str(T0 + 10), "3")]
    assert json.loads(batches[-1].cursor or "") == {"page": 1,
                                                    "since": {"at": T0 + 40, "ids": ["7"]}}


def test_next_run_drops_the_response_replayed_at_the_watermark() -> None:
    vendor = delighted_api()
    again = run(vendor, run(vendor)[-1].cursor)
    assert vendor.calls(RESPONSES)[-1].url.params["updated_since"] == str(T0 + 40)
    assert not [r for b in again for r in b.responses]


def test_resume_after_a_crash_loses_nothing_and_rereads_at_most_one_page() -> None:
    vendor = delighted_api()
    assert_resumes(lambda cursor: source(vendor).batches(cursor), run(vendor))


def test_429_then_success_honours_retry_after() -> None:
    clock = FakeClock()
    vendor = delighted_api(httpx.Response(429, headers={"Retry-After": "5"}))
    assert [r for b in run(vendor, clock=clock) for r in b.responses]
    assert clock.sleeps == [5.0]


def test_401_names_the_source_and_the_fix_without_the_key() -> None:
    vendor = Vendor()
    vendor.on("GET", METRICS, httpx.Response(401, json={"status": 401}))
    problems = source(vendor).check()
    assert problems[0].startswith("nps: Delighted refused the credentials (HTTP 401")
    assert "api_key_env" in problems[0] and "dl-s3cr3t" not in problems[0]
    assert vendor.requests[0].headers["Authorization"] == \
        "Basic " + base64.b64encode(b"dl-s3cr3t:").decode()


def test_check_passes_with_the_metrics_example() -> None:
    assert source(delighted_api()).check() == []


def test_start_cursor_reads_from_the_date() -> None:
    vendor = delighted_api()
    src = source(vendor)
    list(src.batches(src.start_cursor(datetime(2024, 4, 19, tzinfo=UTC))))
    assert vendor.calls(RESPONSES)[0].url.params["updated_since"] == "1713484800"


def test_comment_reaches_the_response_and_its_references_become_refs() -> None:
    vendor = delighted_api()
    derived = response("8", 2, 50, comment="Checkout still fails, see SHOP-31 (#4)")
    vendor.on("GET", RESPONSES, httpx.Response(200, json=[derived]))
    [found] = [r for b in run(vendor) for r in b.responses]
    assert found.comment == "Checkout still fails, see SHOP-31 (#4)"
    assert found.refs == ("SHOP-31",)
    doc = {r.external_id: r for b in run(delighted_api()) for r in b.responses}["2"]
    assert (doc.comment, doc.refs) == ("", ())  # the example's comment is null
