"""Zendesk source against a fake Zendesk serving the documentation's example payloads."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from impactlink.config import ZendeskSourceConfig
from impactlink.sources.base import Batch
from impactlink.sources.zendesk import EXPORT, JIRA_LINKS, RATINGS, ZendeskSource
from test_source_http import FakeClock, Vendor, assert_resumes, fixture, records

SURVEY = "01J58KJ9RAE0D2EK7HRVM7Z8F2"
SURVEY_RESPONSES = f"/api/v2/surveys/{SURVEY}/responses"
LAST_CURSOR = "MTU3NjYxMzUzOS4wfHw0Njd8"


def config(**extra: Any) -> ZendeskSourceConfig:
    base: dict[str, Any] = {
        "type": "zendesk", "name": "zd", "subdomain": "acme", "email_env": "ZD_EMAIL",
        "token_env": "ZD_TOKEN", "tag_fields": {"27660": "area"},
        "segment_fields": {"27642": "region"}, "reference_fields": ["27650"],
        "plan_field": "plan", "arr_field": "arr", "segments": ["plan"],
        "csat_surveys": True, "csat_survey_id": SURVEY, "start_date": "2009-01-01T00:00:00Z"}
    return ZendeskSourceConfig(**{**base, **extra})


def export_page(request: httpx.Request) -> httpx.Response:
    """Three pages: a derived one, one with a deleted and a malformed ticket, the doc's own."""
    cursor = request.url.params.get("cursor")
    example = fixture("zendesk_incremental_tickets_cursor.json")
    ticket = example["tickets"][0]
    if cursor is None:
        first = {**ticket, "id": 35440, "organization_id": 4112492,
                 "subject": "Checkout fails, see SHOP-12", "satisfaction_rating": None,
                 "custom_fields": [{"id": 27660, "value": "checkout_bug"},
                                   {"id": 27650, "value": "acme/shop#7"}]}
        return httpx.Response(200, json={"tickets": [first], "after_cursor": "c1",
                                         "end_of_stream": False})
    if cursor == "c1":
        deleted = {**ticket, "id": 35441, "status": "deleted"}
        malformed = {**ticket, "id": 35442, "created_at": "2015-08-28T010:08:16Z"}
        return httpx.Response(200, json={"tickets": [deleted, malformed], "after_cursor": "c2",
                                         "end_of_stream": False})
    if cursor == "c2":
        example["organizations"] = [organization(509974)]
        return httpx.Response(200, json=example)
    assert cursor == LAST_CURSOR
    return httpx.Response(200, json={"tickets": [], "after_cursor": LAST_CURSOR,
                                     "end_of_stream": True})


def organization(oid: int) -> dict[str, Any]:
    org: dict[str, Any] = fixture("zendesk_organization_show.json")["organization"]
    if oid != org["id"]:  # derived: the ticket example's organization, with plan and ARR
        org.update(id=oid, name="Printer Co", organization_fields={"plan": "enterprise",
                                                                   "arr": "120000"})
    return org


def show_many(request: httpx.Request) -> httpx.Response:
    ids = request.url.params["ids"].split(",")
    return httpx.Response(200, json={"organizations": [organization(int(i)) for i in ids]})


def ratings_page(request: httpx.Request) -> httpx.Response:
    """Two pages, derived then the doc's own, filtered by start_time on updated_at."""
    page = ratings_unfiltered(request)
    since = datetime.fromtimestamp(int(request.url.params["start_time"]), UTC)
    page["satisfaction_ratings"] = [r for r in page["satisfaction_ratings"]
                                    if datetime.fromisoformat(r["updated_at"]) >= since]
    return httpx.Response(200, json=page)


