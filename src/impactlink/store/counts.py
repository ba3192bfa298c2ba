"""Per-issue counts from the store: what ``core.impact.compute`` does one record at a time.

Record totals (responses, tickets, per segment value) do not depend on attribution: they
are summed per link key in SQL and per issue here. Customer figures do: the window's
evidence is read once, each feature-linked record gets its attribution (stored text
matches, or BM25 in bulk for the records whose candidates changed), and
impactlink.engine.customers counts customers per issue. tests/test_store.py holds these
counts to the pure model on random data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, case, func, select

from impactlink.core.attribution import issue_order
from impactlink.core.impact import (
    SHOWN_MATCHES,
    CustomerInfo,
    ImpactSettings,
    IssueCounts,
    weight,
)
from impactlink.core.matching import Matcher, parse_link_key
from impactlink.core.models import IssueKey, SuggestedLink
from impactlink.core.text import TOKENIZER_VERSION, split_terms
from impactlink.engine.bm25 import match_many
from impactlink.engine.customers import CustomerTotals, Engine, Evidence
from impactlink.store import evidence as ev_store
from impactlink.store.aggregate import Ranges, Window, segment_pairs
from impactlink.store.records import RESPONSES, TICKETS
from impactlink.store.upserts import tune

Segment = tuple[str, str]


@dataclass
class Counted:
    """Every issue's counts, and what the compute did to get them."""

    counts: dict[IssueKey, IssueCounts]
    evidence: int = 0
    matched: int = 0
    """Records whose text was scored this time (the others reused stored matches)."""


class _Tally:
    """One issue's record totals."""

    __slots__ = ("features", "n", "n_prev", "o", "references", "s", "s_prev", "segments", "t")

    def __init__(self) -> None:
        self.n = self.s = self.o = self.t = self.n_prev = self.s_prev = 0
        self.segments: dict[Segment, list[int]] = {}
        self.features: set[str] = set()
        self.references: set[str] = set()


def issue_counts(conn: Connection, window: Window, matcher: Matcher, settings: ImpactSettings,
                 *, customers: Mapping[str, CustomerInfo], mean_arr: float | None,
                 multipliers: Mapping[str, float], save: bool = True,
                 ranges: Ranges | None = None) -> Counted:
    """Return the counts of every issue with a linked record in the current window."""
    tune(conn, "grouping")
    ranges = ranges or Ranges.of(conn, window)
    responses = _response_groups(conn, window, ranges)
    tickets = _ticket_groups(conn, ranges)
    current = {k for k, _, prev, *_ in responses if not prev} | {k for k, _, _ in tickets}
    tallies = _tally(responses, tickets, current, matcher)
    rows = ev_store.evidence(conn, ranges)
    attr = _Attributions(matcher, settings)
    attr.resolve(conn, rows, save=save)
    totals, shown = _customer_totals(rows, attr, matcher, settings, customers, mean_arr,
                                     multipliers)
    matches = _with_words(conn, shown, rows, matcher)
    counts = {IssueKey(issue): _counts(t, totals.get(IssueKey(issue)),
                                       matches.get(IssueKey(issue), ()))
              for issue, t in tallies.items()}
    return Counted(counts, len(rows), attr.scored)


def _counts(t: _Tally, c: CustomerTotals | None, matches: tuple[SuggestedLink, ...]
            ) -> IssueCounts:
    c = c or CustomerTotals()
    segments = {pair: (n, s, 0) for pair, (n, s) in t.segments.items()}
    for pair, seen in c.segments.items():
        n, s, _ = segments.get(pair, (0, 0, 0))
        segments[pair] = (n, s, seen)
    return IssueCounts(
        t.n, t.s, t.o, t.t, t.n_prev, t.s_prev, c.observed, c.scaled, c.named, c.share,
        c.weighted, c.arr, c.linked_arr, c.full,
        tuple((name, value, *nsc) for (name, value), nsc in segments.items()),
        tuple(sorted(t.features)), tuple(sorted(t.references)), matches, c.arr_known)


