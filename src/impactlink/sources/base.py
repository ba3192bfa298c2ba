"""What every source yields: batches of records with the cursor to keep after each."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from impactlink.core.models import Customer, Rejected, Response, Ticket


@dataclass(slots=True)
class Batch:
    """One page of records. The store saves it and its cursor in one transaction."""

    tickets: list[Ticket] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    customers: list[Customer] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    deleted_tickets: list[str] = field(default_factory=list)
    ticket_refs: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    """References learnt apart from the ticket (e.g. Zendesk Jira links): (ticket id, refs)."""
    repaired: int = 0
    """Records kept after a repair by rule (see sources.screen), counted in the summary."""
    screened: bool = False
    """Whether every record already met sources.screen (the store then does not repeat it)."""
    cursor: str | None = None
    """The bookmark to store with this batch (JSON text); None keeps the stored one."""

    def __len__(self) -> int:
        return len(self.tickets) + len(self.responses) + len(self.customers)


class Source(Protocol):
    """A stream of records, resumable from a stored cursor."""

    name: str

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        """Yield batches from where the cursor says the last run stopped."""
        ...

    def check(self) -> list[str]:
        """Return problems found with one cheap request (or file access); [] when fine."""
        ...


class BackfillSource(Source, Protocol):
    """A source that can start over from a date (``impactlink backfill``)."""

    def start_cursor(self, since: datetime) -> str:
        """Return a cursor that makes batches() read everything updated since that time."""
        ...
