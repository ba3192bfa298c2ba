"""The rules every record meets before the store, so that SQLite and PostgreSQL see the same.

    identifiers  (ids, ticket source)   a NUL byte or invalid UTF-8 (a lone surrogate): rejected;
                                         longer than the column (200 characters): rejected
    free text    (comment, subject, …)  NUL bytes removed, each lone surrogate (an invalid UTF-8
                                         byte read with surrogateescape, or a JSON "\\ud800")
                                         becomes U+FFFD: kept and counted as repaired
    short text   (status, name, plan)   as free text, then cut to the column's size: repaired
    times                                years 1000 to 8999, so that window arithmetic never
                                         overflows (rejected otherwise)
    numbers      (score, ARR)           finite; ARR from 0 to 10**18 (rejected otherwise)

PostgreSQL refuses NUL in text and SQLite would keep it; removing it from text (where it
carries no meaning) and refusing it in an id (where removing it could merge two records)
makes both stores hold the same rows. ``ValueError`` names what a rejected record breaks.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeVar, cast

from impactlink.core.models import Customer, Rejected, Response, Ticket
from impactlink.sources.base import Batch

ID_MAX = 200
ARR_MAX = 1e18
EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_SIZES = {"status": 100, "name": 500, "plan": 200}
_SURROGATE = re.compile("[\ud800-\udfff]")
# ASCII only: float() would also take "٤", "４", "1_000", "inf" and "nan".
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?", re.ASCII)

Record = Ticket | Response | Customer
R = TypeVar("R", Ticket, Response, Customer)


def is_clean(text: str) -> bool:
    """Return whether text holds neither a NUL byte nor a lone surrogate."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode()  # several times faster than searching for a surrogate
    except UnicodeEncodeError:
        return False
    return True


def clean_text(text: str) -> str:
    """Return free text with NUL bytes removed and lone surrogates replaced by U+FFFD."""
    if is_clean(text):
        return text
    return _SURROGATE.sub("\ufffd", text.replace("\x00", ""))


def shown(text: str) -> str:
    """Return text safe to store as evidence: NUL bytes and lone surrogates become U+FFFD."""
    if is_clean(text):
        return text
    return _SURROGATE.sub("\ufffd", text.replace("\x00", "\ufffd"))


def ascii_number(text: str) -> float:
    """Return ASCII decimal text (an exponent allowed) as a float; ValueError for other text."""
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"{text[:40]!r} is not a number")
    return float(text)


def within_calendar(moment: datetime, field: str) -> datetime:
    """Return the time if it lies in the years 1000 to 8999; ValueError otherwise."""
    if not EARLIEST <= moment < LATEST:
        raise ValueError(f"{field} {moment.isoformat()} is outside the years 1000 to 8999")
    return moment


def check_arr(value: float, shown_as: object) -> float:
    """Return an ARR if it is finite and from 0 to 10**18; ValueError naming the rule otherwise."""
    if not math.isfinite(value):
        raise ValueError(f"arr {shown_as!r:.40} is not a finite number")
    if value < 0:
        raise ValueError(f"arr {shown_as!r:.40} is negative")
    if value > ARR_MAX:
        raise ValueError(f"arr {shown_as!r:.40} is above 10**18")
    return value


def _ident(value: str | None, field: str) -> None:
    if value is None:
        return
    if not is_clean(value):
        raise ValueError(f"{field} holds a NUL byte or invalid UTF-8")
    if len(value) > ID_MAX:
        raise ValueError(f"{field} is longer than {ID_MAX} characters")


