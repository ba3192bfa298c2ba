"""Whether the impact the last compute stored is exactly what a compute now would give.

Figures depend on the records in the windows, the issues, the catalog and the settings,
nothing else. Every batch that changes records bumps ``data_revision`` in the same
transaction; a compute stores a fingerprint of its inputs (that revision included) and its
as-of time once its figures are saved. When the fingerprint is unchanged and no record's
time lies where a window edge moved since that as-of time, every window holds the same
records as then, so every figure is the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import astuple
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select

from impactlink import __version__
from impactlink.store.records import RESPONSES, TICKETS, get_meta, set_meta
from impactlink.store.state import load_issues

INPUTS = "impact_inputs"


def fingerprint(conn: Connection, inputs: Mapping[str, Any]) -> str:
    """Return a hash of the compute's inputs: settings given, stored revision and issues."""
    shape = {"version": __version__, "inputs": inputs,
             "data_revision": get_meta(conn, "data_revision")}
    h = hashlib.sha256(json.dumps(shape, sort_keys=True, default=str).encode())
    # Issues hashed field by field: a JSON document of thousands of bodies costs more.
    for issue in load_issues(conn):
        for value in astuple(issue):
            h.update(repr(value).encode())
            h.update(b"\0")
    return h.hexdigest()


def reusable(conn: Connection, inputs: str, as_of: datetime, window_days: int) -> bool:
    """Return whether the stored impact is what computing with these inputs would give."""
    stored = get_meta(conn, INPUTS)
    if not stored:
        return False
    last = json.loads(stored)
    if last["fingerprint"] != inputs:
        return False
    return not edges_moved_over(conn, window_days, datetime.fromisoformat(last["as_of"]), as_of)


def edges_moved_over(conn: Connection, window_days: int, before: datetime,
                     after: datetime) -> bool:
    """Return whether a record lies between where a window edge was and where it is now.

    Responses count in both windows (three edges), tickets in the current one (two).
    """
    low, high = min(before, after), max(before, after)
    if low == high:
        return False
    span = timedelta(days=window_days)
    for column, edges in ((RESPONSES.c.submitted_at, 3), (TICKETS.c.created_at, 2)):
        for edge in range(edges):
            shift = edge * span
            query = select(column).where(column > low - shift, column <= high - shift).limit(1)
            if conn.execute(query).first() is not None:
                return True
    return False


def forget(engine: Engine) -> None:
    """Drop the stored fingerprint before the stored impact is replaced."""
    with engine.begin() as conn:
        set_meta(conn, INPUTS, "")


def remember(engine: Engine, inputs: str, as_of: datetime, evidence: int = 0) -> None:
    """Store the fingerprint of the impact just saved (and how many records it attributed)."""
    with engine.begin() as conn:
        set_meta(conn, INPUTS, json.dumps({"fingerprint": inputs, "as_of": as_of.isoformat(),
                                           "evidence": evidence}))


def stored_evidence(conn: Connection) -> int:
    """Return how many evidence records the stored impact attributed."""
    stored = get_meta(conn, INPUTS)
    return int(json.loads(stored).get("evidence", 0)) if stored else 0
