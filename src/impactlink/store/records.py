"""Save what sources yield: records upserted by (source, external id), with their cursor."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Table, bindparam, delete, select, update
from sqlalchemy.exc import DataError, IntegrityError

from impactlink.core.models import Customer, Rejected, Response, Ticket, customer_key
from impactlink.core.text import TOKENIZER_VERSION, cap, join_terms, split_terms, tokenizer
from impactlink.sources.base import Batch
from impactlink.sources.screen import screen_batch, shown
from impactlink.store.tables import (
    CursorRow,
    CustomerRow,
    MatchRow,
    MetaRow,
    QuarantineRow,
    ResponseRow,
    TicketRow,
)
from impactlink.store.upserts import TimeParam, as_is, insert_for, sqlite_time, tune, upsert_values
from impactlink.store.upserts import _upsert as _upsert  # state.py's upserts

Keyer = Callable[[tuple[str, ...], tuple[str, ...]], str]
"""Map a record's normalised tags and references to its link key."""

TICKETS: Table = TicketRow.__table__  # type: ignore[attr-defined]
RESPONSES: Table = ResponseRow.__table__  # type: ignore[attr-defined]
CUSTOMERS: Table = CustomerRow.__table__  # type: ignore[attr-defined]
CURSORS: Table = CursorRow.__table__  # type: ignore[attr-defined]
QUARANTINE: Table = QuarantineRow.__table__  # type: ignore[attr-defined]
META: Table = MetaRow.__table__  # type: ignore[attr-defined]
MATCHES: Table = MatchRow.__table__  # type: ignore[attr-defined]

_UNIQUE = ["source", "external_id"]


def now() -> datetime:
    """Return the current time, aware UTC."""
    return datetime.now(UTC)


_SEGMENT_TEXT: dict[tuple[tuple[str, str], ...], str] = {}


def _segments(segments: tuple[tuple[str, str], ...]) -> str:
    """Return segment values as a JSON object with sorted keys (cached: few combinations)."""
    text = _SEGMENT_TEXT.get(segments)
    if text is None:
        text = json.dumps(dict(sorted(segments)), ensure_ascii=False, sort_keys=True)
        if len(_SEGMENT_TEXT) < 100_000:
            _SEGMENT_TEXT[segments] = text
    return text


TICKET_COLUMNS = ("source", "external_id", "customer_id", "requester_id", "customer_key",
                  "created_at", "updated_at", "status", "subject", "description", "terms",
                  "tags", "refs", "link_key", "segments")
RESPONSE_COLUMNS = ("source", "external_id", "submitted_at", "status", "score", "satisfied",
                    "customer_id", "respondent_id", "customer_key", "comment", "terms", "tags",
                    "refs", "own_key", "link_key", "ticket_source", "ticket_id", "segments")


def ticket_terms(subject: str, description: str) -> str:
    """Return a ticket's stored terms: the distinct stems of its subject and description."""
    return join_terms(tokenizer().terms(f"{subject} {cap(description)}"))


def response_terms(comment: str, ticket_terms: str | None) -> str:
    """Return a response's stored terms: its comment's stems and those of the ticket it rates."""
    own = tokenizer().stored_terms(comment)
    if not ticket_terms:
        return own
    return join_terms(sorted(set(split_terms(own)) | set(split_terms(ticket_terms))))


def ticket_values(t: Ticket, keyer: Keyer, time: TimeParam = as_is) -> tuple[Any, ...]:
    """Return the row a ticket is stored as, in TICKET_COLUMNS order."""
    return (t.source, t.external_id, t.customer_id, t.requester_id,
            customer_key("ticket", t.source, t.external_id, t.customer_id, t.requester_id),
            time(t.created_at), None if t.updated_at is None else time(t.updated_at),
            t.status, t.subject, cap(t.description), ticket_terms(t.subject, t.description),
            "|".join(t.tags), "|".join(t.refs), keyer(t.tags, t.refs),
            _segments(t.segments))