def ratings_unfiltered(request: httpx.Request) -> dict[str, Any]:
    if request.url.params.get("page[after]") == "r1":
        return dict(fixture("zendesk_satisfaction_ratings_list.json"))
    base = {"assignee_id": 135, "group_id": 44, "requester_id": 7881,
            "created_at": "2011-07-20T22:55:29Z", "updated_at": "2011-07-21T08:00:00Z"}
    derived = [{**base, "id": 9001, "score": "offered", "comment": None, "ticket_id": 35436},
               {**base, "id": 9002, "score": "unoffered", "comment": None, "ticket_id": 35436},
               {**base, "id": 9003, "score": "bad", "comment": "Still broken", "ticket_id": 35440},
               {**base, "id": 9004, "score": "meh", "comment": None, "ticket_id": 35440}]
    return {"satisfaction_ratings": derived, "meta": {"has_more": True, "after_cursor": "r1"}}


def survey_page(request: httpx.Request) -> httpx.Response:
    skipped = fixture("zendesk_csat_survey_response.json")
    rated = {**skipped, "id": "01J1WB51MG6HXTYWE6Q0C93RNX",
             "subjects": [{"id": "35436", "type": "ticket", "zrn": "zen:ticket:35436"}],
             "answers": [{"type": "rating_scale", "rating": 4,
                          "created_at": "2024-08-15T12:00:00.000Z",
                          "updated_at": "2024-08-15T12:00:00.000Z",
                          "question": {"type": "rating_scale", "id": "01GFYBENPDGN"}}]}
    return httpx.Response(200, json={"survey_responses": [skipped, rated],
                                     "meta": {"has_more": False, "after_cursor": "s1"}})


def jira_page(request: httpx.Request) -> httpx.Response:
    doc = fixture("zendesk_jira_link.json")  # issue_key "153425890A" is no Jira key
    more = [{**doc, "id": 1235, "issue_key": "SHOP-12", "ticket_id": "35440"},
            {**doc, "id": 1236, "issue_key": "SHOP-13", "ticket_id": "35440"}]
    return httpx.Response(200, json={"links": [doc, *more]})


def zendesk(*first_export: httpx.Response) -> Vendor:
    vendor = Vendor()
    vendor.on("GET", EXPORT, *first_export, export_page)
    vendor.on("GET", "/api/v2/organizations/show_many.json", show_many)
    vendor.on("GET", RATINGS, ratings_page)
    vendor.on("GET", SURVEY_RESPONSES, survey_page)
    vendor.on("GET", JIRA_LINKS, jira_page)
    return vendor


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZD_EMAIL", "agent@acme.test")
    monkeypatch.setenv("ZD_TOKEN", "zd-s3cr3t")


def source(vendor: Vendor, clock: FakeClock, **extra: Any) -> ZendeskSource:
    return ZendeskSource(config(**extra), Path("."), client=vendor.client(),
                         sleep=clock.sleep, clock=clock.time)


def run(vendor: Vendor, clock: FakeClock | None = None, cursor: str | None = None) -> list[Batch]:
    return list(source(vendor, clock or FakeClock()).batches(cursor))


def test_small_run_matches_hand_expectations() -> None:
    batches = run(zendesk())
    tickets = {t.external_id: t for b in batches for t in b.tickets}
    assert sorted(tickets) == ["35436", "35440"]
    first, doc = tickets["35440"], tickets["35436"]
    assert first.customer_id == "4112492" and first.refs == ("SHOP-12", "acme/shop#7")
    assert first.tags == ("checkout-bug", "enterprise", "other-tag")
    assert doc.customer_id == "509974" and doc.requester_id == "20978392"
    assert doc.segments == (("plan", "enterprise"), ("region", "745"))
    assert doc.created_at == datetime(2009, 7, 20, 22, 55, 29, tzinfo=UTC)
    customers = {c.external_id: c for b in batches for c in b.customers}
    assert customers["509974"].plan == "enterprise" and customers["509974"].arr == 120000.0
    assert customers["4112492"].name == "Groablet Enterprises"
    assert customers["4112492"].arr is None
    responses = {r.external_id: r for b in batches for r in b.responses}
    assert {k: (r.status, r.score, r.satisfied, r.ticket_id) for k, r in responses.items()} == {
        "9001": ("offered", None, None, "35436"), "9003": ("answered", 0.0, False, "35440"),
        "35436": ("answered", 1.0, True, "208"), "120447": ("answered", 1.0, True, "209"),
        "01J1WB51MG6HXTYWE6Q0C93RNW": ("offered", None, None, "99"),
        "01J1WB51MG6HXTYWE6Q0C93RNX": ("answered", 4.0, True, "35436")}
    assert responses["9003"].customer_id == "4112492" and responses["9003"].ticket_source == "zd"
    assert responses["9003"].comment == "Still broken"
    assert [d for b in batches for d in b.deleted_tickets] == ["35441"]
    assert [r for b in batches for r in b.ticket_refs] == [("35440", ("SHOP-12", "SHOP-13"))]


