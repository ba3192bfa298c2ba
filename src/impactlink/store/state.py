"""The store's view of issues, links, computed impact, writes, runs and quarantine."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, select, update

from impactlink.core.attribution import issue_text
from impactlink.core.matching import Matcher
from impactlink.core.models import Issue, IssueKey
from impactlink.core.text import cap, join_terms, split_terms, tokenizer
from impactlink.store.records import QUARANTINE, RESPONSES, _upsert, now
from impactlink.store.tables import (
    ImpactRow,
    IssueRow,
    RunRow,
    WrittenRow,
)

ISSUES: Table = IssueRow.__table__  # type: ignore[attr-defined]
IMPACTS: Table = ImpactRow.__table__  # type: ignore[attr-defined]
WRITTEN: Table = WrittenRow.__table__  # type: ignore[attr-defined]
RUNS: Table = RunRow.__table__  # type: ignore[attr-defined]


def sync_issues(engine: Engine, tracker: str, issues: Sequence[Issue],
                features: Mapping[IssueKey, tuple[str, ...]]) -> None:
    """Store the tracker's issues with their texts' terms; those it no longer lists are closed."""
    synced = now()
    with engine.connect() as conn:
        known = {r.key: (r.title, r.body, r.terms)
                 for r in conn.execute(select(ISSUES.c.key, ISSUES.c.title, ISSUES.c.body,
                                              ISSUES.c.terms))}
    rows = []
    for i in issues:
        body = cap(i.body)
        before = known.get(i.key)
        if before is not None and before[:2] == (i.title, body):
            terms = before[2]  # the text is unchanged: no text work
        else:
            terms = join_terms(tokenizer().tokens(issue_text(i.title, body)))
        rows.append({"key": i.key, "tracker": tracker, "title": i.title, "url": i.url,
                     "state": i.state, "labels": json.dumps(list(i.labels)),
                     "components": json.dumps(list(i.components)),
                     "features": "|".join(features.get(i.key, ())), "body": body,
                     "terms": terms, "synced_at": synced})
    with engine.begin() as conn:
        _upsert(conn, ISSUES, rows, ["key"])
        conn.execute(update(ISSUES).where(ISSUES.c.synced_at < synced).values(state="closed"))


def load_issues(conn: Connection) -> list[Issue]:
    """Return the stored issues."""
    return [Issue(IssueKey(r.key), r.title, r.url, r.state, tuple(json.loads(r.labels)),
                  tuple(json.loads(r.components)), r.body)
            for r in conn.execute(select(ISSUES).order_by(ISSUES.c.key))]


def issue_terms(conn: Connection) -> dict[IssueKey, list[str]]:
    """Return the stored terms of every open issue's text (tf and dl)."""
    query = select(ISSUES.c.key, ISSUES.c.terms).where(ISSUES.c.state == "open")
    return {IssueKey(k): split_terms(t) for k, t in conn.execute(query)}


def retokenize_issues(engine: Engine) -> int:
    """Make every stored issue's terms anew (the tokenizer changed); return how many."""
    with engine.begin() as conn:
        rows = conn.execute(select(ISSUES.c.key, ISSUES.c.title, ISSUES.c.body)).all()
        for key, title, body in rows:
            conn.execute(update(ISSUES).where(ISSUES.c.key == key).values(
                terms=join_terms(tokenizer().tokens(issue_text(title, body)))))
    return len(rows)


def linking_keys_by_issue(conn: Connection, matcher: Matcher) -> dict[str, dict[str, str]]:
    """Return, per open issue, the stored link keys that link records to it, with why."""
    from impactlink.store.records import TICKETS

    keys: set[str] = set()
    for table in (TICKETS, RESPONSES):
        keys.update(k for (k,) in conn.execute(select(table.c.link_key).distinct()) if k)
    out: dict[str, dict[str, str]] = {}
    for key in keys:
        for link in matcher.links(key):
            out.setdefault(link.issue, {})[key] = link.reasons
    return out


def linking_keys(conn: Connection, matcher: Matcher, issue: str) -> dict[str, str]:
    """Return the stored link keys that link records to one issue, with why."""
    return linking_keys_by_issue(conn, matcher).get(issue, {})