def response_values(r: Response, keyer: Keyer, ticket: RatedTicket | None = None,
                    time: TimeParam = as_is) -> tuple[Any, ...]:
    """Return the row a response (or offered survey) is stored as, in RESPONSE_COLUMNS order.

    ``ticket`` is the stored ticket the response rates, if any: the response inherits its
    link key, and its account and segments when it has none of its own.
    """
    own = keyer(r.tags, r.refs)
    account = r.customer_id or (ticket.customer_id if ticket else None)
    segments = _segments(r.segments)
    if ticket and segments == "{}":
        segments = ticket.segments
    return (r.source, r.external_id, time(r.submitted_at), r.status, r.score, r.satisfied,
            account, r.respondent_id,
            customer_key("csat", r.source, r.external_id, account, r.respondent_id),
            r.comment, response_terms(r.comment, ticket.terms if ticket else None),
            "|".join(r.tags), "|".join(r.refs), own,
            merge_keys(own, ticket.link_key) if ticket else own,
            r.ticket_source, r.ticket_id, segments)


def customer_row(c: Customer) -> dict[str, Any]:
    """Return the row a customer is stored as."""
    return {"source": c.source, "external_id": c.external_id, "name": c.name,
            "plan": c.plan, "arr": c.arr}


def quarantine_rows(rejected: Iterable[Rejected], run_id: int | None) -> list[dict[str, Any]]:
    """Return quarantine rows, trimmed to the columns' sizes."""
    return [{"source": r.source, "location": r.location[:1000], "reason": r.reason[:1000],
             "raw": r.raw[:2000], "run_id": run_id, "created_at": now()} for r in rejected]


# What a row's values make the store refuse (PostgreSQL: NUL in text, a value too long for
# its column; the drivers: a lone surrogate, an integer too large). A lost connection or a
# locked database is not among them: it fails the batch, and the source's step, as it should.
_ROW_ERRORS: tuple[type[Exception], ...] = (DataError, IntegrityError, ValueError, OverflowError)

_Item = tuple[str, Any]
"""One thing a batch stores: ("ticket", Ticket), ("response", ...), ("customer", ...),
("deleted", ticket id) or ("refs", (ticket id, refs))."""


def save_batch(engine: Engine, source: str, batch: Batch, keyer: Keyer,
               run_id: int | None = None) -> int:
    """Store a batch and its cursor in one transaction: a crash keeps both or neither.

    The batch is first screened in place by the rules of ``sources.screen`` (a no-op for what
    a source screened already), so that SQLite and PostgreSQL hold the same: a NUL byte or a
    lone surrogate is removed from text (counted in ``batch.repaired``), and an id holding
    one is quarantined, on both. When a row's values still make the store refuse the batch,
    it is narrowed, half by half, to the records that cause it. Those are quarantined with
    their source, kind and external id and the error's class, never their values; the
    others are stored, then the cursor. A crash while narrowing keeps the cursor where it
    was: the batch is read and upserted again. Return how many records the store refused.
    """
    if not batch.screened:  # a file source screened each record as it read it
        screen_batch(source, batch)
    rejected = [_evidence(r) for r in batch.rejected]
    whole = Batch(batch.tickets, batch.responses, batch.customers, rejected,
                  batch.deleted_tickets, batch.ticket_refs, cursor=batch.cursor)
    try:
        with engine.begin() as conn:
            _store(conn, source, whole, keyer, run_id)
        return 0
    except _ROW_ERRORS:
        pass
    refused: list[Rejected] = []
    _narrow(engine, source, _items(batch), keyer, refused)
    with engine.begin() as conn:
        _store(conn, source, Batch(rejected=[*rejected, *refused], cursor=batch.cursor), keyer,
               run_id)
    return len(refused)


