"""Intercom: conversations as tickets, their conversation_rating as CSAT, companies as customers.

One stream, ``POST /conversations/search`` on ``updated_at`` (replication key), paged with
``starting_after`` up to 150 a page. The bookmark keeps the watermark and the ids at it:

    {"since": {"at": 1734537546, "ids": ["515"]},             between runs
     "high": {...}, "after": "WzE3..."}                        inside a run (resume point)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict, cast
from urllib.parse import quote

import httpx

from impactlink.config import IntercomSourceConfig
from impactlink.core.models import Customer, Response, Ticket
from impactlink.core.refs import collect_refs, find_refs
from impactlink.core.scales import is_satisfied, parse_score
from impactlink.core.tags import normalize_tags
from impactlink.sources.base import Batch
from impactlink.sources.http import (
    RECORD_ERRORS,
    Clock,
    HttpSource,
    Sleep,
    Watermark,
    amount,
    as_object,
    as_text,
    default_since,
    dump_bookmark,
    epoch,
    field_segments,
    field_tags,
    ident,
    load_bookmark,
    optional_ident,
    page_items,
    page_object,
    parse_time,
    record_reason,
    reject,
)
from impactlink.sources.plaintext import html_text
from impactlink.sources.screen import screen_batch

SEARCH = "/conversations/search"


class IntercomRating(TypedDict, total=False):
    rating: int | None
    remark: str | None
    created_at: int
    updated_at: int
    contact: dict[str, Any]


class IntercomConversation(TypedDict, total=False):
    id: str
    created_at: int
    updated_at: int
    state: str
    title: str | None
    source: dict[str, Any]
    contacts: dict[str, Any]
    tags: dict[str, Any]
    custom_attributes: dict[str, Any]
    conversation_rating: IntercomRating | None


class IntercomCompany(TypedDict, total=False):
    id: str
    name: str
    plan: dict[str, Any]
    monthly_spend: float
    custom_attributes: dict[str, Any]


class IntercomSource(HttpSource[IntercomSourceConfig]):
    """Read an Intercom workspace as batches of conversations, ratings and companies."""

    vendor = "Intercom"
    auth_fix = ("check token_env / token_file: an access token of the workspace's app "
                "(Developer Hub → your app → Authentication) with read conversations, "
                "contacts and companies; EU/AU workspaces also need base_url")
    check_path = "/me"

    def __init__(self, config: IntercomSourceConfig, base_dir: Path, *,
                 client: httpx.Client | None = None, sleep: Sleep = time.sleep,
                 clock: Clock = time.time) -> None:
        super().__init__(config, base_dir, client=client, sleep=sleep, clock=clock)
        self._companies: dict[str, Customer | None] = {}
        self._sent: set[str] = set()

    def default_base_url(self) -> str:
        return "https://api.intercom.io"

    def headers(self) -> dict[str, str]:
        c = self.config
        return {"Authorization": f"Bearer {self.secret(c.token_env, c.token_file)}",
                "Intercom-Version": c.api_version}

    def start_cursor(self, since: datetime) -> str:
        """Return a cursor that re-reads everything updated since ``since``."""
        return dump_bookmark({"since": Watermark(epoch(since)).dump()})

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        """Yield one batch per search page, each with the cursor valid after it."""
        state = load_bookmark(self.name, cursor)
        first = Watermark(epoch(default_since(self.config.start_date, self._clock)))
        since = Watermark.load(state["since"]) if "since" in state else first
        high = Watermark.load(state.get("high", since.dump()))
        after: str | None = state.get("after")
        while True:
            # NOTE: ">" on updated_at is inclusive, so the records at the watermark come back;
            # Watermark.seen drops them (developer.intercom.com, Search conversations).
            body: dict[str, Any] = {
                "query": {"field": "updated_at", "operator": ">", "value": since.at},
                "pagination": {"per_page": self.config.per_page}}
            if after:
                body["pagination"]["starting_after"] = after
            page = page_object(self.http.post_json(SEARCH, body), SEARCH)
            batch = self._page(cast(list[IntercomConversation],
                                    page_items(page, "conversations", SEARCH)), since, high)
            after = _next_page(page)
            if after:
                batch.cursor = dump_bookmark({"since": since.dump(), "high": high.dump(),
                                              "after": after})
                yield screen_batch(self.name, batch)
                continue
            batch.cursor = dump_bookmark({"since": high.dump()})
            yield screen_batch(self.name, batch)
            return

    def _page(self, conversations: list[IntercomConversation], since: Watermark,
              high: Watermark) -> Batch:
        batch = Batch()
        for raw in conversations:
            try:
                rid, updated = ident(raw.get("id")), epoch(parse_time(raw.get("updated_at")))
                if since.seen(rid, updated):
                    continue
                company = self._company(raw, batch)
                ticket = self._ticket(raw, company)
                response = self._rating(raw, ticket)
            except RECORD_ERRORS as exc:
                batch.rejected.append(reject(self.name, SEARCH, raw, record_reason(exc)))
                continue
            high.advance(rid, updated)
            batch.tickets.append(ticket)
            if response is not None:
                batch.responses.append(response)
        return batch

    def _company(self, raw: IntercomConversation, batch: Batch) -> Customer | None:
        contact = _first_contact(raw)
        if contact is None:
            return None
        if contact not in self._companies:
            path = f"/contacts/{quote(contact, safe='')}/companies"
            listing = self.http.get_json(path, missing_ok=True)
            data = cast(list[IntercomCompany], page_items(listing or {}, "data", path))
            # NOTE: a contact can belong to several companies; the first one is the account.
            try:
                self._companies[contact] = self._customer(data[0]) if data else None
            except RECORD_ERRORS as exc:
                batch.rejected.append(reject(self.name, path, data[0], record_reason(exc)))
                self._companies[contact] = None
        customer = self._companies[contact]
        if customer is not None and customer.external_id not in self._sent:
            self._sent.add(customer.external_id)
            batch.customers.append(customer)
        return customer

    def _customer(self, raw: IntercomCompany) -> Customer:
        c, attrs = self.config, as_object(raw.get("custom_attributes"))
        plan = as_text(attrs.get(c.plan_field) if c.plan_field
                       else as_object(raw.get("plan")).get("name")) or None
        if c.arr_field:
            arr = amount(attrs.get(c.arr_field), c.arr_multiplier)
        else:
            # NOTE: Intercom reports monthly_spend 0 when it was never set: unknown, not 0.
            arr = amount(raw.get("monthly_spend") or None, 12 * c.arr_multiplier)
        return Customer(self.name, ident(raw.get("id")), as_text(raw.get("name")), plan, arr)

    def _ticket(self, raw: IntercomConversation, company: Customer | None) -> Ticket:
        c, attrs = self.config, as_object(raw.get("custom_attributes"))
        first = as_object(raw.get("source"))
        subject = as_text(raw.get("title")) or as_text(first.get("subject"))
        # NOTE: source.body is the first message and "may contain HTML" (Intercom OpenAPI
        # 2.14, conversation_source; developers.intercom.com/docs/references/rest-api/).
        description = html_text(as_text(first.get("body")))
        names = [as_text(t.get("name")) for t in (raw.get("tags") or {}).get("tags") or []]
        plan = company.plan if company else None
        return Ticket(
            source=self.name, external_id=ident(raw.get("id")),
            created_at=parse_time(raw.get("created_at")),
            updated_at=parse_time(raw.get("updated_at")),
            customer_id=company.external_id if company else None,
            requester_id=_first_contact(raw), status=as_text(raw.get("state")), subject=subject,
            description=description,
            tags=normalize_tags([*names, *field_tags(attrs, c.tag_fields)]),
            refs=collect_refs([as_text(attrs.get(a), lists=True) for a in c.reference_attributes],
                              [subject, description]),
            segments=field_segments(attrs, c.segment_fields,
                                    [("plan", plan)] if "plan" in c.segments else []))

    def _rating(self, raw: IntercomConversation, ticket: Ticket) -> Response | None:
        rating = as_object(raw.get("conversation_rating"))
        if not rating:
            return None
        when = rating.get("updated_at") or rating.get("created_at") or raw.get("updated_at")
        value = rating.get("rating")
        # A rating requested but not given is an offered survey: it feeds the response rate.
        score = None if value is None else parse_score(value, self.config.scale)
        remark = as_text(rating.get("remark"))
        return Response(
            source=self.name, external_id=ticket.external_id, submitted_at=parse_time(when),
            status="offered" if score is None else "answered", score=score,
            satisfied=None if score is None else is_satisfied(score, self.config.scale),
            customer_id=ticket.customer_id,
            respondent_id=optional_ident(as_object(rating.get("contact")).get("id"), "contact id")
            or ticket.requester_id,
            comment=remark, tags=ticket.tags,
            refs=tuple(sorted({*ticket.refs, *find_refs(remark)})),
            ticket_source=self.name, ticket_id=ticket.external_id, segments=ticket.segments)


def _first_contact(raw: IntercomConversation) -> str | None:
    contacts = as_object(raw.get("contacts")).get("contacts") or []
    return optional_ident(contacts[0].get("id"), "contact id") if contacts else None


def _next_page(page: dict[str, Any]) -> str | None:
    """Return the search's next starting_after, if there is a next page."""
    pages = page_object(page.get("pages") or {}, SEARCH)
    after = page_object(pages.get("next") or {}, SEARCH).get("starting_after")
    return after if isinstance(after, str) and after else None
