"""Delighted: survey responses, with person properties naming customer, plan, tags and ticket.

One stream, ``GET /v1/survey_responses.json`` ordered ``asc:updated_at`` and paged by its
replication key: each request asks ``updated_since`` the newest ``updated_at`` seen so far
(``page`` only grows while a whole page shares one second), so the bookmark is the watermark
alone and a response updated mid-run cannot shift a page boundary and be skipped.

Offered surveys: Delighted's ``/v1/metrics.json`` gives aggregate counts for a period (its
documented example has response counts only), not the people who were sent a survey and did
not answer. Synthesising anonymous "offered" records from a total would invent customers
and features for them, so none are made: Delighted responses feed CSAT, not the response
rate. ``check()`` uses metrics.json as its cheap authenticated request.

Scale: 0-10 (NPS) by default, ``scale`` in the config otherwise. A response rates a ticket
of another source: the ``ticket_property`` value is kept only when ``ticket_source`` names
that source.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict, cast

import httpx

from impactlink.config import DelightedSourceConfig
from impactlink.core.models import Customer, Response
from impactlink.core.refs import collect_refs
from impactlink.core.scales import is_satisfied, parse_score
from impactlink.core.tags import normalize_tags, split_list
from impactlink.errors import SourceError
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
    parse_time,
    record_reason,
    reject,
)
from impactlink.sources.screen import screen_batch

RESPONSES = "/v1/survey_responses.json"
METRICS = "/v1/metrics.json"
PER_PAGE = 100


class DelightedResponse(TypedDict, total=False):
    id: str
    person: str
    survey_type: str
    score: int
    comment: str | None
    created_at: int
    updated_at: int
    person_properties: dict[str, Any] | None
    tags: list[str]


class DelightedSource(HttpSource[DelightedSourceConfig]):
    """Read a Delighted account's survey responses as CSAT responses and customers."""

    vendor = "Delighted"
    auth_fix = ("check api_key_env / api_key_file: the private API key from Delighted → "
                "Integrations → API")
    check_path = METRICS

    def __init__(self, config: DelightedSourceConfig, base_dir: Path, *,
                 client: httpx.Client | None = None, sleep: Sleep = time.sleep,
                 clock: Clock = time.time) -> None:
        super().__init__(config, base_dir, client=client, sleep=sleep, clock=clock)
        self._sent: set[str] = set()

    def default_base_url(self) -> str:
        return "https://api.delighted.com"

    def headers(self) -> dict[str, str]:
        c = self.config
        pair = f"{self.secret(c.api_key_env, c.api_key_file)}:".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    def start_cursor(self, since: datetime) -> str:
        """Return a cursor that re-reads everything updated since ``since``."""
        return dump_bookmark({"since": Watermark(epoch(since)).dump(), "page": 1})

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        """Yield one batch per page, each with the cursor valid after it."""
        state = load_bookmark(self.name, cursor)
        first = Watermark(epoch(default_since(self.config.start_date, self._clock)))
        since = Watermark.load(state["since"]) if "since" in state else first
        page = int(state.get("page", 1))
        while True:
            items = self.http.get_json(RESPONSES, {
                "updated_since": since.at, "order": "asc:updated_at", "per_page": PER_PAGE,
                "page": page})
            if not isinstance(items, list):  # skipping it would lose its records
                raise SourceError(f"{self.name}: {RESPONSES} answered with something other "
                                  f"than a list; the next cycle tries again")
            batch, moved = self._page(cast(list[DelightedResponse], items), since)
            done = len(items) < PER_PAGE
            page = 1 if done or moved.at > since.at else page + 1
            since = moved
            batch.cursor = dump_bookmark({"since": since.dump(), "page": page})
            yield screen_batch(self.name, batch)
            if done:
                return

    def _page(self, items: list[DelightedResponse], since: Watermark) -> tuple[Batch, Watermark]:
        batch, moved = Batch(), Watermark(since.at, set(since.ids))
        for raw in items:
            try:
                rid, at = ident(raw.get("id")), epoch(parse_time(raw.get("updated_at")))
                if since.seen(rid, at):
                    continue
                response, customer = self._response(raw)
            except RECORD_ERRORS as exc:
                batch.rejected.append(reject(self.name, RESPONSES, raw, record_reason(exc)))
                continue
            moved.advance(rid, at)
            batch.responses.append(response)
            if customer is not None and customer.external_id not in self._sent:
                self._sent.add(customer.external_id)
                batch.customers.append(customer)
        return batch, moved

    def _response(self, raw: DelightedResponse) -> tuple[Response, Customer | None]:
        c, props = self.config, as_object(raw.get("person_properties"))
        score = parse_score(raw.get("score"), c.scale)
        account = optional_ident(props.get(c.customer_property), c.customer_property)
        plan = as_text(props.get(c.plan_property)) or None
        listed = props.get(c.tags_property)
        tags = split_list(listed) if isinstance(listed, str) else list(listed or [])
        ticket = (optional_ident(props.get(c.ticket_property), c.ticket_property)
                  if c.ticket_source else None)
        comment = as_text(raw.get("comment"))
        response = Response(
            source=self.name, external_id=ident(raw.get("id")),
            submitted_at=parse_time(raw.get("created_at")), score=score,
            satisfied=is_satisfied(score, c.scale), customer_id=account,
            respondent_id=optional_ident(raw.get("person"), "person"),
            comment=comment,
            tags=normalize_tags([*map(as_text, raw.get("tags") or []), *map(as_text, tags),
                                 *field_tags(props, c.tag_fields)]),
            refs=collect_refs((), [comment]),
            ticket_source=c.ticket_source if ticket else None, ticket_id=ticket,
            segments=field_segments(props, c.segment_fields,
                                    [("plan", plan)] if "plan" in c.segments else []))
        if account is None:
            return response, None
        arr = amount(props.get(c.arr_field), c.arr_multiplier) if c.arr_field else None
        name = as_text(props.get("company") or props.get("company_name"))
        return response, Customer(self.name, account, name, plan, arr)