def representative_comments(conn: Connection, keys: Mapping[str, str], start: datetime,
                            end: datetime, limit: int,
                            preferred: Sequence[str] = ()) -> list[str]:
    """Return comments of dissatisfied linked responses in the window (raw text).

    Those of ``preferred`` records (``source:external_id``: the issue's strongest matches)
    come first, then the newest of the records that name the issue or share its features.
    """
    r = RESPONSES
    if limit <= 0 or not keys:
        return []
    base = (select(r.c.source, r.c.external_id, r.c.comment)
            .where(r.c.link_key.in_(list(keys)), r.c.submitted_at > start,
                   r.c.submitted_at <= end, r.c.status == "answered",
                   r.c.satisfied.is_(False), r.c.comment != ""))
    picked: list[str] = []
    wanted = set(preferred)
    if wanted:
        for source, external_id, text in conn.execute(base):
            if f"{source}:{external_id}" in wanted:
                picked.append(text)
    query = base.order_by(r.c.submitted_at.desc(), r.c.id.desc()).limit(limit + len(picked))
    for _, _, text in conn.execute(query):
        if len(picked) >= limit:
            break
        if text not in picked:
            picked.append(text)
    return picked[:limit]


def load_impacts(conn: Connection) -> dict[str, dict[str, Any]]:
    """Return the stored figures per issue (as of the last compute)."""
    return {r.issue_key: json.loads(r.figures) for r in conn.execute(select(IMPACTS))}


def touch_impacts(engine: Engine, as_of: datetime) -> None:
    """Move the stored impact's as-of time (its figures hold as they are)."""
    with engine.begin() as conn:
        conn.execute(update(IMPACTS).values(as_of=as_of))


def save_impacts(engine: Engine, as_of: datetime, figures: Mapping[str, dict[str, Any]]) -> None:
    """Replace the stored impact with this compute's figures."""
    computed = now()
    rows = [{"issue_key": key, "as_of": as_of, "score": f["score"], "level": f["level"],
             "figures": json.dumps(f, sort_keys=True), "computed_at": computed}
            for key, f in figures.items()]
    with engine.begin() as conn:
        conn.execute(delete(IMPACTS))
        if rows:
            conn.execute(IMPACTS.insert(), rows)


class StoreJournal:
    """What was last written per issue and target, committed after each write."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with engine.connect() as conn:
            self._cache = {(r.issue_key, r.target): r.fingerprint
                           for r in conn.execute(select(WRITTEN))}

    def last(self, issue: str, target: str) -> str | None:
        return self._cache.get((issue, target))

    def record(self, issue: str, target: str, fingerprint: str) -> None:
        with self.engine.begin() as conn:
            _upsert(conn, WRITTEN, [{"issue_key": issue, "target": target,
                                     "fingerprint": fingerprint, "written_at": now()}],
                    ["issue_key", "target"])
        self._cache[(issue, target)] = fingerprint

    def issues(self) -> set[str]:
        """Return the issues anything was ever written to."""
        return {issue for issue, _ in self._cache}


def start_run(engine: Engine, as_of: datetime, dry_run: bool) -> int:
    """Record that a cycle started; return its id."""
    with engine.begin() as conn:
        result = conn.execute(RUNS.insert().values(started_at=now(), as_of=as_of,
                                                   status="running", dry_run=dry_run,
                                                   summary="{}"))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def finish_run(engine: Engine, run_id: int, status: str, summary: Mapping[str, Any]) -> None:
    """Record how a cycle ended."""
    with engine.begin() as conn:
        conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(
            finished_at=now(), status=status, summary=json.dumps(summary, default=str)))


def recent_runs(conn: Connection, limit: int = 10) -> list[dict[str, Any]]:
    """Return the last runs, newest first."""
    query = select(RUNS).order_by(RUNS.c.id.desc()).limit(limit)
    return [{**dict(r), "summary": json.loads(r.summary)} for r in conn.execute(query).mappings()]


def quarantined(conn: Connection, source: str | None = None) -> list[dict[str, Any]]:
    """Return quarantined records, oldest first."""
    query = select(QUARANTINE).order_by(QUARANTINE.c.id)
    if source:
        query = query.where(QUARANTINE.c.source == source)
    return [dict(r) for r in conn.execute(query).mappings()]


def quarantine_counts(conn: Connection, run_id: int) -> dict[str, int]:
    """Return how many records each source quarantined in one run."""
    from sqlalchemy import func

    query = (select(QUARANTINE.c.source, func.count()).where(QUARANTINE.c.run_id == run_id)
             .group_by(QUARANTINE.c.source))
    return {s: int(n) for s, n in conn.execute(query)}