def _texts(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(clean_text(v) for v in values)


def _segments(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((clean_text(name), clean_text(value)) for name, value in pairs)


def _short(value: str | None, field: str) -> str | None:
    return None if value is None else clean_text(value)[:_SIZES[field]]


def _ticket(t: Ticket) -> tuple[Ticket, bool]:
    # The common case first, at one test of all texts joined: ids that fit in total fit alone.
    ids = f"{t.external_id}{t.customer_id or ''}{t.requester_id or ''}"
    probe = (f"{ids}{t.status}{t.subject}{t.description}{''.join(t.tags)}"
             f"{_segment_text(t.segments) if t.segments else ''}")
    if (len(ids) <= ID_MAX and is_clean(probe) and len(t.status) <= _SIZES["status"]
            and EARLIEST <= t.created_at < LATEST
            and (t.updated_at is None or EARLIEST <= t.updated_at < LATEST)):
        return t, False
    for field, value in (("id", t.external_id), ("customer_id", t.customer_id),
                         ("requester_id", t.requester_id)):
        _ident(value, field)
    within_calendar(t.created_at, "created_at")
    if t.updated_at is not None:
        within_calendar(t.updated_at, "updated_at")
    if is_clean(probe) and len(t.status) <= _SIZES["status"]:
        return t, False
    return replace(t, status=_short(t.status, "status") or "", subject=clean_text(t.subject),
                   description=clean_text(t.description), tags=_texts(t.tags),
                   segments=_segments(t.segments)), True


def _response(r: Response) -> tuple[Response, bool]:
    ids = (f"{r.external_id}{r.customer_id or ''}{r.respondent_id or ''}"
           f"{r.ticket_source or ''}{r.ticket_id or ''}")
    probe = f"{ids}{r.comment}{''.join(r.tags)}{_segment_text(r.segments) if r.segments else ''}"
    if (len(ids) <= ID_MAX and is_clean(probe) and EARLIEST <= r.submitted_at < LATEST
            and (r.score is None or math.isfinite(r.score))):
        return r, False
    for field, value in (("id", r.external_id), ("customer_id", r.customer_id),
                         ("respondent_id", r.respondent_id), ("ticket_source", r.ticket_source),
                         ("ticket_id", r.ticket_id)):
        _ident(value, field)
    within_calendar(r.submitted_at, "submitted_at")
    if r.score is not None and not math.isfinite(r.score):
        raise ValueError(f"score {r.score!r} is not a finite number")
    if is_clean(probe):
        return r, False
    return replace(r, comment=clean_text(r.comment), tags=_texts(r.tags),
                   segments=_segments(r.segments)), True


def _customer(c: Customer) -> tuple[Customer, bool]:
    _ident(c.external_id, "id")
    if c.arr is not None:
        check_arr(c.arr, c.arr)
    if is_clean(f"{c.name}{c.plan or ''}") and len(c.name) <= _SIZES["name"] \
            and len(c.plan or "") <= _SIZES["plan"]:
        return c, False
    return replace(c, name=_short(c.name, "name") or "", plan=_short(c.plan, "plan")), True


def _segment_text(pairs: tuple[tuple[str, str], ...]) -> str:
    return "".join(f"{name}{value}" for name, value in pairs) if pairs else ""


def screen_record(record: Record) -> tuple[Record, bool]:
    """Return the record as the store may hold it and whether it was repaired; ValueError if not."""
    if isinstance(record, Response):
        return _response(record)
    if isinstance(record, Ticket):
        return _ticket(record)
    return _customer(record)


def screen_batch(source: str, batch: Batch) -> Batch:
    """Apply the rules to every record of a batch: rejects join its quarantine, repairs count."""
    batch.tickets = _screened(source, "ticket", batch.tickets, batch)
    batch.responses = _screened(source, "response", batch.responses, batch)
    batch.customers = _screened(source, "customer", batch.customers, batch)
    batch.deleted_tickets = [t for t in batch.deleted_tickets
                             if _fair_id(source, "deleted ticket", t, batch)]
    batch.ticket_refs = [pair for pair in batch.ticket_refs
                         if _fair_id(source, "ticket refs", pair[0], batch)]
    return batch


def _fair_id(source: str, kind: str, value: str, batch: Batch) -> bool:
    """Return whether an id passes the rules; quarantine it in the batch if not."""
    try:
        _ident(value, "id")
    except ValueError as exc:
        batch.rejected.append(Rejected(source, f"{kind} id={shown(value)[:ID_MAX]}", str(exc)))
        return False
    return True


def _screened(source: str, kind: str, records: list[R], batch: Batch) -> list[R]:
    kept: list[R] = []
    for record in records:
        try:
            clean, repaired = screen_record(record)
        except ValueError as exc:
            location = f"{kind} id={shown(record.external_id)[:ID_MAX]}"
            batch.rejected.append(Rejected(source, location, str(exc)))
            continue
        batch.repaired += repaired
        kept.append(cast(R, clean))  # screen_record returns the type it was given
    return kept