class _Attributions:
    """Each evidence record's attribution, from stored matches or scored in bulk."""

    def __init__(self, matcher: Matcher, settings: ImpactSettings) -> None:
        self.matcher = matcher
        self.settings = settings
        self.text = (settings.text_attribution and settings.feature_attribution == "shared"
                     and settings.text_weight != 0 and settings.text_candidates > 0)
        self.kept: list[tuple[tuple[IssueKey, float], ...]] = []
        self.scored = 0
        self._fingerprints: dict[frozenset[str], str] = {}

    def fingerprint(self, features: frozenset[str]) -> str:
        found = self._fingerprints.get(features)
        if found is None:
            cset = self.matcher.candidate_set(features)
            found = self._fingerprints[features] = (
                f"{cset.fingerprint[:24]}{self.settings.text_candidates:03d}"
                f"v{TOKENIZER_VERSION}")
        return found

    def resolve(self, conn: Connection, rows: list[ev_store.EvidenceRow], *,
                save: bool) -> None:
        """Find every feature-linked row's kept matches; score the rows without valid ones."""
        self.kept = [() for _ in rows]
        if not self.text:
            return
        stale: dict[frozenset[str], list[int]] = {}
        feature_keys: dict[str, frozenset[str] | None] = {}
        parsed: dict[str | None, tuple[tuple[IssueKey, float], ...]] = {}
        for i, row in enumerate(rows):
            features = feature_keys.get(row.link_key, frozenset({""}))
            if features == frozenset({""}):
                linked = self.matcher.links(row.link_key)
                features = feature_keys[row.link_key] = (
                    parse_link_key(row.link_key)[0] if linked and not linked[0].explicit
                    else None)
            if features is None:
                continue
            if row.candidates == self.fingerprint(features):
                # Like texts share one stored string (evidence() keeps each once): parse once.
                known = parsed.get(row.matches)
                if known is None:
                    known = parsed[row.matches] = ev_store.parse_matches(row.matches)
                self.kept[i] = known
            else:
                stale.setdefault(features, []).append(i)
        terms = ev_store.texts_of(conn, ((rows[i].kind, rows[i].row_id)
                                         for idx in stale.values() for i in idx))
        updates: list[tuple[str, int, str, str]] = []
        for features, idx in stale.items():
            cset = self.matcher.candidate_set(features)
            found = match_many(cset, [split_terms(terms[(rows[i].kind, rows[i].row_id)])
                                      for i in idx], self.settings.text_candidates)
            fp = self.fingerprint(features)
            for i, kept in zip(idx, found, strict=True):
                self.kept[i] = tuple((cset.keys[col], s) for col, s in kept)
                updates.append((rows[i].kind, rows[i].row_id, fp,
                                ev_store.format_matches(self.kept[i])))
            self.scored += len(idx)
        if save:
            ev_store.save_matches(conn, updates)


@dataclass
class _KeyInfo:
    """What a link key means for customer counting."""

    feature_set: int
    """Index of its feature set when feature-linked; -1 when it names issues; -2 unlinked."""
    named: tuple[int, ...] = ()


