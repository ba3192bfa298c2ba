"""The window's evidence records (tickets, dissatisfied answers) and their stored text matches.

A record's matches are its k best candidates with s > 0 (core.attribution), stored with the
fingerprint of the candidate set they were computed against: while that set (its issues,
their texts, k and the tokenizer) is unchanged, a cycle reuses them and does no text work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from sqlalchemy import Connection, Table, and_, literal, select, union_all

from impactlink.core.models import IssueKey
from impactlink.store.aggregate import Ranges
from impactlink.store.records import RESPONSES, TICKETS
from impactlink.store.tables import MatchRow
from impactlink.store.upserts import upsert_values

MATCHES: Table = MatchRow.__table__  # type: ignore[attr-defined]


class EvidenceRow(NamedTuple):
    kind: str
    """"t" ticket, "r" response."""
    row_id: int
    source: str
    external_id: str
    customer_key: str
    link_key: str
    segments: str
    candidates: str | None
    """The fingerprint the stored matches are for (None: none stored)."""
    matches: str | None


def evidence(conn: Connection, ranges: Ranges) -> list[EvidenceRow]:
    """Return the linked tickets and dissatisfied answers of the current window.

    Their terms are read apart (``texts_of``), for the few rows that need them: those whose
    stored matches are stale, and those an explanation shows.
    """
    r, t, m = RESPONSES, TICKETS, MATCHES
    tickets = (
        select(literal("t").label("kind"), t.c.id, t.c.source, t.c.external_id, t.c.customer_key,
               t.c.link_key, t.c.segments, m.c.candidates, m.c.matches)
        .select_from(t.outerjoin(m, and_(m.c.kind == "t", m.c.record_id == t.c.id)))
        .where(ranges.tickets, t.c.link_key != ""))
    responses = (
        select(literal("r"), r.c.id, r.c.source, r.c.external_id, r.c.customer_key,
               r.c.link_key, r.c.segments, m.c.candidates, m.c.matches)
        .select_from(r.outerjoin(m, and_(m.c.kind == "r", m.c.record_id == r.c.id)))
        .where(ranges.responses, r.c.status == "answered", r.c.satisfied.is_(False),
               r.c.link_key != ""))
    # Every field but the id repeats across rows (customers, keys, segments, fingerprints,
    # matches of like texts): kept once each, the rows of a large window stay small.
    seen: dict[str | None, str | None] = {}

    def once(value: str | None) -> str | None:
        return seen.setdefault(value, value)

    out = []
    result = conn.execute(union_all(tickets, responses).execution_options(yield_per=20_000))
    for kind, row_id, source, external_id, customer, key, segments, fp, found in result:
        out.append(EvidenceRow(str(once(kind)), row_id, str(once(source)), external_id,
                               str(once(customer)), str(once(key)), str(once(segments)),
                               once(fp), once(found)))
    return out


def parse_matches(text: str | None) -> tuple[tuple[IssueKey, float], ...]:
    """Return stored matches: ``key=score`` joined by tabs."""
    if not text:
        return ()
    out = []
    for item in text.split("\t"):
        key, _, score = item.rpartition("=")
        out.append((IssueKey(key), float(score)))
    return tuple(out)


def format_matches(matches: Iterable[tuple[str, float]]) -> str:
    """Return matches as stored (repr keeps every bit of the float)."""
    return "\t".join(f"{key}={score!r}" for key, score in matches)


def save_matches(conn: Connection, rows: Sequence[tuple[str, int, str, str]]) -> None:
    """Store (kind, record id, candidates fingerprint, matches) rows, replacing older ones."""
    if rows:
        upsert_values(conn, MATCHES, ("kind", "record_id", "candidates", "matches"),
                      list(rows), ["kind", "record_id"])


def texts_of(conn: Connection, wanted: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
    """Return the terms of some records, by (kind, row id)."""
    out: dict[tuple[str, int], str] = {}
    by_kind: dict[str, list[int]] = {}
    for kind, row_id in wanted:
        by_kind.setdefault(kind, []).append(row_id)
    for kind, ids in by_kind.items():
        table = TICKETS if kind == "t" else RESPONSES
        ids.sort()
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            for row_id, terms in conn.execute(select(table.c.id, table.c.terms)
                                              .where(table.c.id.in_(chunk))):
                out[(kind, row_id)] = terms
    return out