def _store(conn: Connection, source: str, batch: Batch, keyer: Keyer,
           run_id: int | None) -> None:
    """Write a batch within the caller's transaction."""
    tune(conn, "bulk")
    time: TimeParam = sqlite_time if conn.dialect.name == "sqlite" else as_is
    upsert_values(conn, TICKETS, TICKET_COLUMNS,
                   [ticket_values(t, keyer, time) for t in batch.tickets], _UNIQUE)
    rated = _rated_tickets(conn, batch.responses)
    upsert_values(conn, RESPONSES, RESPONSE_COLUMNS, [
        response_values(r, keyer, rated.get((r.ticket_source or "", r.ticket_id or "")),
                        time) for r in batch.responses], _UNIQUE)
    _upsert(conn, CUSTOMERS, [customer_row(c) for c in batch.customers], _UNIQUE)
    if batch.deleted_tickets:
        conn.execute(delete(TICKETS).where(TICKETS.c.source == source,
                                           TICKETS.c.external_id.in_(batch.deleted_tickets)))
    for ticket_id, refs in batch.ticket_refs:
        _add_ticket_refs(conn, source, ticket_id, refs, keyer)
    changed = {t.external_id for t in batch.tickets} | set(batch.deleted_tickets)
    changed |= {ticket_id for ticket_id, _ in batch.ticket_refs}
    _propagate(conn, source, sorted(changed))
    if batch.rejected:
        stmt = insert_for(conn, QUARANTINE).on_conflict_do_nothing(
            index_elements=["source", "location", "reason"])
        conn.execute(stmt, quarantine_rows(batch.rejected, run_id))
    if len(batch) or batch.deleted_tickets or batch.ticket_refs:
        bump_revision(conn)
    if batch.cursor is not None:
        _upsert(conn, CURSORS, [{"source": source, "cursor": batch.cursor,
                                 "updated_at": now()}], ["source"])


def _items(batch: Batch) -> list[_Item]:
    """Return what a batch stores, in the order a batch is stored (tickets before responses)."""
    return [*(("ticket", t) for t in batch.tickets), *(("response", r) for r in batch.responses),
            *(("customer", c) for c in batch.customers),
            *(("deleted", d) for d in batch.deleted_tickets),
            *(("refs", pair) for pair in batch.ticket_refs)]


def _batch_of(items: Sequence[_Item]) -> Batch:
    """Return a batch (without cursor or quarantine) of some of a batch's items."""
    batch = Batch()
    lists: dict[str, list[Any]] = {"ticket": batch.tickets, "response": batch.responses,
                                   "customer": batch.customers,
                                   "deleted": batch.deleted_tickets, "refs": batch.ticket_refs}
    for kind, value in items:
        lists[kind].append(value)
    return batch


def _narrow(engine: Engine, source: str, items: Sequence[_Item], keyer: Keyer,
            refused: list[Rejected]) -> None:
    """Store the items in halves, down to single ones; quarantine each one the store refuses."""
    try:
        with engine.begin() as conn:
            _store(conn, source, _batch_of(items), keyer, None)
        return
    except _ROW_ERRORS as exc:
        if len(items) > 1:
            middle = len(items) // 2
            _narrow(engine, source, items[:middle], keyer, refused)
            _narrow(engine, source, items[middle:], keyer, refused)
            return
        refused.append(_refusal(source, items[0], exc))


def _refusal(source: str, item: _Item, exc: Exception) -> Rejected:
    """Return the quarantine entry of a record the store refused: where it is, never its values."""
    kind, value = item
    if kind == "deleted":
        external_id = value
    elif kind == "refs":
        external_id = value[0]
    else:
        external_id = value.external_id
    cause = getattr(exc, "orig", None) or exc  # the driver's own error names the problem best
    return Rejected(source, shown(f"{kind} id={external_id}")[:1000],
                    f"the store refused it ({type(cause).__name__})")


def _evidence(rejected: Rejected) -> Rejected:
    """Return a quarantine entry that any store accepts (see sources.screen.shown)."""
    return Rejected(rejected.source, shown(rejected.location), shown(rejected.reason),
                    shown(rejected.raw))