def test_malformed_records_are_quarantined_not_fatal() -> None:
    rejected = [r for b in run(zendesk()) for r in b.rejected]
    assert [r.location for r in rejected] == [
        f"{EXPORT} id=35442", f"{RATINGS} id=9004", f"{JIRA_LINKS} id=1234"]
    assert "010:08:16" in rejected[0].reason and '"id": 35442' in rejected[0].raw
    assert "not a Jira issue key" in rejected[2].reason


def test_pagination_reaches_the_end_of_every_stream() -> None:
    vendor = zendesk()
    batches = run(vendor)
    assert [r.url.params.get("cursor") for r in vendor.calls(EXPORT)] == [None, "c1", "c2"]
    assert vendor.calls(EXPORT)[0].url.params["start_time"] == "1230768000"
    assert vendor.calls(EXPORT)[0].url.params["include"] == "organizations"
    assert [r.url.params.get("page[after]") for r in vendor.calls(RATINGS)] == [None, "r1"]
    assert len(batches) == 3 + 2 + 1 + 1


def test_the_next_run_goes_on_from_the_last_cursor() -> None:
    vendor = zendesk()
    last = run(vendor)[-1].cursor
    again = run(vendor, cursor=last)
    assert vendor.calls(EXPORT)[-1].url.params["cursor"] == LAST_CURSOR
    assert vendor.calls(SURVEY_RESPONSES)[-1].url.params["page[after]"] == "s1"
    # legacy ratings are re-read from the lookback (72 h before the newest one seen)
    lookback = int(datetime(2012, 2, 2, 10, 32, 59, tzinfo=UTC).timestamp()) - 72 * 3600
    assert vendor.calls(RATINGS)[-1].url.params["start_time"] == str(lookback)
    assert not [t for b in again for t in b.tickets]


def test_resume_after_a_crash_loses_nothing_and_rereads_at_most_one_page() -> None:
    # The ratings lookback re-reads on every run by design, crash or not: switched off here.
    vendor = zendesk()
    full = list(source(vendor, FakeClock(), ratings_lookback_hours=0).batches(None))
    assert_resumes(lambda cursor: source(vendor, FakeClock(), ratings_lookback_hours=0)
                   .batches(cursor), full)


def test_export_is_paced_to_ten_requests_a_minute() -> None:
    clock = FakeClock()
    run(zendesk(), clock)
    assert clock.sleeps == [6.0, 6.0]


def test_429_then_success_honours_retry_after() -> None:
    clock = FakeClock()
    vendor = zendesk(httpx.Response(429, headers={"Retry-After": "41"}))
    tickets = [t.external_id for b in run(vendor, clock) for t in b.tickets]
    assert tickets == ["35440", "35436"]
    assert clock.sleeps[0] == 41.0


def test_401_names_the_source_and_the_fix_without_the_token() -> None:
    vendor = Vendor()
    vendor.on("GET", "/api/v2/users/me.json",
              httpx.Response(401, json={"error": "Couldn't authenticate you"}))
    problems = source(vendor, FakeClock()).check()
    assert len(problems) == 1 and problems[0].startswith("zd: Zendesk refused the credentials")
    assert "token_env" in problems[0] and "zd-s3cr3t" not in problems[0]


