"""Per-issue customer figures in bulk: observed, named, Σ share, weighted, ARR, segments.

A feature-linked record gives every candidate the same attribution 1/Z but for its k kept
matches, so customer figures stay sparse: a customer's *base* share is counted once per
issue group (the open issues with one feature set: they have the same candidates'
records), and only the few (customer, issue) pairs where a kept match or a naming raises
it are corrected per issue. core.impact.compute is the same model one record at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from impactlink.core.models import IssueKey

Segment = tuple[str, str]


@dataclass
class Evidence:
    """The evidence records of the window, as columns (one row per record)."""

    customer: np.ndarray
    """Customer index (into the customers' weight and ARR columns)."""
    ticket: np.ndarray
    """True for a ticket, False for a dissatisfied answer."""
    multiplier: np.ndarray
    segments: np.ndarray
    """Index into the segment-pairs table."""
    feature_set: np.ndarray
    """Index of the record's feature set when it names no open issue, else -1."""
    base: np.ndarray
    """The attribution of every candidate outside the kept matches (feature-linked records)."""
    kept_record: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    kept_issue: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    kept_share: np.ndarray = field(default_factory=lambda: np.zeros(0))
    named_record: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    named_issue: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass
class CustomerTotals:
    """One issue's customer figures (see core.impact.IssueCounts)."""

    observed: int = 0
    scaled: float = 0.0
    named: int = 0
    share: float = 0.0
    weighted: float = 0.0
    arr: float = 0.0
    linked_arr: float = 0.0
    full: int = 0
    segments: dict[Segment, int] = field(default_factory=dict)
    arr_known: int = 0
    """Observed customers whose ARR is known."""


def _reduce(keys: np.ndarray, *columns: tuple[np.ndarray, np.ufunc]
            ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return the distinct keys and, per column, its reduction over each key's rows."""
    if len(keys) == 0:
        return keys, [np.zeros(0, dtype=c.dtype) for c, _ in columns]
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    return k[starts], [op.reduceat(c[order], starts) for c, op in columns]


@dataclass
class _Rows:
    """Distinct (customer, target) rows with their combined flags and share."""

    customer: np.ndarray
    target: np.ndarray
    share: np.ndarray
    ticket: np.ndarray
    dissatisfied: np.ndarray
    multiplier: np.ndarray


def _combine(customer: np.ndarray, target: np.ndarray, width: int, share: np.ndarray,
             ticket: np.ndarray, dissatisfied: np.ndarray, multiplier: np.ndarray) -> _Rows:
    """Return one row per (customer, target): share and multiplier maxima, flags any."""
    keys = customer.astype(np.int64) * width + target
    mult = np.where(ticket, multiplier, 1.0)
    uniq, (sh, tk, dis, mu) = _reduce(keys, (share, np.maximum), (ticket, np.logical_or),
                                      (dissatisfied, np.logical_or), (mult, np.maximum))
    return _Rows(uniq // width, uniq % width, sh, tk, dis, mu)


class Engine:
    """Counts customers per issue from evidence, issue groups and customer columns."""

    def __init__(self, issues: Sequence[IssueKey], issue_group: np.ndarray,
                 compatible: Sequence[Sequence[int]], weight: np.ndarray, arr: np.ndarray,
                 segment_pairs: Sequence[Sequence[int]], pair_names: Sequence[Segment]) -> None:
        self.issues = issues
        self.issue_group = issue_group
        """Group (feature set of open issues) of each issue."""
        self.groups = int(issue_group.max()) + 1 if len(issue_group) else 0
        self.compatible = compatible
        """Per record feature set: the issue groups that share a feature with it."""
        self.weight = weight
        self.arr = arr
        """ARR per customer, NaN when unknown."""
        self.segment_pairs = segment_pairs
        self.pair_names = pair_names

    def totals(self, ev: Evidence) -> dict[IssueKey, CustomerTotals]:
        """Return each issue's customer figures."""
        base = self._base_rows(ev)
        out: dict[IssueKey, CustomerTotals] = {}
        group_totals = self._sums(base, base.target, self.groups)
        special = self._special_rows(ev)
        b_keys = base.customer.astype(np.int64) * max(self.groups, 1) + base.target
        s_group = self.issue_group[special.target]
        lookup = special.customer.astype(np.int64) * max(self.groups, 1) + s_group
        pos = np.searchsorted(b_keys, lookup)
        pos_c = np.minimum(pos, max(len(b_keys) - 1, 0))
        found = (pos < len(b_keys)) & (b_keys[pos_c] == lookup) if len(b_keys) else \
            np.zeros(len(lookup), dtype=bool)
        merged = _Rows(special.customer, special.target,
                       np.where(found, np.maximum(special.share, base.share[pos_c]),
                                special.share) if len(b_keys) else special.share,
                       special.ticket | (found & base.ticket[pos_c]) if len(b_keys)
                       else special.ticket,
                       special.dissatisfied | (found & base.dissatisfied[pos_c]) if len(b_keys)
                       else special.dissatisfied,
                       np.where(found, np.maximum(special.multiplier, base.multiplier[pos_c]),
                                special.multiplier) if len(b_keys) else special.multiplier)
        plus = self._sums(merged, merged.target, len(self.issues))
        minus = self._sums(_take(base, pos_c[found]), special.target[found], len(self.issues)) \
            if len(b_keys) else [np.zeros(len(self.issues))] * len(plus)
        named = np.bincount(self._named_pairs(ev)[1], minlength=len(self.issues))
        segments = self._segments(ev)
        for i, key in enumerate(self.issues):
            g = int(self.issue_group[i])
            v = [float(col[g]) + float(more[i]) - float(less[i])
                 for col, more, less in zip(group_totals, plus, minus, strict=True)]
            t = CustomerTotals(round(v[0]), v[1], int(named[i]), v[3], v[4], v[5], v[6],
                               round(v[7]), segments.get(i, {}), round(v[8]))
            if t.observed:
                out[key] = t
        return out

    def _base_rows(self, ev: Evidence) -> _Rows:
        """(customer, issue group) rows of the feature-linked evidence."""
        rec = np.flatnonzero(ev.feature_set >= 0)
        rows, targets = _expand(rec, ev.feature_set[rec], self.compatible)
        return _combine(ev.customer[rows], targets, max(self.groups, 1), ev.base[rows],
                        ev.ticket[rows], ~ev.ticket[rows], ev.multiplier[rows])

    def _named_pairs(self, ev: Evidence) -> tuple[np.ndarray, np.ndarray]:
        keys = ev.customer[ev.named_record].astype(np.int64) * len(self.issues) + ev.named_issue
        uniq = np.unique(keys)
        return uniq // max(len(self.issues), 1), uniq % max(len(self.issues), 1)

    def _special_rows(self, ev: Evidence) -> _Rows:
        """(customer, issue) rows raised above the base: kept matches and namings."""
        rec = np.concatenate([ev.kept_record, ev.named_record]).astype(np.int64)
        issue = np.concatenate([ev.kept_issue, ev.named_issue]).astype(np.int64)
        share = np.concatenate([ev.kept_share, np.ones(len(ev.named_record))])
        # A kept match adds no flag of its own: its record is in the base rows already.
        named = np.r_[np.zeros(len(ev.kept_record), bool), np.ones(len(ev.named_record), bool)]
        return _combine(ev.customer[rec], issue, max(len(self.issues), 1), share,
                        ev.ticket[rec] & named, ~ev.ticket[rec] & named, ev.multiplier[rec])

    def _sums(self, rows: _Rows, target: np.ndarray, width: int) -> list[np.ndarray]:
        """Per target: observed, scaled, 0 (named), Σ share, Σ w·share, ARR sums, full shares."""
        affected = rows.ticket | rows.dissatisfied
        target = target[affected]
        share = rows.share[affected]
        c = rows.customer[affected]
        arr = self.arr[c]
        known = ~np.isnan(arr)
        arr0 = np.where(known, arr, 0.0)
        scaled = np.where(rows.dissatisfied[affected], 1.0, rows.multiplier[affected])
        cols = [np.ones(len(c)), scaled, np.zeros(len(c)), share, self.weight[c] * share,
                share * arr0, arr0, (share == 1.0).astype(float), known.astype(float)]
        return [np.bincount(target, weights=col, minlength=width) for col in cols]

    def _segments(self, ev: Evidence) -> dict[int, dict[Segment, int]]:
        """Distinct evidence customers per (issue, segment value)."""
        n_pairs = max(len(self.pair_names), 1)
        n_cust = int(ev.customer.max()) + 1 if len(ev.customer) else 1
        # Base: per (group, pair) the distinct customers of feature-linked evidence.
        rec = np.flatnonzero(ev.feature_set >= 0)
        rows, groups = _expand(rec, ev.feature_set[rec], self.compatible)
        at, pairs = _expand(np.arange(len(rows)), ev.segments[rows], self.segment_pairs)
        rows2, groups2 = rows[at], groups[at]
        base = np.unique((groups2 * n_pairs + pairs) * n_cust + ev.customer[rows2])
        gp, counts = np.unique(base // n_cust, return_counts=True)
        # Namings: customers not already counted for the named issue's group.
        at, npairs = _expand(np.arange(len(ev.named_record)), ev.segments[ev.named_record],
                             self.segment_pairs)
        nrows, nissue = ev.named_record[at], ev.named_issue[at]
        probe = (self.issue_group[nissue] * n_pairs + npairs) * n_cust + ev.customer[nrows]
        seen = np.isin(probe, base)
        extra = np.unique(((nissue * n_pairs + npairs) * n_cust + ev.customer[nrows])[~seen])
        ip, more = np.unique(extra // n_cust, return_counts=True)
        by_group: dict[int, list[int]] = {}
        for i, g in enumerate(self.issue_group.tolist()):
            by_group.setdefault(g, []).append(i)
        out: dict[int, dict[Segment, int]] = {}
        for code, n in zip(gp.tolist(), counts.tolist(), strict=True):
            name = self.pair_names[code % n_pairs]
            for i in by_group.get(code // n_pairs, ()):
                out.setdefault(i, {})[name] = n
        for code, n in zip(ip.tolist(), more.tolist(), strict=True):
            d = out.setdefault(code // n_pairs, {})
            name = self.pair_names[code % n_pairs]
            d[name] = d.get(name, 0) + n
        return out


def _expand(rows: np.ndarray, index: np.ndarray, table: Sequence[Sequence[int]]
            ) -> tuple[np.ndarray, np.ndarray]:
    """Return (row, value) for every value of ``table[index[k]]``, row ``rows[k]``."""
    sizes = np.array([len(t) for t in table], dtype=np.int64)
    if len(rows) == 0 or len(table) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    ptr = np.r_[0, np.cumsum(sizes)]
    flat = np.fromiter((v for t in table for v in t), dtype=np.int64, count=int(ptr[-1]))
    lengths = sizes[index]
    total = int(lengths.sum())
    starts = np.repeat(ptr[index], lengths)
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(rows, lengths), flat[starts + offsets]


def _take(rows: _Rows, idx: np.ndarray) -> _Rows:
    return _Rows(rows.customer[idx], rows.target[idx], rows.share[idx], rows.ticket[idx],
                 rows.dissatisfied[idx], rows.multiplier[idx])