def merge_keys(own: str, inherited: str | None) -> str:
    """Return a response's link key: its own features and references plus its ticket's."""
    if not inherited:
        return own
    if not own:
        return inherited
    return "|".join(sorted(set(own.split("|")) | set(inherited.split("|"))))


class RatedTicket(NamedTuple):
    """What a response inherits from the stored ticket it rates."""

    link_key: str
    customer_id: str | None
    segments: str
    terms: str = ""


def _ticket_info(conn: Connection, pairs: set[tuple[str, str]]
                 ) -> dict[tuple[str, str], RatedTicket]:
    found: dict[tuple[str, str], RatedTicket] = {}
    by_source: dict[str, list[str]] = {}
    for src, tid in pairs:
        by_source.setdefault(src, []).append(tid)
    t = TICKETS
    for src, ids in by_source.items():
        for i in range(0, len(ids), 500):
            query = select(t.c.external_id, t.c.link_key, t.c.customer_id, t.c.segments,
                           t.c.terms).where(t.c.source == src,
                                            t.c.external_id.in_(ids[i:i + 500]))
            found.update({(src, tid): RatedTicket(key, cid, seg, terms)
                          for tid, key, cid, seg, terms in conn.execute(query)})
    return found


def _ticket_keys(conn: Connection, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    return {pair: info.link_key for pair, info in _ticket_info(conn, pairs).items()}


def _rated_tickets(conn: Connection, responses: Sequence[Response]
                   ) -> dict[tuple[str, str], RatedTicket]:
    """Return the stored tickets that responses rate."""
    pairs = {(r.ticket_source, r.ticket_id) for r in responses
             if r.ticket_source and r.ticket_id}
    return _ticket_info(conn, pairs) if pairs else {}


def _propagate(conn: Connection, source: str, ticket_ids: Sequence[str]) -> None:
    """Refresh stored responses that rate tickets which arrived, changed or went away.

    Their link key follows the ticket's; a response without an account or segments of its
    own takes the ticket's (a rating read before its ticket, as Zendesk and Freshdesk do).
    """
    r = RESPONSES
    for i in range(0, len(ticket_ids), 500):
        chunk = list(ticket_ids[i:i + 500])
        rows = conn.execute(select(r.c.id, r.c.own_key, r.c.link_key, r.c.ticket_id,
                                   r.c.customer_id, r.c.segments, r.c.comment,
                                   r.c.terms).where(
            r.c.ticket_source == source, r.c.ticket_id.in_(chunk))).all()
        if not rows:
            continue
        tickets = _ticket_info(conn, {(source, row.ticket_id) for row in rows})
        for row in rows:
            ticket = tickets.get((source, row.ticket_id))
            values: dict[str, Any] = {}
            key = merge_keys(row.own_key, ticket.link_key if ticket else None)
            if key != row.link_key:
                values["link_key"] = key
            terms = response_terms(row.comment, ticket.terms if ticket else None)
            if terms != row.terms:
                values["terms"] = terms
            if ticket and ticket.customer_id and not row.customer_id:
                values.update(customer_id=ticket.customer_id,
                              customer_key=customer_key("csat", "", "", ticket.customer_id, None))
            if ticket and row.segments == "{}" and ticket.segments != "{}":
                values["segments"] = ticket.segments
            if values:
                conn.execute(update(r).where(r.c.id == row.id).values(**values))


def _add_ticket_refs(conn: Connection, source: str, ticket_id: str, refs: tuple[str, ...],
                     keyer: Keyer) -> None:
    row = conn.execute(select(TICKETS.c.id, TICKETS.c.tags, TICKETS.c.refs).where(
        TICKETS.c.source == source, TICKETS.c.external_id == ticket_id)).first()
    if row is None:
        return  # NOTE: a reference to a ticket not stored yet is dropped; the export brings it
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


def _each_chunk(engine: Engine, chunk: int,
                redo: Callable[[Connection, Table, Sequence[Any]], int]) -> int:
    """Run ``redo`` over every stored ticket, then every response, a transaction a chunk."""
    changed = 0
    for table in (TICKETS, RESPONSES):
        last = 0
        while True:
            with engine.begin() as conn:
                rows = conn.execute(select(table).where(table.c.id > last)
                                    .order_by(table.c.id).limit(chunk)).mappings().all()
                if not rows:
                    break
                last = rows[-1]["id"]
                changed += redo(conn, table, rows)
    return changed


def relink(engine: Engine, keyer: Keyer, fingerprint: str, chunk: int = 20000) -> int:
    """Recompute every record's link key when the feature catalog changed; return rows changed."""
    with engine.connect() as conn:
        if get_meta(conn, "catalog") == fingerprint:
            return 0
    # Tickets first: responses inherit their keys.
    changed = _each_chunk(engine, chunk, lambda conn, table, rows: _relink_rows(
        conn, table, rows, keyer))
    with engine.begin() as conn:
        set_meta(conn, "catalog", fingerprint)
        if changed:
            bump_revision(conn)
    return changed


def _relink_rows(conn: Connection, table: Table, rows: Sequence[Any], keyer: Keyer) -> int:
    own = {r["id"]: keyer(tuple(filter(None, r["tags"].split("|"))),
                          tuple(filter(None, r["refs"].split("|")))) for r in rows}
    if table is TICKETS:
        updates = [{"row_id": i, "own": k, "key": k} for i, k in own.items()]
    else:
        pairs = {(r["ticket_source"], r["ticket_id"]) for r in rows
                 if r["ticket_source"] and r["ticket_id"]}
        inherited = _ticket_keys(conn, pairs) if pairs else {}
        updates = [{"row_id": r["id"], "own": own[r["id"]],
                    "key": merge_keys(own[r["id"]],
                                      inherited.get((r["ticket_source"], r["ticket_id"])))}
                   for r in rows]
    before = {r["id"]: (r.get("own_key", r["link_key"]), r["link_key"]) for r in rows}
    updates = [u for u in updates if before[u["row_id"]] != (u["own"], u["key"])]
    if updates:
        values: dict[str, Any] = {"link_key": bindparam("key")}
        if table is RESPONSES:
            values["own_key"] = bindparam("own")
        conn.execute(update(table).where(table.c.id == bindparam("row_id")).values(values),
                     updates)
    return len(updates)


def retokenize(engine: Engine, chunk: int = 20000) -> int:
    """Make every stored record's terms anew when the tokenizer changed; return rows changed."""
    with engine.connect() as conn:
        if get_meta(conn, "tokenizer") == TOKENIZER_VERSION:
            return 0
    changed = _each_chunk(engine, chunk, _retokenize_rows)  # tickets first: responses take theirs
    with engine.begin() as conn:
        conn.execute(delete(MATCHES))
        set_meta(conn, "tokenizer", TOKENIZER_VERSION)
        if changed:
            bump_revision(conn)
    return changed


def _retokenize_rows(conn: Connection, table: Table, rows: Sequence[Any]) -> int:
    if table is TICKETS:
        terms = {r["id"]: ticket_terms(r["subject"], r["description"]) for r in rows}
    else:
        pairs = {(r["ticket_source"], r["ticket_id"]) for r in rows
                 if r["ticket_source"] and r["ticket_id"]}
        rated = _ticket_info(conn, pairs) if pairs else {}
        terms = {r["id"]: response_terms(
            r["comment"], (info.terms if (info := rated.get((r["ticket_source"],
                                                              r["ticket_id"]))) else None))
            for r in rows}
    updates = [{"row_id": r["id"], "new_terms": terms[r["id"]]} for r in rows
               if r["terms"] != terms[r["id"]]]
    if updates:
        conn.execute(update(table).where(table.c.id == bindparam("row_id"))
                     .values(terms=bindparam("new_terms")), updates)
    return len(updates)