def _customer_totals(rows: list[ev_store.EvidenceRow], attr: _Attributions, matcher: Matcher,
                     settings: ImpactSettings, customers: Mapping[str, CustomerInfo],
                     mean_arr: float | None, multipliers: Mapping[str, float]
                     ) -> tuple[dict[IssueKey, CustomerTotals],
                                dict[IssueKey, list[tuple[int, float, float]]]]:
    """Count customers per issue from the evidence rows and their attributions."""
    issues = sorted(matcher.issues, key=issue_order)
    index = {k: i for i, k in enumerate(issues)}
    group_of: dict[tuple[str, ...], int] = {}
    issue_group = np.array([group_of.setdefault(matcher.issue_features[k], len(group_of))
                            for k in issues], dtype=np.int64)
    compatible: list[list[int]] = []
    sizes: list[int] = []
    infos: dict[str, _KeyInfo] = {}

    def info(key: str) -> _KeyInfo:
        found = infos.get(key)
        if found is None:
            links = matcher.links(key)
            if not links:
                found = _KeyInfo(-2)
            elif links[0].explicit:
                found = _KeyInfo(-1, tuple(index[link.issue] for link in links))
            else:
                candidates = matcher.candidates(parse_link_key(key)[0])
                found = _KeyInfo(len(compatible))
                compatible.append(sorted({int(issue_group[index[c]]) for c in candidates}))
                sizes.append(len(candidates))
            infos[key] = found
        return found

    n = len(rows)
    cust: dict[str, int] = {}
    seg_ids: dict[str, int] = {}
    customer = np.fromiter((cust.setdefault(r.customer_key, len(cust)) for r in rows),
                           dtype=np.int64, count=n)
    ticket = np.fromiter((r.kind == "t" for r in rows), dtype=bool, count=n)
    mult = np.fromiter((multipliers.get(r.source, 1.0) if r.kind == "t" else 1.0
                        for r in rows), dtype=np.float64, count=n)
    segments = np.fromiter((seg_ids.setdefault(r.segments, len(seg_ids)) for r in rows),
                           dtype=np.int64, count=n)
    key_infos = [info(r.link_key) for r in rows]
    feature_set = np.fromiter((k.feature_set for k in key_infos), dtype=np.int64, count=n)
    named_r = [i for i, k in enumerate(key_infos) for _ in k.named]
    named_i = [x for k in key_infos for x in k.named]
    # Straight into arrays: a million kept matches as Python lists cost hundreds of MB.
    lengths = np.fromiter((len(kept) for kept in attr.kept), dtype=np.int64, count=n)
    total = int(lengths.sum())
    rec = np.repeat(np.arange(n, dtype=np.int64), lengths)
    kept_issue = np.fromiter((index[key] for kept in attr.kept for key, _ in kept),
                             dtype=np.int64, count=total)
    kept_s = np.fromiter((s for kept in attr.kept for _, s in kept), dtype=np.float64,
                         count=total)
    m = np.ones(n)
    linked = feature_set >= 0
    m[linked] = np.array(sizes, dtype=np.float64)[feature_set[linked]]
    base, share = _softmax(settings, attr.text, rec, kept_s, m, n)
    pair_ids: dict[Segment, int] = {}
    seg_pairs = [[pair_ids.setdefault(p, len(pair_ids)) for p in segment_pairs(text)]
                 for text in seg_ids]
    keys = list(cust)
    w = np.array([weight(customers.get(k), settings, mean_arr) for k in keys])
    arr = np.array([np.nan if (c := customers.get(k)) is None or c.arr is None else c.arr
                    for k in keys])
    engine = Engine(issues, issue_group, compatible, w, arr, seg_pairs,
                    [p for p, _ in sorted(pair_ids.items(), key=lambda kv: kv[1])])
    evidence = Evidence(customer, ticket & (feature_set != -2), mult, segments,
                        np.where(linked, feature_set, -1), base, rec, kept_issue, share,
                        np.array(named_r, dtype=np.int64), np.array(named_i, dtype=np.int64))
    totals = engine.totals(evidence)
    shown = _strongest(rows, issues, rec, kept_issue, share, kept_s)
    return totals, shown


