"""Intercom source against a fake Intercom serving the OpenAPI 2.14 examples."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from impactlink.config import IntercomSourceConfig
from impactlink.sources.base import Batch
from impactlink.sources.intercom import SEARCH, IntercomSource
from test_source_http import NOW, FakeClock, Vendor, assert_resumes, fixture

DOC_CONTACT = "6762f14a1bb69f9f2193bbb3"  # the search example's contact
T0 = 1734537546  # the search example's updated_at


def conversation(cid: str, updated: object = T0, **changes: Any) -> dict[str, Any]:
    """The search example's conversation with another id and time, and optional changes."""
    raw: dict[str, Any] = fixture("intercom_conversations_search.json")["conversations"][0]
    return {**raw, "id": cid, "updated_at": updated, **changes}


def rated(cid: str, rating: int | None, remark: str = "", contact: str = "c-2",
          **changes: Any) -> dict[str, Any]:
    """A conversation rated as the schema's conversation_rating describes."""
    base = fixture("intercom_conversation_rated.json")
    base["conversation_rating"].update(rating=rating, remark=remark)
    return {**base, "id": cid, "updated_at": T0 + 10,
            "contacts": {"type": "contact.list",
                         "contacts": [{"type": "contact", "id": contact, "external_id": None}]},
            **changes}


PAGES: dict[str | None, list[dict[str, Any]]] = {
    None: [fixture("intercom_conversations_search.json")["conversations"][0],
           rated("516", 2, "Checkout broke again", title="Payment failed",
                 tags={"type": "tag.list", "tags": [{"type": "tag", "name": "Checkout"}]},
                 custom_attributes={"jira_issue_key": "SHOP-12", "Area": "payments"})],
    "p2": [rated("517", 5), rated("518", None)],
    "p3": [conversation("519", "yesterday")],
}
NEXT = {None: "p2", "p2": "p3"}


def search(request: httpx.Request) -> httpx.Response:
    """Page by starting_after; honour the inclusive '>' on updated_at like Intercom does."""
    body = json.loads(request.content)
    after = body["pagination"].get("starting_after")
    since = body["query"]["value"]
    items = [c for c in PAGES[after] if not isinstance(c["updated_at"], int)
             or c["updated_at"] >= since]
    page = fixture("intercom_conversations_search.json")
    page.update(conversations=items, total_count=5)
    if after in NEXT:
        page["pages"]["next"] = {"per_page": 2, "starting_after": NEXT[after]}
    return httpx.Response(200, json=page)


def companies(request: httpx.Request) -> httpx.Response:
    listing = fixture("intercom_contact_companies.json")
    if DOC_CONTACT not in request.url.path:
        company = fixture("intercom_company_get.json")
        company.update(id="co-2", name="Shop Inc", monthly_spend=1000,
                       plan={"type": "plan", "id": "9", "name": "Premium"})
        listing["data"] = [company]
    return httpx.Response(200, json=listing)


def intercom(*first: httpx.Response) -> Vendor:
    vendor = Vendor()
    vendor.on("POST", SEARCH, *first, search)
    for contact in (DOC_CONTACT, "c-2"):
        vendor.on("GET", f"/contacts/{contact}/companies", companies)
    return vendor


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IC_TOKEN", "ic-s3cr3t")


def source(vendor: Vendor, clock: FakeClock | None = None, **extra: Any) -> IntercomSource:
    config = IntercomSourceConfig(**{
        "type": "intercom", "name": "ic", "token_env": "IC_TOKEN", "per_page": 2,
        "tag_fields": {"Area": "area"}, "segments": ["plan"],
        "start_date": "2024-01-01T00:00:00Z", **extra})
    clock = clock or FakeClock()
    return IntercomSource(config, Path("."), client=vendor.client(), sleep=clock.sleep,
                          clock=clock.time)


def run(vendor: Vendor, cursor: str | None = None, clock: FakeClock | None = None) -> list[Batch]:
    return list(source(vendor, clock).batches(cursor))


def test_small_run_matches_hand_expectations() -> None:
    batches = run(intercom())
    tickets = {t.external_id: t for b in batches for t in b.tickets}
    assert sorted(tickets) == ["515", "516", "517", "518"]
    t516 = tickets["516"]
    assert t516.subject == "Payment failed" and t516.refs == ("SHOP-12",)
    assert t516.tags == ("checkout", "payments") and t516.customer_id == "co-2"
    assert t516.segments == (("plan", "Premium"),) and t516.status == "closed"
    assert tickets["515"].customer_id == "6762f0a61bb69f9f2193bb55"
    assert tickets["515"].requester_id == DOC_CONTACT
    assert tickets["515"].updated_at == datetime.fromtimestamp(T0, UTC)
    customers = {c.external_id: c for b in batches for c in b.customers}
    assert customers["co-2"].arr == 12000.0 and customers["co-2"].plan == "Premium"
    assert customers["6762f0a61bb69f9f2193bb55"].arr is None  # monthly_spend 0 = unknown
    responses = {r.external_id: r for b in batches for r in b.responses}
    assert {k: (r.status, r.score, r.satisfied) for k, r in responses.items()} == {
        "516": ("answered", 2.0, False), "517": ("answered", 5.0, True),
        "518": ("offered", None, None)}
    r516 = responses["516"]
    assert (r516.ticket_source, r516.ticket_id, r516.customer_id) == ("ic", "516", "co-2")
    assert r516.comment == "Checkout broke again" and r516.refs == ("SHOP-12",)
    assert r516.respondent_id == "5ba682d23d7cf92bef87bfd4"
    assert r516.submitted_at == datetime.fromtimestamp(1671028894, UTC)


