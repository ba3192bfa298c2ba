"""The records, issues and figures the core works on: frozen, typed, free of I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NewType

IssueKey = NewType("IssueKey", str)
"""An issue as its tracker names it: ``acme/shop#12`` or ``SHOP-12``."""

Scale = Literal["1-5", "1-7", "1-10", "0-10", "good/bad", "thumbs"]
ResponseStatus = Literal["answered", "offered"]
Level = Literal["critical", "high", "medium", "low", "none"]
Method = Literal["usage", "survey", "observed"]
RecordKind = Literal["ticket", "csat", "customer"]

LEVELS: tuple[Level, ...] = ("critical", "high", "medium", "low")


@dataclass(frozen=True, slots=True)
class Ticket:
    """A support ticket or conversation."""

    source: str
    external_id: str
    created_at: datetime
    updated_at: datetime | None = None
    customer_id: str | None = None
    requester_id: str | None = None
    status: str = ""
    subject: str = ""
    description: str = ""
    """The description or first message (the first 2,000 characters count)."""
    tags: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()
    segments: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Response:
    """A CSAT survey answer, or an offered survey left unanswered (no score)."""

    source: str
    external_id: str
    submitted_at: datetime
    status: ResponseStatus = "answered"
    score: float | None = None
    satisfied: bool | None = None
    customer_id: str | None = None
    respondent_id: str | None = None
    comment: str = ""
    tags: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()
    ticket_source: str | None = None
    ticket_id: str | None = None
    segments: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Customer:
    """An account (organization, company) with what is known of it."""

    source: str
    external_id: str
    name: str = ""
    plan: str | None = None
    arr: float | None = None


Record = Ticket | Response | Customer


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that could not be used, kept with where it came from and why."""

    source: str
    location: str
    reason: str
    raw: str = ""


@dataclass(frozen=True, slots=True)
class Issue:
    """A tracker issue as the core sees it."""

    key: IssueKey
    title: str = ""
    url: str = ""
    state: str = "open"
    labels: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    body: str = ""
    """The body (GitHub) or description (Jira) as plain text."""


def customer_key(kind: str, source: str, external_id: str, account: str | None,
                 person: str | None) -> str:
    """Return the key a record's customer is counted by (IMPACT_MODEL.md, "Customer key")."""
    if account:
        return f"a:{account}"
    if person:
        return f"p:{person}"
    return f"r:{kind}:{source}:{external_id}"


@dataclass(frozen=True, slots=True)
class SegmentFigures:
    """n, csat and customers observed for one segment value."""

    name: str
    value: str
    responses: int
    satisfied: int
    csat: float | None
    customers_observed: int


@dataclass(frozen=True, slots=True)
class Trend:
    """CSAT now minus CSAT in the previous window, with its test."""

    delta: float | None
    previous_csat: float | None
    previous_responses: int
    p_value: float | None
    significant: bool


@dataclass(frozen=True, slots=True)
class SuggestedLink:
    """A feature-linked record whose text points at this issue (s > 0, a ≥ 0.5): by id only."""

    record: str
    """``source:external_id``: never the record's text."""
    kind: RecordKind
    attribution: float
    score: float
    words: tuple[str, ...] = ()
    """The stems the record shares with the issue's own text."""


@dataclass(frozen=True, slots=True)
class Impact:
    """Every figure of one issue's Customer Impact (IMPACT_MODEL.md)."""

    issue: IssueKey
    title: str
    url: str
    features: tuple[str, ...]
    references: tuple[str, ...]
    responses: int
    satisfied: int
    dissatisfied: int
    csat: float | None
    csat_low: float | None
    csat_high: float | None
    tickets: int
    offered: int
    customers_observed: int
    named_customers: int
    attributed_customers: float
    linked_affected: int
    linked_affected_low: int
    linked_affected_high: int
    affected: int
    affected_low: int
    affected_high: int
    method: Method
    arr_at_risk: float
    linked_arr: float
    segments: tuple[SegmentFigures, ...]
    trend: Trend
    pain: float
    reach: float
    score: float
    level: Level
    suggested_links: tuple[SuggestedLink, ...] = ()
    explanation: dict[str, object] = field(default_factory=dict, compare=False)
