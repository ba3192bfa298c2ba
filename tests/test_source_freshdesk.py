"""Freshdesk source against a fake Freshdesk (ratings: the documentation's own example)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from impactlink.config import FreshdeskSourceConfig
from impactlink.errors import SourceError
from impactlink.sources import freshdesk
from impactlink.sources.base import Batch
from impactlink.sources.freshdesk import RATINGS, SURVEYS, TICKETS, FreshdeskSource
from test_source_http import FakeClock, Vendor, assert_resumes, fixture

BASE = "https://acme.freshdesk.com"


def ticket(tid: int, updated: str = "2015-08-24T11:59:05Z", **changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = fixture("freshdesk_ticket_constructed.json")
    return {**raw, "id": tid, "updated_at": updated, **changes}


TICKETS_SERVED = [
    ticket(20), ticket(21, "2015-08-28T011:08:16Z"),
    ticket(22, "2015-08-25T10:00:00Z", company_id=None, tags=["Checkout"], status=5,
           subject="Refund stuck", custom_fields={"cf_jira_key": "SHOP-9", "cf_area": None}),
    ticket(23, "2015-08-26T10:00:00Z", company_id=2),
]
DELETED = [ticket(30, "2015-08-27T10:00:00Z")]


def derived_ratings() -> list[dict[str, Any]]:
    doc = fixture("freshdesk_satisfaction_ratings_list.json")[0]
    return [{**doc, "id": 120, "survey_id": 2, "ticket_id": 22,
             "ratings": {"default_question": 102}},
            {**doc, "id": 121, "survey_id": 3, "ticket_id": 23,
             "ratings": {"default_question": -103}},
            {**doc, "id": 122, "survey_id": 9, "ratings": {"default_question": 103}},
            {**doc, "id": 123, "survey_id": 2, "ratings": {"default_question": 101}}]


def paged(items: list[dict[str, Any]],
          size: int = 2) -> Callable[[httpx.Request], httpx.Response]:
    """Serve items from the since filter on, ``size`` a page, with a Link header while more
    follow (an unparseable time passes the filter, as it cannot be compared)."""
    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        page = int(params["page"])
        key = "updated_at" if "updated_since" in params else "created_at"
        since = params.get("updated_since") or params["created_since"]
        kept = [i for i in items if not valid(i[key]) or i[key] >= since]
        headers = {}
        if page * size < len(kept):
            headers["Link"] = f'<{BASE}{request.url.path}?page={page + 1}>; rel="next"'
        return httpx.Response(200, json=kept[(page - 1) * size:page * size], headers=headers)
    return handler


def valid(stamp: str) -> bool:
    try:
        datetime.fromisoformat(stamp)
    except ValueError:
        return False
    return True


def tickets(request: httpx.Request) -> httpx.Response:
    """A list carries the description fields only when include=description asks for them."""
    deleted = request.url.params.get("filter") == "deleted"
    served = DELETED if deleted else TICKETS_SERVED
    if "description" not in request.url.params.get("include", "").split(","):
        served = [{k: v for k, v in t.items() if not k.startswith("description")}
                  for t in served]
    return paged(served)(request)


def company(request: httpx.Request) -> httpx.Response:
    raw = fixture("freshdesk_company_constructed.json")
    if request.url.path.endswith("/2"):
        raw.update(id=2, name="Orbit", custom_fields={"plan": "starter", "arr": "lots"})
    return httpx.Response(200, json=raw)


def freshdesk_api(*first: httpx.Response) -> Vendor:
    vendor = Vendor()
    vendor.on("GET", TICKETS, *first, tickets)
    ratings = fixture("freshdesk_satisfaction_ratings_list.json") + derived_ratings()
    vendor.on("GET", RATINGS, paged(ratings))
    surveys = fixture("freshdesk_surveys_constructed.json")
    vendor.on("GET", SURVEYS, httpx.Response(200, json=surveys))
    for cid in (1, 2):
        vendor.on("GET", f"/api/v2/companies/{cid}", company)
    return vendor


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FD_KEY", "fd-s3cr3t")


def source(vendor: Vendor, clock: FakeClock | None = None) -> FreshdeskSource:
    config = FreshdeskSourceConfig(
        type="freshdesk", name="fd", domain="acme", api_key_env="FD_KEY",
        start_date="2015-01-01T00:00:00Z", tag_fields={"cf_area": "area"},
        segment_fields={"cf_region": "region"}, reference_fields=["cf_jira_key"],
        plan_field="plan", arr_field="arr", segments=["plan"])
    clock = clock or FakeClock()
    return FreshdeskSource(config, Path("."), client=vendor.client(), sleep=clock.sleep,
                           clock=clock.time)


def run(vendor: Vendor, cursor: str | None = None, clock: FakeClock | None = None) -> list[Batch]:
    return list(source(vendor, clock).batches(cursor))


def test_small_run_matches_hand_expectations() -> None:
    batches = run(freshdesk_api())
    tickets_ = {t.external_id: t for b in batches for t in b.tickets}
    assert sorted(tickets_) == ["20", "22", "23"]
    t20, t22 = tickets_["20"], tickets_["22"]
    assert (t20.customer_id, t20.status, t20.tags) == ("1", "open", ("checkout", "payments"))
    assert t20.segments == (("plan", "enterprise"), ("region", "EU"))
    assert t20.created_at == datetime(2015, 8, 24, 11, 56, 51, tzinfo=UTC)
    assert (t22.customer_id, t22.status, t22.refs) == (None, "closed", ("SHOP-9",))
    assert tickets_["23"].customer_id is None  # its company was malformed
    customers = [c for b in batches for c in b.customers]
    assert [(c.external_id, c.name, c.plan, c.arr) for c in customers] == [
        ("1", "SuperNova", "enterprise", 50000.0)]
    assert [d for b in batches for d in b.deleted_tickets] == ["30"]
    responses = {r.external_id: r for b in batches for r in b.responses}
    assert {k: (r.score, r.satisfied, r.ticket_id) for k, r in responses.items()} == {
        "102": (7.0, True, "432"), "120": (4.0, True, "22"), "121": (0.0, False, "23")}
    assert responses["102"].comment == "Thank you for the quick action"
    assert responses["102"].submitted_at == datetime(2015, 8, 28, 9, 8, 16, tzinfo=UTC)
    assert responses["120"].ticket_source == "fd" and responses["120"].respondent_id == "2"


def test_malformed_records_are_quarantined_not_fatal() -> None:
    rejected = [r for b in run(freshdesk_api()) for r in b.rejected]
    assert [r.location for r in rejected] == [
        f"{TICKETS} id=21", "/api/v2/companies id=2", f"{RATINGS} id=112",
        f"{RATINGS} id=122", f"{RATINGS} id=123"]
    assert "2015-08-28T010:08:16Z" in rejected[2].reason  # the documentation's own typo
    assert "survey 9" in rejected[3].reason and "101" in rejected[4].reason


def test_pagination_follows_link_headers_to_the_end() -> None:
    vendor = freshdesk_api()
    run(vendor)
    plain = [r.url.params for r in vendor.calls(TICKETS) if "filter" not in r.url.params]
    assert [p["page"] for p in plain] == ["1", "2"]
    assert plain[0]["updated_since"] == "2015-01-01T00:00:00Z"
    assert plain[0]["order_by"] == "updated_at" and plain[0]["order_type"] == "asc"
    assert len(vendor.calls(SURVEYS)) == 1


def test_page_cap_moves_the_window_forward(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(freshdesk, "MAX_PAGE", 2)
    vendor = freshdesk_api()
    served = [ticket(40 + n, f"2015-09-0{1 + n}T00:00:00Z") for n in range(5)]
    vendor.on("GET", TICKETS, paged(served))
    vendor.on("GET", RATINGS, paged(fixture("freshdesk_satisfaction_ratings_list.json")))
    got = [t.external_id for b in run(vendor) for t in b.tickets]
    plain = [r.url.params for r in vendor.calls(TICKETS) if "filter" not in r.url.params]
    assert [(p["page"], p["updated_since"]) for p in plain] == [
        ("1", "2015-01-01T00:00:00Z"), ("2", "2015-01-01T00:00:00Z"),
        ("1", "2015-09-04T00:00:00Z")]
    assert got == ["40", "41", "42", "43", "44"]  # 43, replayed at the watermark, dropped


def test_page_cap_on_one_timestamp_stops_instead_of_looping(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(freshdesk, "MAX_PAGE", 1)
    vendor = freshdesk_api()
    vendor.on("GET", TICKETS, paged([ticket(50 + n) for n in range(3)]))
    with pytest.raises(SourceError, match="share one updated_at"):
        run(vendor)


def test_next_run_starts_at_the_watermark() -> None:
    vendor = freshdesk_api()
    again = run(vendor, run(vendor)[-1].cursor)
    assert vendor.calls(TICKETS)[-1].url.params["updated_since"] == "2015-08-27T10:00:00Z"
    assert not [t for b in again for t in b.tickets]


def test_resume_after_a_crash_loses_nothing_and_rereads_at_most_one_page() -> None:
    vendor = freshdesk_api()
    assert_resumes(lambda cursor: source(vendor).batches(cursor), run(vendor))


def test_429_then_success_honours_retry_after() -> None:
    clock = FakeClock()
    vendor = freshdesk_api(httpx.Response(429, headers={"Retry-After": "30"}))
    assert [t for b in run(vendor, clock=clock) for t in b.tickets]
    assert clock.sleeps == [30.0]


def test_401_names_the_source_and_the_fix_without_the_key() -> None:
    vendor = Vendor()
    vendor.on("GET", "/api/v2/agents/me", httpx.Response(401, json={"code": "invalid_credentials"}))
    problems = source(vendor).check()
    assert problems[0].startswith("fd: Freshdesk refused the credentials")
    assert "api_key_env" in problems[0] and "fd-s3cr3t" not in problems[0]
    expected = base64.b64encode(b"fd-s3cr3t:X").decode()
    assert vendor.requests[0].headers["Authorization"] == f"Basic {expected}"
    assert str(vendor.requests[0].url) == f"{BASE}/api/v2/agents/me"


def test_config_needs_a_domain() -> None:
    with pytest.raises(ValueError, match="domain"):
        FreshdeskSourceConfig(type="freshdesk", name="fd")


def test_a_deleted_company_leaves_the_ticket_without_an_account() -> None:
    vendor = freshdesk_api()
    vendor.on("GET", "/api/v2/companies/1", httpx.Response(404, json={}))
    tickets_ = {t.external_id: t for b in run(vendor) for t in b.tickets}
    assert tickets_["20"].customer_id is None


def test_description_text_reaches_the_ticket() -> None:
    vendor = freshdesk_api()
    tickets_ = {t.external_id: t for b in run(vendor) for t in b.tickets}
    assert tickets_["20"].subject == "Checkout page times out"
    assert tickets_["20"].description == "Details about the issue..."
    plain = [r.url.params for r in vendor.calls(TICKETS) if "filter" not in r.url.params]
    assert {p["include"] for p in plain} == {"description"}


def test_references_in_the_description_and_the_feedback_become_refs() -> None:
    vendor = freshdesk_api()
    vendor.on("GET", TICKETS, paged([ticket(60, description_text="Same as SHOP-31")]))
    feedback = {**fixture("freshdesk_satisfaction_ratings_list.json")[0],
                "feedback": "Still failing, https://jira.acme.test/browse/SHOP-32"}
    vendor.on("GET", RATINGS, paged([feedback]))
    batches = run(vendor)
    assert [t.refs for b in batches for t in b.tickets] == [("SHOP-31",)]
    assert [r.refs for b in batches for r in b.responses] == [("SHOP-32",)]