def test_auth_is_email_token_basic_or_oauth_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    vendor = Vendor()
    vendor.on("GET", "/api/v2/users/me.json",
              httpx.Response(200, json={"user": {"id": 1, "role": "agent"}}))
    problems = source(vendor, FakeClock()).check()
    assert problems and "needs an admin" in problems[0]
    basic = base64.b64encode(b"agent@acme.test/token:zd-s3cr3t").decode()
    assert vendor.requests[0].headers["Authorization"] == f"Basic {basic}"
    assert str(vendor.requests[0].url).startswith("https://acme.zendesk.com/api/v2/")
    monkeypatch.setenv("ZD_OAUTH", "oauth-s3cr3t")
    source(vendor, FakeClock(), oauth_token_env="ZD_OAUTH").check()
    assert vendor.requests[1].headers["Authorization"] == "Bearer oauth-s3cr3t"


def test_missing_credentials_are_reported_by_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZD_TOKEN")
    assert "ZD_TOKEN is not set" in source(Vendor(), FakeClock()).check()[0]


def test_start_cursor_reads_from_the_date() -> None:
    vendor = zendesk()
    src = source(vendor, FakeClock(), csat_surveys=False, jira_links=False)
    cursor = src.start_cursor(datetime(2011, 1, 1, tzinfo=UTC))
    list(src.batches(cursor))
    assert vendor.calls(EXPORT)[0].url.params["start_time"] == "1293840000"
    assert vendor.calls(RATINGS)[0].url.params["start_time"] == "1293840000"
    assert not vendor.calls(JIRA_LINKS) and not vendor.calls(SURVEY_RESPONSES)
    assert records(list(src.batches(None)))


def test_config_needs_a_place_and_a_survey() -> None:
    with pytest.raises(ValueError, match="subdomain"):
        ZendeskSourceConfig(type="zendesk", name="zd")
    with pytest.raises(ValueError, match="csat_survey_id"):
        config(csat_survey_id=None)


def test_ratings_lookback_does_not_drift_backwards_without_new_ratings() -> None:
    vendor = zendesk()
    cursor = run(vendor)[-1].cursor
    vendor.on("GET", RATINGS, httpx.Response(200, json={"satisfaction_ratings": []}))
    second = run(vendor, cursor=cursor)[-1].cursor
    run(vendor, cursor=second)
    starts = [r.url.params["start_time"] for r in vendor.calls(RATINGS)[-2:]]
    assert starts[0] == starts[1]


def test_description_reaches_the_ticket_and_the_doc_comment_the_rating() -> None:
    batches = run(zendesk())
    tickets = {t.external_id: t for b in batches for t in b.tickets}
    assert tickets["35436"].description == "The fire is very colorful."  # the doc's own
    assert tickets["35436"].subject == "Help, my printer is on fire!"
    responses = {r.external_id: r for b in batches for r in b.responses}
    assert responses["35436"].comment == "Awesome support!"


def test_a_reference_written_only_in_the_description_becomes_a_ref() -> None:
    ticket = fixture("zendesk_incremental_tickets_cursor.json")["tickets"][0]
    body = ("Since Monday checkout fails, as in https://github.com/Acme/Shop/issues/31.\n"
            "Looks like PAY-4 too (and maybe #9).")
    derived = {**ticket, "id": 35450, "description": body, "custom_fields": []}
    vendor = zendesk()
    vendor.on("GET", EXPORT, httpx.Response(200, json={
        "tickets": [derived], "organizations": [organization(509974)],
        "after_cursor": LAST_CURSOR, "end_of_stream": True}))
    [found] = [t for b in run(vendor) for t in b.tickets]
    assert found.description == body
    assert found.refs == ("PAY-4", "acme/shop#31")  # a bare #9 in free text is no reference


def test_a_reference_in_a_rating_comment_becomes_a_ref() -> None:
    rating = {**fixture("zendesk_satisfaction_ratings_list.json")["satisfaction_ratings"][0],
              "score": "bad", "comment": "Still broken, see SHOP-31"}
    vendor = zendesk()
    vendor.on("GET", RATINGS, httpx.Response(200, json={"satisfaction_ratings": [rating]}))
    [response] = [r for b in run(vendor) for r in b.responses if r.external_id == "35436"]
    assert response.comment == "Still broken, see SHOP-31" and response.refs == ("SHOP-31",)
