"""Every figure of Customer Impact, from counted slices of linked records (IMPACT_MODEL.md).

The store reduces records to slices (one per link key, customer, segment values and
window) in SQL; this module turns slices into figures. Keeping the arithmetic here,
without I/O, is what lets ``report --explain`` and the tests reproduce every number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from impactlink.core.formulas import (
    Z95,
    Estimate,
    csat_percent,
    estimate_affected,
    level_for,
    pain,
    round_half_up,
    trend,
    two_proportion_p_value,
    wilson,
)
from impactlink.core.matching import Catalog, Matcher
from impactlink.core.models import Impact, IssueKey, SegmentFigures

__all__ = [
    "Z95", "CustomerInfo", "Estimate", "ImpactSettings", "IssueCounts", "Population", "Slice",
    "compute", "count", "csat_percent", "estimate_affected", "figures", "impacts_from_counts",
    "level_for", "overall_dissatisfaction", "pain", "round_half_up", "tally", "trend",
    "two_proportion_p_value", "weight", "wilson",
]


@dataclass(frozen=True, slots=True)
class ImpactSettings:
    """The model's tunables (``[impact]`` in the configuration)."""

    window_days: int = 90
    prior_strength: float = 10.0
    min_responses: int = 5
    feature_attribution: str = "shared"
    weight_by: str = "none"
    segment_weights: Mapping[str, float] = field(default_factory=dict)
    level_shares: Mapping[str, float] = field(
        default_factory=lambda: {"critical": 0.02, "high": 0.005, "medium": 0.001}
    )
    customer_base: int | None = None


@dataclass(frozen=True, slots=True)
class Slice:
    """Linked records counted for one link key, customer, segment values and window."""

    link_key: str
    customer: str
    previous: bool = False
    segments: tuple[tuple[str, str], ...] = ()
    responses: int = 0
    satisfied: int = 0
    offered: int = 0
    tickets: int = 0
    multiplier: float = 1.0


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    """What the store knows of a customer key's account."""

    arr: float | None = None
    plan: str | None = None


@dataclass(frozen=True, slots=True)
class Population:
    """Figures over all records in the window, linked or not."""

    responses: int = 0
    dissatisfied: int = 0
    customers: int = 0
    mean_arr: float | None = None


def overall_dissatisfaction(population: Population) -> float:
    """Return p0: the dissatisfied share over all responses in the window (0.5 with none)."""
    if population.responses == 0:
        return 0.5
    return population.dissatisfied / population.responses


class _Customer:
    __slots__ = ("affected", "dissatisfied", "multiplier", "share")

    def __init__(self) -> None:
        self.affected = False
        self.dissatisfied = False
        self.multiplier = 1.0
        self.share = 0.0


class _Tally:
    """Running counts for one issue."""

    def __init__(self) -> None:
        self.n = self.s = self.o = self.t = 0
        self.n_prev = self.s_prev = 0
        self.customers: dict[str, _Customer] = {}
        self.segments: dict[tuple[str, str], list[int]] = {}
        self.segment_customers: dict[tuple[str, str], set[str]] = {}
        self.features: set[str] = set()
        self.references: set[str] = set()

    def add(self, sl: Slice, share: float) -> None:
        if sl.previous:
            self.n_prev += sl.responses
            self.s_prev += sl.satisfied
            return
        self.n += sl.responses
        self.s += sl.satisfied
        self.o += sl.offered
        self.t += sl.tickets
        c = self.customers.get(sl.customer)
        if c is None:
            c = self.customers[sl.customer] = _Customer()
        dissatisfied = sl.responses > sl.satisfied
        affected = dissatisfied or sl.tickets > 0
        c.share = max(c.share, share)
        if affected:
            c.affected = True
            c.dissatisfied = c.dissatisfied or dissatisfied
            if sl.tickets:
                c.multiplier = max(c.multiplier, sl.multiplier)
        for seg in sl.segments:
            counts = self.segments.get(seg)
            if counts is None:
                counts = self.segments[seg] = [0, 0]
                self.segment_customers[seg] = set()
            counts[0] += sl.responses
            counts[1] += sl.satisfied
            if affected:
                self.segment_customers[seg].add(sl.customer)


def tally(slices: Iterable[Slice], matcher: Matcher) -> dict[IssueKey, _Tally]:
    """Accumulate slices per issue: each slice belongs to an issue at most once."""
    tallies: dict[IssueKey, _Tally] = {}
    for sl in slices:
        for link in matcher.links(sl.link_key):
            t = tallies.get(link.issue)
            if t is None:
                t = tallies[link.issue] = _Tally()
            t.add(sl, link.share)
            if not sl.previous:
                t.features.update(link.features)
                t.references.update(link.references)
    return tallies


def weight(info: CustomerInfo | None, settings: ImpactSettings, mean_arr: float | None) -> float:
    """Return a customer's weight: 1, or ARR / mean known ARR, times its plan's weight."""
    w = 1.0
    if settings.weight_by == "arr" and info and info.arr is not None and mean_arr:
        w = info.arr / mean_arr
    if info and info.plan and settings.segment_weights:
        w *= settings.segment_weights.get(info.plan, 1.0)
    return w


