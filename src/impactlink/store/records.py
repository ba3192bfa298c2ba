"""Save what sources yield: records upserted by (source, external id), with their cursor."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from impactlink.core.models import Customer, Rejected, Response, Ticket, customer_key
from impactlink.sources.base import Batch
from impactlink.store.tables import (
    CursorRow,
    CustomerRow,
    MetaRow,
    QuarantineRow,
    ResponseRow,
    TicketRow,
)

Keyer = Callable[[tuple[str, ...], tuple[str, ...]], str]
"""Map a record's normalised tags and references to its link key."""

TICKETS: Table = TicketRow.__table__  # type: ignore[attr-defined]
RESPONSES: Table = ResponseRow.__table__  # type: ignore[attr-defined]
CUSTOMERS: Table = CustomerRow.__table__  # type: ignore[attr-defined]
CURSORS: Table = CursorRow.__table__  # type: ignore[attr-defined]
QUARANTINE: Table = QuarantineRow.__table__  # type: ignore[attr-defined]
META: Table = MetaRow.__table__  # type: ignore[attr-defined]

_UNIQUE = ["source", "external_id"]


def now() -> datetime:
    """Return the current time, aware UTC."""
    return datetime.now(UTC)


def _insert(conn: Connection, table: Table) -> Any:
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def _upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]],
            keys: list[str]) -> None:
    if not rows:
        return
    # Within one statement a key may appear once (PostgreSQL refuses it twice): last wins.
    unique = list({tuple(r[k] for k in keys): r for r in rows}.values())
    stmt = _insert(conn, table)
    columns = [c for c in unique[0] if c not in keys]
    stmt = stmt.on_conflict_do_update(index_elements=keys,
                                      set_={c: stmt.excluded[c] for c in columns})
    conn.execute(stmt, unique)


def _segments(segments: tuple[tuple[str, str], ...]) -> str:
    return json.dumps([list(p) for p in sorted(segments)], ensure_ascii=False)


def ticket_row(t: Ticket, keyer: Keyer) -> dict[str, Any]:
    """Return the row a ticket is stored as."""
    return {
        "source": t.source, "external_id": t.external_id, "customer_id": t.customer_id,
        "requester_id": t.requester_id,
        "customer_key": customer_key("ticket", t.source, t.external_id, t.customer_id,
                                     t.requester_id),
        "created_at": t.created_at, "updated_at": t.updated_at, "status": t.status,
        "subject": t.subject, "tags": "|".join(t.tags), "refs": "|".join(t.refs),
        "link_key": keyer(t.tags, t.refs), "segments": _segments(t.segments),
    }


def response_row(r: Response, keyer: Keyer) -> dict[str, Any]:
    """Return the row a response (or offered survey) is stored as."""
    return {
        "source": r.source, "external_id": r.external_id, "submitted_at": r.submitted_at,
        "status": r.status, "score": r.score, "satisfied": r.satisfied,
        "customer_id": r.customer_id, "respondent_id": r.respondent_id,
        "customer_key": customer_key("csat", r.source, r.external_id, r.customer_id,
                                     r.respondent_id),
        "comment": r.comment, "tags": "|".join(r.tags), "refs": "|".join(r.refs),
        "link_key": keyer(r.tags, r.refs), "ticket_source": r.ticket_source,
        "ticket_id": r.ticket_id, "segments": _segments(r.segments),
    }


def customer_row(c: Customer) -> dict[str, Any]:
    """Return the row a customer is stored as."""
    return {"source": c.source, "external_id": c.external_id, "name": c.name,
            "plan": c.plan, "arr": c.arr}


def quarantine_rows(rejected: Iterable[Rejected], run_id: int | None) -> list[dict[str, Any]]:
    """Return quarantine rows, trimmed to the columns' sizes."""
    return [{"source": r.source, "location": r.location[:1000], "reason": r.reason[:1000],
             "raw": r.raw[:2000], "run_id": run_id, "created_at": now()} for r in rejected]