def _softmax(settings: ImpactSettings, text: bool, rec: np.ndarray, scores: np.ndarray,
             m: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return each record's base attribution and each kept match's, as attribute() does."""
    if settings.feature_attribution == "full":
        return np.ones(n), np.ones(len(rec))
    if not text or len(rec) == 0:
        return 1.0 / m, np.zeros(len(rec))
    bs = settings.text_weight * scores
    top = np.zeros(n)
    np.maximum.at(top, rec, bs)  # shifted by the largest exponent, as attribute() is
    e = np.exp(bs - top[rec])
    rest = np.exp(-top)
    kept = np.bincount(rec, minlength=n).astype(np.float64)
    z = np.bincount(rec, weights=e, minlength=n) + (m - kept) * rest
    return rest / z, e / z[rec]


def _strongest(rows: list[ev_store.EvidenceRow], issues: list[IssueKey], rec: np.ndarray,
               issue: np.ndarray, share: np.ndarray, score: np.ndarray
               ) -> dict[IssueKey, list[tuple[int, float, float]]]:
    """Return each issue's strongest matches (record row, a, s): by a, s, then record id."""
    if len(rec) == 0:
        return {}
    wanted = np.unique(rec)
    names = np.array([f"{rows[i].source}:{rows[i].external_id}" for i in wanted.tolist()])
    rank = np.empty(len(rows), dtype=np.int64)
    rank[wanted[np.argsort(names, kind="stable")]] = np.arange(len(wanted))
    order = np.lexsort((rank[rec], -score, -share, issue))
    iss = issue[order]
    starts = np.flatnonzero(np.r_[True, iss[1:] != iss[:-1]])
    ends = np.r_[starts[1:], len(iss)]
    out: dict[IssueKey, list[tuple[int, float, float]]] = {}
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        picked = order[a:min(b, a + SHOWN_MATCHES)]
        out[issues[int(iss[a])]] = [(int(rec[j]), float(share[j]), float(score[j]))
                                    for j in picked.tolist()]
    return out


def _with_words(conn: Connection, shown: Mapping[IssueKey, list[tuple[int, float, float]]],
                rows: list[ev_store.EvidenceRow], matcher: Matcher
                ) -> dict[IssueKey, tuple[SuggestedLink, ...]]:
    """Return each issue's strongest matches with the words they share with its text."""
    terms = ev_store.texts_of(conn, {(rows[i].kind, rows[i].row_id)
                                     for found in shown.values() for i, _, _ in found})
    out: dict[IssueKey, tuple[SuggestedLink, ...]] = {}
    for key, found in shown.items():
        text = set(matcher.texts.get(key, ()))
        out[key] = tuple(
            SuggestedLink(f"{rows[i].source}:{rows[i].external_id}",
                          "ticket" if rows[i].kind == "t" else "csat", a, s,
                          tuple(sorted(text & set(split_terms(
                              terms.get((rows[i].kind, rows[i].row_id), ""))))))
            for i, a, s in found)
    return out


def _tally(responses: Iterable[Any], tickets: Iterable[Any], current: set[str],
           matcher: Matcher) -> dict[str, _Tally]:
    """Sum the groups per key, then per issue; only issues linked in the current window count.

    A feature key links hundreds of issues: summing its groups once per key first keeps the
    work per issue to one addition per key and segment value.
    """
    per_key: dict[str, _Tally] = {}
    for k, g, prev, n, s, o in responses:
        t = per_key.get(k)
        if t is None:
            t = per_key[k] = _Tally()
        if prev:
            t.n_prev += n
            t.s_prev += s
            continue
        t.n += n
        t.s += s
        t.o += o
        for pair in segment_pairs(g):
            ns = t.segments.get(pair)
            if ns is None:
                ns = t.segments[pair] = [0, 0]
            ns[0] += n
            ns[1] += s
    for k, g, n in tickets:
        t = per_key.get(k)
        if t is None:
            t = per_key[k] = _Tally()
        t.t += n
        for pair in segment_pairs(g):
            t.segments.setdefault(pair, [0, 0])
    tallies: dict[str, _Tally] = {}
    for k in current:
        for link in matcher.links(k):
            t = tallies.get(link.issue)
            if t is None:
                t = tallies[link.issue] = _Tally()
            t.features.update(link.features)
            t.references.update(link.references)
    for k, kt in per_key.items():
        for link in matcher.links(k):
            t = tallies.get(link.issue)
            if t is None:
                continue  # only previous-window records: no impact now
            t.n += kt.n
            t.s += kt.s
            t.o += kt.o
            t.t += kt.t
            t.n_prev += kt.n_prev
            t.s_prev += kt.s_prev
            for pair, (n, s) in kt.segments.items():
                ns = t.segments.get(pair)
                if ns is None:
                    t.segments[pair] = [n, s]
                else:
                    ns[0] += n
                    ns[1] += s
    return tallies


def _response_groups(conn: Connection, window: Window, ranges: Ranges
                     ) -> list[tuple[str, str, int, int, int, int]]:
    """Return (key, segments, previous, n, s, o) for linked responses in both windows."""
    r = RESPONSES
    answered = r.c.status == "answered"
    previous = case((r.c.submitted_at > window.start, 0), else_=1)
    query = (
        select(r.c.link_key, r.c.segments, previous,
               func.sum(case((answered, 1), else_=0)),
               func.sum(case((and_(answered, r.c.satisfied.is_(True)), 1), else_=0)),
               func.sum(case((r.c.status == "offered", 1), else_=0)))
        .where(ranges.both_windows, r.c.link_key != "")
        .group_by(r.c.link_key, r.c.segments, previous)
    )
    return [(k, g, int(prev), int(n), int(s), int(o))
            for k, g, prev, n, s, o in conn.execute(query)]


def _ticket_groups(conn: Connection, ranges: Ranges) -> list[tuple[str, str, int]]:
    """Return (key, segments, tickets) for linked tickets in the current window."""
    t = TICKETS
    query = (select(t.c.link_key, t.c.segments, func.count())
             .where(ranges.tickets, t.c.link_key != "")
             .group_by(t.c.link_key, t.c.segments))
    return [(k, g, int(n)) for k, g, n in conn.execute(query)]
