"""Freshdesk: tickets, companies and satisfaction ratings over API v2.

Streams (replication key; each keeps its own watermark inside the cursor):

    tickets  /api/v2/tickets?updated_since=…&order_by=updated_at&order_type=asc   updated_at
    deleted  the same with filter=deleted                                           updated_at
    ratings  /api/v2/surveys/satisfaction_ratings?created_since=…                    created_at

Pages follow the Link header. Freshdesk serves at most 300 pages of one query, so at page
300 the window moves forward to the last updated_at seen (the filter is inclusive: the ids at
the watermark are dropped on replay). Every query names its own since, so the 30-day default
window of a bare /api/v2/tickets never applies.

Rating codes: a survey question answers with codes from its ``accepted_ratings`` (-103 …
103). Ranked from lowest, they become scores 1…k on the survey's own scale: 2 codes →
good/bad (0, 1); 3 → 1-3, top box satisfied; 5 → 1-5 and 7 → 1-7, top two boxes satisfied
(the 1-5 and 1-7 rules of the impact model).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict, cast
from urllib.parse import quote

import httpx

from impactlink.config import FreshdeskSourceConfig
from impactlink.core.models import Customer, Response, Ticket
from impactlink.core.refs import collect_refs
from impactlink.core.tags import normalize_tags
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
    iso,
    load_bookmark,
    optional_ident,
    parse_time,
    record_reason,
    reject,
)
from impactlink.sources.screen import screen_batch

TICKETS = "/api/v2/tickets"
RATINGS = "/api/v2/surveys/satisfaction_ratings"
SURVEYS = "/api/v2/surveys"
MAX_PAGE = 300  # NOTE: developer.freshdesk.com/api/#list_all_tickets caps page at 300
STATUS = {2: "open", 3: "pending", 4: "resolved", 5: "closed"}
TOP_BOXES = {2: 1, 3: 1, 5: 2, 7: 2}


class FreshdeskTicket(TypedDict, total=False):
    id: int
    subject: str
    description_text: str
    status: int
    tags: list[str]
    custom_fields: dict[str, Any]
    company_id: int | None
    requester_id: int
    created_at: str
    updated_at: str


class FreshdeskRating(TypedDict, total=False):
    id: int
    survey_id: int
    user_id: int
    ticket_id: int
    feedback: str | None
    ratings: dict[str, int]
    created_at: str


class FreshdeskSource(HttpSource[FreshdeskSourceConfig]):
    """Read a Freshdesk helpdesk as batches of tickets, companies and CSAT responses."""

    vendor = "Freshdesk"
    auth_fix = ("check api_key_env / api_key_file: the API key from Freshdesk → Profile "
                "settings → View API key, of an agent who can see tickets and surveys")
    check_path = "/api/v2/agents/me"

    def __init__(self, config: FreshdeskSourceConfig, base_dir: Path, *,
                 client: httpx.Client | None = None, sleep: Sleep = time.sleep,
                 clock: Clock = time.time) -> None:
        super().__init__(config, base_dir, client=client, sleep=sleep, clock=clock)
        self._companies: dict[str, Customer | None] = {}
        self._ticket_companies: dict[str, str] = {}
        self._surveys: dict[str, list[int]] | None = None

    def default_base_url(self) -> str:
        return f"https://{self.config.domain}.freshdesk.com"

    def headers(self) -> dict[str, str]:
        c = self.config
        pair = f"{self.secret(c.api_key_env, c.api_key_file)}:X".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    def start_cursor(self, since: datetime) -> str:
        """Return a cursor that re-reads everything updated since ``since``."""
        mark = {"since": Watermark(epoch(since)).dump()}
        return dump_bookmark({"tickets": mark, "deleted": mark, "ratings": mark})

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        """Yield one batch per page of every stream, each with the cursor valid after it."""
        state = load_bookmark(self.name, cursor)
        start = epoch(default_since(self.config.start_date, self._clock))
        order = {"order_by": "updated_at", "order_type": "asc"}
        # NOTE: a ticket list carries description_text only with include=description
        # (2 more credits a request; developer.freshdesk.com/api/#list_all_tickets).
        streams: list[tuple[str, str, dict[str, str], str, Callable[[Any, Batch], None]]] = [
            ("tickets", TICKETS, {**order, "include": "description"}, "updated_at",
             self._ticket)]
        if self.config.deleted_tickets:
            streams.append(("deleted", TICKETS, {**order, "filter": "deleted"}, "updated_at",
                            lambda raw, batch: batch.deleted_tickets.append(
                                ident(raw.get("id")))))
        streams.append(("ratings", RATINGS, {}, "created_at", self._rating))
        for key, path, params, field, convert in streams:
            for batch in self._pages(state, start, key, path, params, field, convert):
                batch.cursor = dump_bookmark(state)
                yield screen_batch(self.name, batch)

    def _pages(self, state: dict[str, Any], start: int, key: str, path: str,
               params: dict[str, str], field: str,
               convert: Callable[[Any, Batch], None]) -> Iterator[Batch]:
        mark = state.get(key) or {"since": Watermark(start).dump()}
        since = Watermark.load(mark["since"])
        high = Watermark.load(mark.get("high", mark["since"]))
        page = int(mark.get("page", 1))
        filter_name = "created_since" if field == "created_at" else "updated_since"
        while True:
            query = {**params, filter_name: iso_at(since.at), "page": page, "per_page": 100}
            items, more = self.http.get_page(path, query)
            if not isinstance(items, list):  # skipping it would lose its records
                raise SourceError(f"{self.name}: {path} answered with something other than a "
                                  f"list; the next cycle tries again")
            batch = Batch()
            for raw in items:
                try:
                    rid, at = ident(raw.get("id")), epoch(parse_time(raw.get(field)))
                    if since.seen(rid, at):
                        continue
                    convert(raw, batch)
                except RECORD_ERRORS as exc:
                    batch.rejected.append(reject(self.name, path, raw, record_reason(exc)))
                    continue
                high.advance(rid, at)
            if not more:
                state[key] = {"since": high.dump()}
                yield batch
                return
            page += 1
            if page > MAX_PAGE:
                if high.at <= since.at:
                    raise SourceError(f"{self.name}: more than {MAX_PAGE} pages of {path} "
                                      f"share one {field}; cannot move the window forward")
                since, page = Watermark(high.at, set(high.ids)), 1
            state[key] = {"since": since.dump(), "high": high.dump(), "page": page}
            yield batch

    def _company(self, company_id: object, batch: Batch) -> Customer | None:
        cid = optional_ident(company_id, "company_id")
        if not cid:
            return None
        if cid not in self._companies:
            raw = self.http.get_json(f"/api/v2/companies/{quote(cid, safe='')}", missing_ok=True)
            if raw is None:  # deleted since: the ticket keeps no account
                self._companies[cid] = None
                return None
            try:
                self._companies[cid] = self._customer(raw)
                batch.customers.append(cast(Customer, self._companies[cid]))
            except RECORD_ERRORS as exc:
                batch.rejected.append(reject(self.name, "/api/v2/companies", raw,
                                             record_reason(exc)))
                self._companies[cid] = None
        return self._companies[cid]

    def _customer(self, raw: dict[str, Any]) -> Customer:
        c, fields = self.config, as_object(raw.get("custom_fields"))
        plan = as_text(fields.get(c.plan_field)) or None if c.plan_field else None
        arr = amount(fields.get(c.arr_field), c.arr_multiplier) if c.arr_field else None
        return Customer(self.name, ident(raw.get("id")), as_text(raw.get("name")), plan, arr)

    def _ticket(self, raw: FreshdeskTicket, batch: Batch) -> None:
        c, tid = self.config, ident(raw.get("id"))
        fields = as_object(raw.get("custom_fields"))
        subject, description = as_text(raw.get("subject")), as_text(raw.get("description_text"))
        created, updated = parse_time(raw.get("created_at")), parse_time(raw.get("updated_at"))
        company = self._company(raw.get("company_id"), batch)
        if company:
            self._ticket_companies[tid] = company.external_id
        status = raw.get("status")
        batch.tickets.append(Ticket(
            source=self.name, external_id=tid, created_at=created, updated_at=updated,
            customer_id=company.external_id if company else None,
            requester_id=optional_ident(raw.get("requester_id"), "requester_id"),
            status=STATUS.get(status, as_text(status)) if isinstance(status, int) else "",
            subject=subject, description=description,
            tags=normalize_tags([*map(as_text, raw.get("tags") or []),
                                 *field_tags(fields, c.tag_fields)]),
            refs=collect_refs([as_text(fields.get(f), lists=True) for f in c.reference_fields],
                              [subject, description]),
            segments=field_segments(fields, c.segment_fields, [("plan", company.plan)]
                                    if company and "plan" in c.segments else [])))

    def _rating(self, raw: FreshdeskRating, batch: Batch) -> None:
        codes = self._survey_codes().get(as_text(raw.get("survey_id")))
        if codes is None:
            raise ValueError(f"survey {raw.get('survey_id')!r} is not in {SURVEYS}")
        code = as_object(raw.get("ratings")).get("default_question")
        if code not in codes or len(codes) not in TOP_BOXES:
            raise ValueError(f"rating {code!r} is not one of the survey's codes {codes}")
        rank = codes.index(code) + (0 if len(codes) == 2 else 1)
        tid = optional_ident(raw.get("ticket_id"), "ticket_id")
        feedback = as_text(raw.get("feedback"))
        batch.responses.append(Response(
            source=self.name, external_id=ident(raw.get("id")),
            submitted_at=parse_time(raw.get("created_at")), score=float(rank),
            satisfied=codes.index(code) >= len(codes) - TOP_BOXES[len(codes)],
            customer_id=self._ticket_companies.get(tid) if tid else None,
            respondent_id=optional_ident(raw.get("user_id"), "user_id"),
            comment=feedback, refs=collect_refs((), [feedback]),
            ticket_source=self.name if tid else None, ticket_id=tid))

    def _survey_codes(self) -> dict[str, list[int]]:
        """Return each survey's accepted rating codes of its default question, lowest first."""
        if self._surveys is None:
            found: dict[str, list[int]] = {}
            surveys = self.http.get_json(SURVEYS)
            for survey in surveys if isinstance(surveys, list) else []:
                try:
                    found.update(_survey(survey))
                except RECORD_ERRORS:
                    continue  # its ratings are quarantined as "not in /api/v2/surveys"
            self._surveys = found
        return self._surveys


def _survey(survey: dict[str, Any]) -> dict[str, list[int]]:
    """Return a survey's id with the accepted codes of its default question, lowest first."""
    for question in survey.get("questions") or []:
        if question.get("id") == "default_question" or question.get("default"):
            codes = question.get("accepted_ratings") or []
            if not all(type(code) is int for code in codes):
                raise ValueError("accepted_ratings are not integers")
            return {ident(survey.get("id")): sorted(codes)}
    return {}


def iso_at(at: int) -> str:
    """Return an epoch as the ISO text Freshdesk's since filters take."""
    return iso(datetime.fromtimestamp(at, UTC))