@dataclass(frozen=True, slots=True)
class IssueCounts:
    """What the figures need of one issue's linked records, counted (in SQL or from slices)."""

    responses: int
    satisfied: int
    offered: int
    tickets: int
    previous_responses: int
    previous_satisfied: int
    observed: int
    observed_scaled: float
    arr: float
    weighted_share: float
    full_share_customers: int
    segments: tuple[tuple[str, str, int, int, int], ...]
    """(name, value, responses, satisfied, customers observed) per segment value."""
    features: tuple[str, ...]
    references: tuple[str, ...]


def count(t: _Tally, customers: Mapping[str, CustomerInfo], settings: ImpactSettings,
          mean_arr: float | None) -> IssueCounts:
    """Return an issue's counts from its tally."""
    affected = [(k, c) for k, c in t.customers.items() if c.affected]
    return IssueCounts(
        t.n, t.s, t.o, t.t, t.n_prev, t.s_prev, len(affected),
        sum(1.0 if c.dissatisfied else c.multiplier for _, c in affected),
        sum(info.arr for k, _ in affected
            if (info := customers.get(k)) is not None and info.arr is not None),
        sum(weight(customers.get(k), settings, mean_arr) * c.share for k, c in affected),
        sum(1 for _, c in affected if c.share == 1.0),
        tuple((name, value, n_s[0], n_s[1], len(t.segment_customers[(name, value)]))
              for (name, value), n_s in t.segments.items()),
        tuple(sorted(t.features)), tuple(sorted(t.references)),
    )


def compute(slices: Iterable[Slice], matcher: Matcher, catalog: Catalog,
            customers: Mapping[str, CustomerInfo], population: Population,
            settings: ImpactSettings) -> dict[IssueKey, Impact]:
    """Return the impact of every open issue with a linked record in the window."""
    counts = {key: count(t, customers, settings, population.mean_arr)
              for key, t in tally(slices, matcher).items()
              if t.customers}  # only previous-window records: no impact now
    return impacts_from_counts(counts, matcher, catalog, population, settings)


def impacts_from_counts(counts: Mapping[IssueKey, IssueCounts], matcher: Matcher,
                        catalog: Catalog, population: Population,
                        settings: ImpactSettings) -> dict[IssueKey, Impact]:
    """Return each issue's figures from its counts."""
    p0 = overall_dissatisfaction(population)
    base = settings.customer_base or population.customers
    return {key: figures(key, c, matcher, catalog, population, settings, p0, base)
            for key, c in counts.items()}


def figures(key: IssueKey, c: IssueCounts, matcher: Matcher, catalog: Catalog,
            population: Population, settings: ImpactSettings, p0: float,
            base: int) -> Impact:
    """Return one issue's figures from its counts."""
    issue = matcher.issues[key]
    n, s = c.responses, c.satisfied
    d = n - s
    lo, hi = wilson(s, n)
    active = matcher.active_customers(key, catalog.features)
    est = estimate_affected(c.observed_scaled, n, d, c.offered, active)
    reach = c.weighted_share * est.affected / c.observed if c.observed else 0.0
    the_pain = pain(d, n, p0, settings.prior_strength)
    score = round_half_up(reach * the_pain, 1)
    level = level_for(score, base, settings.level_shares)
    segs = sorted(
        (SegmentFigures(name, value, sn, ss, csat_percent(ss, sn), sc)
         for name, value, sn, ss, sc in c.segments),
        key=lambda g: (-g.customers_observed, -g.responses, g.name, g.value),
    )
    the_trend = trend(n, s, c.previous_responses, c.previous_satisfied, settings.min_responses)
    explanation: dict[str, object] = {
        "features": list(c.features),
        "references": list(c.references),
        "issue_features": list(matcher.issue_features.get(key, ())),
        "issues_per_feature": {f: matcher.issues_per_feature[f]
                               for f in matcher.issue_features.get(key, ())},
        "csat": {"n": n, "s": s, "d": d, "z": round(Z95, 2)},
        "estimate": {"method": est.method, "observed": c.observed,
                     "observed_scaled": c.observed_scaled, **est.inputs},
        "pain": {"d": d, "n": n, "p0": p0, "alpha": settings.prior_strength,
                 "population_responses": population.responses,
                 "population_dissatisfied": population.dissatisfied},
        "reach": {"weighted_share_sum": c.weighted_share, "affected": est.affected,
                  "customers_observed": c.observed, "weight_by": settings.weight_by,
                  "attribution": settings.feature_attribution,
                  "full_share_customers": c.full_share_customers},
        "level": {"customer_base": base,
                  "thresholds": {lv: share * base for lv, share in settings.level_shares.items()}},
        "trend": {"n": n, "s": s, "n_prev": c.previous_responses,
                  "s_prev": c.previous_satisfied, "min_responses": settings.min_responses},
    }
    return Impact(
        issue=key, title=issue.title, url=issue.url,
        features=c.features, references=c.references,
        responses=n, satisfied=s, dissatisfied=d,
        csat=csat_percent(s, n),
        csat_low=round_half_up(100 * lo, 1) if n else None,
        csat_high=round_half_up(100 * hi, 1) if n else None,
        tickets=c.tickets, offered=c.offered, customers_observed=c.observed,
        affected=est.affected, affected_low=est.low, affected_high=est.high, method=est.method,
        arr_at_risk=round_half_up(c.arr, 2), segments=tuple(segs), trend=the_trend,
        pain=round_half_up(the_pain, 4), reach=round_half_up(reach, 2), score=score, level=level,
        explanation=explanation,
    )