def test_malformed_timestamps_are_quarantined_not_fatal() -> None:
    rejected = [r for b in run(intercom()) for r in b.rejected]
    assert [r.location for r in rejected] == [f"{SEARCH} id=519"]
    assert "yesterday" in rejected[0].reason


def test_pagination_and_request_shape() -> None:
    vendor = intercom()
    batches = run(vendor)
    bodies = [json.loads(r.content) for r in vendor.calls(SEARCH)]
    assert [b["pagination"].get("starting_after") for b in bodies] == [None, "p2", "p3"]
    assert {b["pagination"]["per_page"] for b in bodies} == {2}
    assert bodies[0]["query"] == {"field": "updated_at", "operator": ">", "value": 1704067200}
    headers = vendor.requests[0].headers
    assert headers["Intercom-Version"] == "2.14" and headers["Authorization"] == "Bearer ic-s3cr3t"
    assert str(vendor.requests[0].url) == "https://api.intercom.io/conversations/search"
    assert json.loads(batches[-1].cursor or "") == {"since": {"at": T0 + 10,
                                                              "ids": ["516", "517", "518"]}}
    assert len(vendor.calls(f"/contacts/{DOC_CONTACT}/companies")) == 1


def test_next_run_drops_the_records_replayed_at_the_watermark() -> None:
    vendor = intercom()
    last = run(vendor)[-1].cursor
    replay = [rated("517", 5), rated("520", 4), rated("521", 1, updated_at=T0 + 11)]
    vendor.on("POST", SEARCH, lambda request: httpx.Response(200, json={
        **fixture("intercom_conversations_search.json"), "conversations": replay}))
    again = run(vendor, last)
    assert json.loads(vendor.calls(SEARCH)[-1].content)["query"]["value"] == T0 + 10
    assert [t.external_id for b in again for t in b.tickets] == ["520", "521"]


def test_resume_after_a_crash_loses_nothing_and_rereads_at_most_one_page() -> None:
    vendor = intercom()
    assert_resumes(lambda cursor: source(vendor).batches(cursor), run(vendor))


def test_429_then_success_honours_the_reset_epoch() -> None:
    clock = FakeClock()
    limited = httpx.Response(429, headers={"X-RateLimit-Reset": str(int(NOW) + 9)})
    tickets = [t for b in run(intercom(limited), clock=clock) for t in b.tickets]
    assert len(tickets) == 4 and clock.sleeps == [9.0]


def test_401_names_the_source_and_the_fix_without_the_token() -> None:
    vendor = Vendor()
    vendor.on("GET", "/me", httpx.Response(401, json=fixture("intercom_error_unauthorized.json")))
    problems = source(vendor, base_url="https://api.eu.intercom.io").check()
    assert problems[0].startswith("ic: Intercom refused the credentials (HTTP 401 on GET /me)")
    assert "token_env" in problems[0] and "ic-s3cr3t" not in problems[0]
    assert str(vendor.requests[0].url) == "https://api.eu.intercom.io/me"


def test_arr_and_plan_from_custom_attributes() -> None:
    vendor = intercom()
    batches = list(source(vendor, arr_field="arr", plan_field="tier").batches(None))
    assert {c.external_id: (c.plan, c.arr) for b in batches for c in b.customers} == {
        "6762f0a61bb69f9f2193bb55": (None, None), "co-2": (None, None)}


def test_start_cursor_reads_from_the_date() -> None:
    vendor = intercom()
    src = source(vendor)
    list(src.batches(src.start_cursor(datetime(2024, 12, 18, tzinfo=UTC))))
    assert json.loads(vendor.requests[0].content)["query"]["value"] == 1734480000


def test_source_body_reaches_the_ticket_as_plain_text() -> None:
    tickets = {t.external_id: t for b in run(intercom()) for t in b.tickets}
    doc = tickets["515"]  # the search example: body "<p>this is the message body</p>"
    assert (doc.subject, doc.description) == ("", "this is the message body")
    assert tickets["516"].subject == "Payment failed"


def test_html_body_loses_tags_and_entities_and_keeps_its_lines_and_references() -> None:
    body = ("<p>Checkout&nbsp;fails on <b>iOS</b>&hellip;</p><p>Steps:<br>1. add to cart"
            "<br/>2. pay &amp; wait</p><ul><li>see SHOP-31</li><li>&lt;none&gt;</li></ul>"
            "<style>p { color: red }</style>")
    raw = conversation("530", T0 + 20)
    raw["source"] = {**raw["source"], "subject": "Payment page", "body": body}
    vendor = intercom()
    vendor.on("POST", SEARCH, lambda request: httpx.Response(200, json={
        **fixture("intercom_conversations_search.json"), "conversations": [raw]}))
    [ticket] = [t for b in run(vendor) for t in b.tickets]
    assert ticket.subject == "Payment page"
    assert ticket.description == ("Checkout fails on iOS\u2026\nSteps:\n1. add to cart\n"
                                  "2. pay & wait\nsee SHOP-31\n<none>")
    assert ticket.refs == ("SHOP-31",)


def test_a_reference_in_the_rating_remark_becomes_a_ref() -> None:
    raw = rated("531", 1, "Broken again: https://github.com/acme/shop/issues/8")
    vendor = intercom()
    vendor.on("POST", SEARCH, lambda request: httpx.Response(200, json={
        **fixture("intercom_conversations_search.json"), "conversations": [raw]}))
    [response] = [r for b in run(vendor) for r in b.responses]
    assert response.comment == "Broken again: https://github.com/acme/shop/issues/8"
    assert response.refs == ("acme/shop#8",)
