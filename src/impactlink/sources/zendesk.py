"""Zendesk Support: tickets, organizations, legacy and newer CSAT, and Jira links.

Streams, read in this order, each with its own bookmark inside the cursor:

    tickets   /api/v2/incremental/tickets/cursor.json   start_time, then after_cursor
    ratings   /api/v2/satisfaction_ratings               start_time, page[after]
    surveys   /api/v2/surveys/{id}/responses             page[after]   (csat_surveys = true)
    jira      /api/v2/jira/links                          page[after]   (jira_links = true)

Deleted tickets come from the export itself (status "deleted"), which, unlike
/api/v2/deleted_tickets, also covers tickets deleted more than 30 days before the run.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast

import httpx

from impactlink.config import ZendeskSourceConfig
from impactlink.core.models import Customer, Response, Ticket
from impactlink.core.refs import collect_refs, parse_ref_field
from impactlink.core.scales import is_satisfied, parse_score
from impactlink.core.tags import normalize_tags
from impactlink.errors import ImpactlinkError
from impactlink.sources.base import Batch
from impactlink.sources.http import (
    RECORD_ERRORS,
    Clock,
    HttpSource,
    Pacer,
    Sleep,
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
from impactlink.sources.screen import screen_batch

EXPORT = "/api/v2/incremental/tickets/cursor.json"
RATINGS = "/api/v2/satisfaction_ratings"
JIRA_LINKS = "/api/v2/jira/links"
SHOW_MANY = "/api/v2/organizations/show_many.json"
EXPORT_INTERVAL = 6.0  # NOTE: the export allows 10 requests a minute (developer.zendesk.com
# /api-reference/ticketing/ticket-management/incremental_exports/)


class ZendeskTicket(TypedDict, total=False):
    id: int
    created_at: str
    updated_at: str
    status: str
    subject: str
    description: str
    tags: list[str]
    custom_fields: list[dict[str, Any]]
    organization_id: int | None
    requester_id: int | None


class ZendeskOrganization(TypedDict, total=False):
    id: int
    name: str
    organization_fields: dict[str, Any]


class ExportPage(TypedDict, total=False):
    tickets: list[ZendeskTicket]
    organizations: list[ZendeskOrganization]
    after_cursor: str | None
    end_of_stream: bool


class ZendeskRating(TypedDict, total=False):
    id: int
    score: str
    comment: str | None
    ticket_id: int
    requester_id: int
    created_at: str
    updated_at: str


class CursorMeta(TypedDict):
    has_more: NotRequired[bool]
    after_cursor: NotRequired[str | None]


class ZendeskSource(HttpSource[ZendeskSourceConfig]):
    """Read a Zendesk account as batches of tickets, customers and CSAT responses."""

    vendor = "Zendesk"
    auth_fix = ("check email_env and token_env (an active API token of an admin, "
                "Admin Center → Apps and integrations → Zendesk API) or oauth_token_env")
    check_path = "/api/v2/users/me.json"

    def __init__(self, config: ZendeskSourceConfig, base_dir: Path, *,
                 client: httpx.Client | None = None, sleep: Sleep = time.sleep,
                 clock: Clock = time.time) -> None:
        super().__init__(config, base_dir, client=client, sleep=sleep, clock=clock)
        self._pacer = Pacer(EXPORT_INTERVAL, sleep, clock)
        self._orgs_sent: set[str] = set()
        self._ticket_orgs: dict[str, str] = {}
        self._plans: dict[str, str | None] = {}

    def default_base_url(self) -> str:
        return f"https://{self.config.subdomain}.zendesk.com"

    def headers(self) -> dict[str, str]:
        c = self.config
        if c.oauth_token_env:
            return {"Authorization": f"Bearer {self.secret(c.oauth_token_env)}"}
        pair = f"{self.secret(c.email_env)}/token:{self.secret(c.token_env, c.token_file)}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    def check(self) -> list[str]:
        """Return problems found with one cheap authenticated request."""
        try:
            user = self.http.get_json(self.check_path).get("user") or {}
        except ImpactlinkError as exc:
            return [str(exc)]
        if user.get("id") is None:
            return [f"{self.name}: Zendesk answered as an anonymous user — check the credentials"]
        if user.get("role") != "admin":
            return [f"{self.name}: the incremental export needs an admin; the token's user is "
                    f"{user.get('role')!r} — use an admin's API token"]
        return []

    def start_cursor(self, since: datetime) -> str:
        """Return a cursor that re-reads everything updated since ``since``."""
        return dump_bookmark({s: {"start_time": epoch(since)} for s in ("tickets", "ratings")})

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        """Yield one batch per page of every stream, each with the cursor valid after it."""
        state = load_bookmark(self.name, cursor)
        start = epoch(default_since(self.config.start_date, self._clock))
        streams: list[Callable[[dict[str, Any], int], Iterator[Batch]]] = [
            self._tickets, self._ratings]
        if self.config.csat_surveys:
            streams.append(self._surveys)
        if self.config.jira_links:
            streams.append(self._jira_links)
        for stream in streams:
            for batch in stream(state, start):
                batch.cursor = dump_bookmark(state)
                yield screen_batch(self.name, batch)

    def _tickets(self, state: dict[str, Any], start: int) -> Iterator[Batch]:
        while True:
            mark = state.get("tickets") or {"start_time": start}
            params: dict[str, Any] = {"include": "organizations"}
            params.update({"cursor": mark["cursor"]} if mark.get("cursor")
                          else {"start_time": mark["start_time"]})
            self._pacer.wait()
            page = cast(ExportPage, page_object(self.http.get_json(EXPORT, params), EXPORT))
            batch = self._ticket_page(page)
            if page.get("after_cursor"):
                state["tickets"] = {"cursor": page["after_cursor"]}
            yield batch
            if page.get("end_of_stream", True) or not page.get("after_cursor"):
                return

    def _ticket_page(self, page: ExportPage) -> Batch:
        batch = Batch()
        orgs = self._organizations(page_items(page, "organizations", EXPORT), batch)
        tickets = page_items(page, "tickets", EXPORT)
        wanted = set(_by_id(tickets, "organization_id")[0])
        missing = sorted(wanted - orgs.keys() - self._orgs_sent)
        if missing:
            found = self.http.get_json(SHOW_MANY, {"ids": ",".join(missing)})
            orgs.update(self._organizations(page_items(found, "organizations", SHOW_MANY), batch))
        for oid, org in orgs.items():
            if oid in wanted and oid not in self._orgs_sent:
                try:
                    batch.customers.append(self._customer(org))
                except RECORD_ERRORS as exc:
                    batch.rejected.append(reject(self.name, "organizations", org,
                                                 record_reason(exc)))
                self._orgs_sent.add(oid)
        for raw in tickets:
            try:
                if raw.get("status") == "deleted":
                    batch.deleted_tickets.append(ident(raw.get("id")))
                else:
                    batch.tickets.append(self._ticket(raw))
            except RECORD_ERRORS as exc:
                batch.rejected.append(reject(self.name, EXPORT, raw, record_reason(exc)))
        return batch

    def _organizations(self, items: list[Any], batch: Batch) -> dict[str, Any]:
        """Return organizations by id; one without a usable id is quarantined."""
        orgs, bad = _by_id(items, "id")
        for org in bad:
            batch.rejected.append(reject(self.name, "organizations", org,
                                         "id is missing or not a string or an integer"))
        return orgs

    def _customer(self, org: ZendeskOrganization) -> Customer:
        c, fields = self.config, as_object(org.get("organization_fields"))
        plan = as_text(fields.get(c.plan_field)) or None if c.plan_field else None
        arr = amount(fields.get(c.arr_field), c.arr_multiplier) if c.arr_field else None
        oid = ident(org.get("id"))
        self._plans[oid] = plan
        return Customer(self.name, oid, as_text(org.get("name")), plan, arr)

    def _ticket(self, raw: ZendeskTicket) -> Ticket:
        c, tid = self.config, ident(raw.get("id"))
        fields = {str(f.get("id")): f.get("value") for f in raw.get("custom_fields") or []}
        org = optional_ident(raw.get("organization_id"), "organization_id")
        if org:
            self._ticket_orgs[tid] = org
        plan = self._plans.get(org) if org else None
        subject = as_text(raw.get("subject"))
        # NOTE: description is the text of the ticket's first comment, read-only
        # (developer.zendesk.com/api-reference/ticketing/tickets/tickets/#json-format).
        description = as_text(raw.get("description"))
        return Ticket(
            source=self.name, external_id=tid, created_at=parse_time(raw.get("created_at")),
            updated_at=parse_time(raw.get("updated_at")), customer_id=org,
            requester_id=optional_ident(raw.get("requester_id"), "requester_id"),
            status=as_text(raw.get("status")), subject=subject, description=description,
            tags=normalize_tags([*_tags(raw.get("tags")), *field_tags(fields, c.tag_fields)]),
            refs=collect_refs([as_text(fields.get(f), lists=True) for f in c.reference_fields],
                              [subject, description]),
            segments=field_segments(fields, c.segment_fields,
                                    [("plan", plan)] if "plan" in c.segments else []))

    def _ratings(self, state: dict[str, Any], start: int) -> Iterator[Batch]:
        mark = state.get("ratings") or {"start_time": start}
        high = int(mark.get("high", mark["start_time"]))
        while True:
            params: dict[str, Any] = {"start_time": mark["start_time"], "page[size]": 100}
            if mark.get("after"):
                params["page[after]"] = mark["after"]
            page = page_object(self.http.get_json(RATINGS, params), RATINGS)
            batch = Batch()
            for raw in cast(list[ZendeskRating], page_items(page, "satisfaction_ratings", RATINGS)):
                try:
                    response = self._rating(raw)
                except RECORD_ERRORS as exc:
                    batch.rejected.append(reject(self.name, RATINGS, raw, record_reason(exc)))
                    continue
                high = max(high, epoch(response.submitted_at)) if response else high
                if response:
                    batch.responses.append(response)
            meta = cast(CursorMeta, page_object(page.get("meta") or {}, RATINGS))
            if meta.get("has_more") and meta.get("after_cursor"):
                mark = {**mark, "after": meta["after_cursor"], "high": high}
                state["ratings"] = mark
                yield batch
                continue
            lookback = int(self.config.ratings_lookback_hours * 3600)
            state["ratings"] = {"start_time": max(int(mark["start_time"]), high - lookback)}
            yield batch
            return

    def _rating(self, raw: ZendeskRating) -> Response | None:
        # NOTE: legacy scores are offered, unoffered, good, bad, good_with_comment and
        # bad_with_comment (developer.zendesk.com/api-reference/ticketing/ticket-management/
        # satisfaction_ratings/); any other text, "0_4" say, is no score.
        score, _, rest = as_text(raw.get("score")).partition("_")
        if score not in ("offered", "unoffered", "good", "bad") or rest not in ("",
                                                                            "with_comment"):
            raise ValueError(f"score {str(raw.get('score'))[:40]!r} is not a Zendesk score")
        if score == "unoffered":
            return None
        tid = ident(raw.get("ticket_id"), "ticket_id")
        value = None if score == "offered" else parse_score(score, "good/bad")
        comment = as_text(raw.get("comment"))
        return Response(
            source=self.name, external_id=ident(raw.get("id")),
            submitted_at=parse_time(raw.get("updated_at") or raw.get("created_at")),
            status="offered" if value is None else "answered", score=value,
            satisfied=None if value is None else is_satisfied(value, "good/bad"),
            customer_id=self._ticket_orgs.get(tid),
            respondent_id=optional_ident(raw.get("requester_id"), "requester_id"),
            comment=comment, refs=collect_refs((), [comment]), ticket_source=self.name,
            ticket_id=tid)

    def _surveys(self, state: dict[str, Any], start: int) -> Iterator[Batch]:
        path = f"/api/v2/surveys/{self.config.csat_survey_id}/responses"
        for page, batch in self._cursor_pages(state, "surveys", path):
            for raw in page_items(page, "survey_responses", path):
                try:
                    batch.responses.append(self._survey_response(raw))
                except RECORD_ERRORS as exc:
                    batch.rejected.append(reject(self.name, path, raw, record_reason(exc)))
            yield batch

    def _survey_response(self, raw: dict[str, Any]) -> Response:
        answers = raw.get("answers") or []
        times = [parse_time(a["updated_at"]) for a in answers if a.get("updated_at")]
        if not times:
            raise ValueError("survey response has no answer with a time")
        rating = next((a.get("rating") for a in answers
                       if as_text(a.get("type")).startswith("rating")), None)
        comment = next((as_text(a.get("value") or a.get("text")) for a in answers
                        if a.get("type") == "open_ended"), "")
        ticket = next((ident(s.get("id"), "ticket id") for s in raw.get("subjects") or []
                       if s.get("type") == "ticket"), None)
        scale = self.config.scale
        score = parse_score(rating, scale) if rating is not None else None
        return Response(
            source=self.name, external_id=ident(raw.get("id")), submitted_at=max(times),
            status="offered" if score is None else "answered", score=score,
            satisfied=None if score is None else is_satisfied(score, scale),
            customer_id=self._ticket_orgs.get(ticket) if ticket else None,
            respondent_id=optional_ident(raw.get("responder_id"), "responder_id"),
            comment=comment,
            refs=collect_refs((), [comment]), ticket_source=self.name if ticket else None,
            ticket_id=ticket)

    def _jira_links(self, state: dict[str, Any], start: int) -> Iterator[Batch]:
        # NOTE: links have no time filter; page[after] from the last run reads only new ones.
        for page, batch in self._cursor_pages(state, "jira", JIRA_LINKS):
            refs: dict[str, set[str]] = {}
            for raw in page_items(page, "links", JIRA_LINKS):
                try:
                    found = parse_ref_field(as_text(raw.get("issue_key")))
                    ticket = ident(raw.get("ticket_id"), "ticket_id") if found else None
                except RECORD_ERRORS as exc:
                    batch.rejected.append(reject(self.name, JIRA_LINKS, raw, record_reason(exc)))
                    continue
                if ticket is None:
                    batch.rejected.append(reject(self.name, JIRA_LINKS, raw,
                                                 "issue_key is not a Jira issue key"))
                    continue
                refs.setdefault(ticket, set()).update(found)
            batch.ticket_refs = [(t, tuple(sorted(r))) for t, r in sorted(refs.items())]
            yield batch

    def _cursor_pages(self, state: dict[str, Any], key: str,
                      path: str) -> Iterator[tuple[dict[str, Any], Batch]]:
        """Walk a cursor-paginated list, keeping page[after] so the next run goes on from it."""
        while True:
            mark = state.get(key) or {}
            params: dict[str, Any] = {"page[size]": 100}
            if mark.get("after"):
                params["page[after]"] = mark["after"]
            page = page_object(self.http.get_json(path, params), path)
            meta = cast(CursorMeta, page_object(page.get("meta") or {}, path))
            if meta.get("after_cursor"):
                state[key] = {"after": meta["after_cursor"]}
            yield page, Batch()
            if not (meta.get("has_more") and meta.get("after_cursor")):
                return



def _by_id(items: list[Any], key: str) -> tuple[dict[str, Any], list[Any]]:
    """Return the items with a usable ``key`` id by that id, and those whose id is unusable."""
    found: dict[str, Any] = {}
    bad: list[Any] = []
    for item in items:
        try:
            value = optional_ident(item.get(key), key)
        except RECORD_ERRORS:
            bad.append(item)
            continue
        if value is not None:
            found[value] = item
    return found, bad


def _tags(value: object) -> list[str]:
    """Return a ticket's tags: a list of text; ValueError for anything else."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("tags is not a list")
    return [as_text(tag) for tag in value]
