"""The store's tables. Times are naive UTC; lists are ``|``-joined; segments are JSON text.

A record's ``link_key`` (its features and explicit references, see core.matching) is kept
on the row, so the aggregation can group records first and map groups to issues after.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class TicketRow(SQLModel, table=True):
    __tablename__ = "ticket"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_ticket_source_id"),
        Index("ix_ticket_created_at", "created_at"),
        Index("ix_ticket_link_key", "link_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100)
    external_id: str = Field(max_length=200)
    customer_id: str | None = Field(default=None, max_length=200)
    requester_id: str | None = Field(default=None, max_length=200)
    customer_key: str = Field(max_length=420)
    created_at: datetime
    updated_at: datetime | None = None
    status: str = Field(default="", max_length=100)
    subject: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    """The first 2,000 characters of the description or first message (core.text.cap)."""
    terms: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    """The distinct stems of subject + description (core.text), space-joined."""
    tags: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    refs: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    link_key: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    segments: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))


class ResponseRow(SQLModel, table=True):
    __tablename__ = "csat_response"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_response_source_id"),
        Index("ix_response_submitted_at", "submitted_at"),
        # Partial: most responses rate no ticket, and loads should not index them.
        Index("ix_response_ticket", "ticket_source", "ticket_id",
              sqlite_where=text("ticket_id IS NOT NULL"),
              postgresql_where=text("ticket_id IS NOT NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100)
    external_id: str = Field(max_length=200)
    submitted_at: datetime
    status: str = Field(default="answered", max_length=20)
    score: float | None = None
    satisfied: bool | None = None
    customer_id: str | None = Field(default=None, max_length=200)
    respondent_id: str | None = Field(default=None, max_length=200)
    customer_key: str = Field(max_length=420)
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    terms: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    """The distinct stems of the comment and of the rated ticket's text, space-joined."""
    tags: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    refs: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    own_key: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    """The key of the response's own tags and references."""
    link_key: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    """own_key merged with the key of the ticket it rates."""
    ticket_source: str | None = Field(default=None, max_length=100)
    ticket_id: str | None = Field(default=None, max_length=200)
    segments: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))


class CustomerRow(SQLModel, table=True):
    __tablename__ = "customer"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_customer_source_id"),
        Index("ix_customer_external_id", "external_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100)
    external_id: str = Field(max_length=200)
    name: str = Field(default="", max_length=500)
    plan: str | None = Field(default=None, max_length=200)
    arr: float | None = None


class IssueRow(SQLModel, table=True):
    __tablename__ = "issue"

    key: str = Field(primary_key=True, max_length=300)
    tracker: str = Field(max_length=20)
    title: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    """The first 2,000 characters of the body (GitHub) or description (Jira)."""
    terms: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    """The stems of title + body in order, repeats kept (tf and dl), space-joined."""
    url: str = Field(default="", max_length=1000)
    state: str = Field(default="open", max_length=20)
    labels: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    components: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    features: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    synced_at: datetime


class MatchRow(SQLModel, table=True):
    """A record's strongest text matches among its candidates, for one state of them."""

    __tablename__ = "record_match"

    kind: str = Field(primary_key=True, max_length=1)
    """"t" for a ticket row, "r" for a response row."""
    record_id: int = Field(primary_key=True)
    candidates: str = Field(max_length=64)
    """The fingerprint of the candidate set (its issues and their terms) the matches are for."""
    matches: str = Field(sa_column=Column(Text, nullable=False))
    """The k best (issue, BM25 score) with s > 0: ``key=score`` joined by a tab."""


class ImpactRow(SQLModel, table=True):
    __tablename__ = "impact"

    issue_key: str = Field(primary_key=True, max_length=300)
    as_of: datetime
    score: float = 0.0
    level: str = Field(default="none", max_length=20)
    figures: str = Field(sa_column=Column(Text, nullable=False))
    computed_at: datetime


class WrittenRow(SQLModel, table=True):
    """What was last written to one target of one issue, by fingerprint."""

    __tablename__ = "written"

    issue_key: str = Field(primary_key=True, max_length=300)
    target: str = Field(primary_key=True, max_length=50)
    fingerprint: str = Field(max_length=64)
    written_at: datetime


class CursorRow(SQLModel, table=True):
    __tablename__ = "source_cursor"

    source: str = Field(primary_key=True, max_length=100)
    cursor: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime


class RunRow(SQLModel, table=True):
    __tablename__ = "run"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(index=True)
    finished_at: datetime | None = None
    as_of: datetime
    status: str = Field(default="running", max_length=20)
    dry_run: bool = False
    summary: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))


class QuarantineRow(SQLModel, table=True):
    __tablename__ = "quarantine"
    __table_args__ = (
        UniqueConstraint("source", "location", "reason", name="uq_quarantine_where_why"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100, index=True)
    location: str = Field(max_length=1000)
    reason: str = Field(max_length=1000)
    raw: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    run_id: int | None = None
    created_at: datetime


class MetaRow(SQLModel, table=True):
    __tablename__ = "meta"

    key: str = Field(primary_key=True, max_length=100)
    value: str = Field(sa_column=Column(Text, nullable=False))


class LeaseRow(SQLModel, table=True):
    """A writer lease, for stores without advisory locks (SQLite)."""

    __tablename__ = "lease"

    name: str = Field(primary_key=True, max_length=100)
    holder: str = Field(max_length=200)
    expires_at: datetime