def save_batch(engine: Engine, source: str, batch: Batch, keyer: Keyer,
               run_id: int | None = None) -> None:
    """Store a batch and its cursor in one transaction: a crash keeps both or neither."""
    with engine.begin() as conn:
        _upsert(conn, TICKETS, [ticket_row(t, keyer) for t in batch.tickets], _UNIQUE)
        _upsert(conn, RESPONSES, [response_row(r, keyer) for r in batch.responses], _UNIQUE)
        _upsert(conn, CUSTOMERS, [customer_row(c) for c in batch.customers], _UNIQUE)
        if batch.deleted_tickets:
            conn.execute(delete(TICKETS).where(TICKETS.c.source == source,
                                               TICKETS.c.external_id.in_(batch.deleted_tickets)))
        for ticket_id, refs in batch.ticket_refs:
            _add_ticket_refs(conn, source, ticket_id, refs, keyer)
        if batch.rejected:
            stmt = _insert(conn, QUARANTINE).on_conflict_do_nothing(
                index_elements=["source", "location", "reason"])
            conn.execute(stmt, quarantine_rows(batch.rejected, run_id))
        if len(batch) or batch.deleted_tickets or batch.ticket_refs:
            bump_revision(conn)
        if batch.cursor is not None:
            _upsert(conn, CURSORS, [{"source": source, "cursor": batch.cursor,
                                     "updated_at": now()}], ["source"])


def _add_ticket_refs(conn: Connection, source: str, ticket_id: str, refs: tuple[str, ...],
                     keyer: Keyer) -> None:
    row = conn.execute(select(TICKETS.c.id, TICKETS.c.tags, TICKETS.c.refs).where(
        TICKETS.c.source == source, TICKETS.c.external_id == ticket_id)).first()
    if row is None:
        return
    merged = tuple(sorted(set(filter(None, row.refs.split("|"))) | set(refs)))
    tags = tuple(filter(None, row.tags.split("|")))
    conn.execute(update(TICKETS).where(TICKETS.c.id == row.id).values(
        refs="|".join(merged), link_key=keyer(tags, merged)))


def load_cursor(engine: Engine, source: str) -> str | None:
    """Return the stored cursor of a source."""
    with engine.connect() as conn:
        return conn.execute(select(CURSORS.c.cursor).where(CURSORS.c.source == source)).scalar()


def reset_cursor(engine: Engine, source: str, cursor: str | None) -> None:
    """Replace (or drop, with None) a source's cursor."""
    with engine.begin() as conn:
        conn.execute(delete(CURSORS).where(CURSORS.c.source == source))
        if cursor is not None:
            conn.execute(CURSORS.insert().values(source=source, cursor=cursor, updated_at=now()))


def get_meta(conn: Connection, key: str) -> str | None:
    """Return a stored setting of the store itself."""
    return conn.execute(select(META.c.value).where(META.c.key == key)).scalar()


def set_meta(conn: Connection, key: str, value: str) -> None:
    """Store a setting of the store itself."""
    _upsert(conn, META, [{"key": key, "value": value}], ["key"])


def bump_revision(conn: Connection) -> None:
    """Mark that stored records changed, so the next cycle recomputes."""
    set_meta(conn, "data_revision", str(int(get_meta(conn, "data_revision") or 0) + 1))


def relink(engine: Engine, keyer: Keyer, fingerprint: str, chunk: int = 20000) -> int:
    """Recompute every record's link key when the feature catalog changed; return rows changed."""
    with engine.connect() as conn:
        if get_meta(conn, "catalog") == fingerprint:
            return 0
    changed = 0
    for table in (TICKETS, RESPONSES):
        last = 0
        while True:
            with engine.begin() as conn:
                rows = conn.execute(
                    select(table.c.id, table.c.tags, table.c.refs, table.c.link_key)
                    .where(table.c.id > last).order_by(table.c.id).limit(chunk)).all()
                if not rows:
                    break
                last = rows[-1].id
                updates = [{"row_id": r.id, "key": key} for r in rows
                           if (key := keyer(tuple(filter(None, r.tags.split("|"))),
                                            tuple(filter(None, r.refs.split("|")))))
                           != r.link_key]
                if updates:
                    conn.execute(update(table).where(table.c.id == bindparam("row_id"))
                                 .values(link_key=bindparam("key")), updates)
                    changed += len(updates)
    with engine.begin() as conn:
        set_meta(conn, "catalog", fingerprint)
        if changed:
            bump_revision(conn)
    return changed
