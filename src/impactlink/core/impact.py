"""Every figure of Customer Impact (IMPACT_MODEL.md, version 2), from linked records.

``compute`` is the model written plainly, one record at a time: the tests hold the bulk
path (impactlink.engine) to it on random data. ``figures`` turns one issue's counts into
its figures; both paths end there, which is what lets ``report --explain`` and the tests
reproduce every number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from impactlink.core.attribution import Attribution, Match, attribute
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
from impactlink.core.matching import Catalog, Matcher, parse_link_key
from impactlink.core.models import (
    Impact,
    IssueKey,
    RecordKind,
    SegmentFigures,
    SuggestedLink,
)

__all__ = [
    "Z95", "CustomerInfo", "Estimate", "ImpactSettings", "IssueCounts", "LinkedRecord",
    "Population", "compute", "csat_percent", "estimate_affected", "figures",
    "impacts_from_counts", "level_for", "overall_dissatisfaction", "pain", "round_half_up",
    "trend", "two_proportion_p_value", "weight", "wilson",
]

SUGGESTED_MIN = 0.5
"""A feature-linked record whose attribution to an issue reaches this is a suggested link."""
SHOWN_MATCHES = 5
"""How many of the strongest matches and suggested links an explanation lists."""


@dataclass(frozen=True, slots=True)
class ImpactSettings:
    """The model's tunables (``[impact]`` in the configuration)."""

    window_days: int = 90
    prior_strength: float = 10.0
    min_responses: int = 5
    feature_attribution: str = "shared"
    text_attribution: bool = True
    text_weight: float = 1.0
    text_candidates: int = 5
    weight_by: str = "none"
    segment_weights: Mapping[str, float] = field(default_factory=dict)
    level_shares: Mapping[str, float] = field(
        default_factory=lambda: {"critical": 0.02, "high": 0.005, "medium": 0.001}
    )
    customer_base: int | None = None

    def attribution(self, matches: Iterable[tuple[IssueKey, float]], m: int) -> Attribution:
        """Return a feature-linked record's attribution from its kept matches."""
        return attribute([Match(k, s) for k, s in matches], m, self.text_weight,
                         mode=self.feature_attribution, text=self.text_attribution)


@dataclass(frozen=True, slots=True)
class LinkedRecord:
    """One stored ticket or survey answer, as the model needs it."""

    kind: RecordKind
    record: str
    """``source:external_id``."""
    customer: str
    link_key: str
    previous: bool = False
    status: str = "answered"
    """``answered`` or ``offered`` for a survey; ``ticket`` for a ticket."""
    satisfied: bool | None = None
    terms: tuple[str, ...] = ()
    segments: tuple[tuple[str, str], ...] = ()
    multiplier: float = 1.0

    @property
    def evidence(self) -> bool:
        """A ticket or a dissatisfied answer in the current window (satisfaction is none)."""
        if self.previous:
            return False
        return self.kind == "ticket" or (self.status == "answered" and self.satisfied is False)


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
    """What the figures need of one issue's linked records, counted (in bulk or one by one)."""

    responses: int
    satisfied: int
    offered: int
    tickets: int
    previous_responses: int
    previous_satisfied: int
    observed: int
    observed_scaled: float
    named: int
    attributed: float
    """Σ share over the observed customers."""
    weighted_share: float
    arr: float
    """Σ share · ARR over the observed customers whose ARR is known."""
    linked_arr: float
    full_share_customers: int
    segments: tuple[tuple[str, str, int, int, int], ...]
    """(name, value, responses, satisfied, customers observed) per segment value."""
    features: tuple[str, ...]
    references: tuple[str, ...]
    matches: tuple[SuggestedLink, ...] = ()
    """The strongest text matches among the issue's evidence, best first."""
    arr_known: int = 0
    """Observed customers whose ARR is known (none: ARR at risk is unknown, not 0)."""


class _Customer:
    __slots__ = ("dissatisfied", "multiplier", "named", "share", "ticket")

    def __init__(self) -> None:
        self.dissatisfied = self.ticket = self.named = False
        self.multiplier = 1.0
        self.share = 0.0


class _Tally:
    """Running counts for one issue."""

    def __init__(self) -> None:
        self.n = self.s = self.o = self.t = self.n_prev = self.s_prev = 0
        self.customers: dict[str, _Customer] = {}
        self.segments: dict[tuple[str, str], list[int]] = {}
        self.segment_customers: dict[tuple[str, str], set[str]] = {}
        self.features: set[str] = set()
        self.references: set[str] = set()
        self.matches: list[SuggestedLink] = []
        self.current = False
        """Whether any linked record lies in the current window."""

    def add(self, r: LinkedRecord, a: float, named: bool) -> None:
        if r.previous:
            if r.kind == "csat" and r.status == "answered":
                self.n_prev += 1
                self.s_prev += bool(r.satisfied)
            return
        self.current = True
        answered = r.kind == "csat" and r.status == "answered"
        self.n += answered
        self.s += answered and bool(r.satisfied)
        self.o += r.kind == "csat" and r.status == "offered"
        self.t += r.kind == "ticket"
        for seg in r.segments:
            counts = self.segments.setdefault(seg, [0, 0])
            counts[0] += answered
            counts[1] += answered and bool(r.satisfied)
            self.segment_customers.setdefault(seg, set())
        if not r.evidence:
            return
        c = self.customers.get(r.customer)
        if c is None:
            c = self.customers[r.customer] = _Customer()
        c.share = max(c.share, a)
        c.named = c.named or named
        if r.kind == "ticket":
            c.ticket = True
            c.multiplier = max(c.multiplier, r.multiplier)
        else:
            c.dissatisfied = True
        for seg in r.segments:
            self.segment_customers[seg].add(r.customer)


def _attribution(r: LinkedRecord, matcher: Matcher, settings: ImpactSettings
                 ) -> tuple[Attribution, dict[IssueKey, float]]:
    """Return a feature-linked record's attribution and its kept scores."""
    features, _ = parse_link_key(r.link_key)
    cset = matcher.candidate_set(features)
    wanted = (settings.text_attribution and settings.feature_attribution == "shared"
              and settings.text_weight != 0)
    kept = {x.issue: x.score for x in cset.matches(r.terms, settings.text_candidates)
            } if wanted else {}
    return settings.attribution(kept.items(), cset.m), kept


def compute(records: Iterable[LinkedRecord], matcher: Matcher, catalog: Catalog,
            customers: Mapping[str, CustomerInfo], population: Population,
            settings: ImpactSettings) -> dict[IssueKey, Impact]:
    """Return the impact of every open issue with linked evidence in the window."""
    tallies: dict[IssueKey, _Tally] = {}
    for r in records:
        links = matcher.links(r.link_key)
        if not links:
            continue
        named = links[0].explicit
        att, kept = (_attribution(r, matcher, settings) if r.evidence and not named
                     else (None, {}))
        for link in links:
            t = tallies.get(link.issue)
            if t is None:
                t = tallies[link.issue] = _Tally()
            a = 1.0 if att is None else att.of(link.issue)
            t.add(r, a, named)
            if not r.previous:
                t.features.update(link.features)
                t.references.update(link.references)
            if link.issue in kept:
                words = matcher.candidate_set(parse_link_key(r.link_key)[0]).matched_words(
                    r.terms, link.issue)
                t.matches.append(SuggestedLink(r.record, r.kind, a, kept[link.issue],
                                               tuple(words)))
    counts = {key: count(t, customers, settings, population.mean_arr)
              for key, t in tallies.items() if t.current}
    return impacts_from_counts(counts, matcher, catalog, population, settings)


def strongest(matches: Iterable[SuggestedLink], limit: int = SHOWN_MATCHES
              ) -> tuple[SuggestedLink, ...]:
    """Return the strongest matches: by attribution, then score, then record id."""
    return tuple(sorted(matches, key=lambda x: (-x.attribution, -x.score, x.record))[:limit])


def count(t: _Tally, customers: Mapping[str, CustomerInfo], settings: ImpactSettings,
          mean_arr: float | None) -> IssueCounts:
    """Return an issue's counts from its tally."""
    affected = list(t.customers.items())
    known = [(c, info.arr) for k, c in affected
             if (info := customers.get(k)) is not None and info.arr is not None]
    return IssueCounts(
        t.n, t.s, t.o, t.t, t.n_prev, t.s_prev, len(affected),
        sum(1.0 if c.dissatisfied else c.multiplier for _, c in affected),
        sum(1 for _, c in affected if c.named),
        sum(c.share for _, c in affected),
        sum(weight(customers.get(k), settings, mean_arr) * c.share for k, c in affected),
        sum(c.share * arr for c, arr in known),
        sum(arr for _, arr in known),
        sum(1 for _, c in affected if c.share == 1.0),
        tuple((name, value, n_s[0], n_s[1], len(t.segment_customers[(name, value)]))
              for (name, value), n_s in t.segments.items()),
        tuple(sorted(t.features)), tuple(sorted(t.references)),
        strongest(t.matches), len(known),
    )


def impacts_from_counts(counts: Mapping[IssueKey, IssueCounts], matcher: Matcher,
                        catalog: Catalog, population: Population,
                        settings: ImpactSettings) -> dict[IssueKey, Impact]:
    """Return each issue's figures from its counts."""
    p0 = overall_dissatisfaction(population)
    base = settings.customer_base or population.customers
    return {key: figures(key, c, matcher, catalog, population, settings, p0, base)
            for key, c in counts.items()}


def _scaled(value: int, factor: float) -> int:
    return int(round_half_up(value * factor))


def _rounded(matches: Iterable[SuggestedLink]) -> tuple[SuggestedLink, ...]:
    return tuple(SuggestedLink(x.record, x.kind, round_half_up(x.attribution, 4),
                               round_half_up(x.score, 4), x.words) for x in matches)


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
    factor = c.attributed / c.observed if c.observed else 0.0
    reach = est.affected * c.weighted_share / c.observed if c.observed else 0.0
    the_pain = pain(d, n, p0, settings.prior_strength)
    score = round_half_up(reach * the_pain, 1)
    level = level_for(score, base, settings.level_shares)
    segs = sorted(
        (SegmentFigures(name, value, sn, ss, csat_percent(ss, sn), sc)
         for name, value, sn, ss, sc in c.segments),
        key=lambda g: (-g.customers_observed, -g.responses, g.name, g.value),
    )
    the_trend = trend(n, s, c.previous_responses, c.previous_satisfied, settings.min_responses)
    matches = _rounded(c.matches)
    # The threshold applies to a(r, I) itself, not to the 4-decimal figure shown.
    suggested = _rounded(x for x in c.matches if x.score > 0 and x.attribution >= SUGGESTED_MIN)
    features = list(matcher.issue_features.get(key, ()))
    explanation: dict[str, object] = {
        "features": list(c.features),
        "references": list(c.references),
        "issue_features": features,
        "issues_per_feature": {f: matcher.issues_per_feature[f] for f in features},
        "csat": {"n": n, "s": s, "d": d, "z": round(Z95, 2)},
        "estimate": {"method": est.method, "observed": c.observed,
                     "observed_scaled": c.observed_scaled, **est.inputs},
        "linked": {"affected": est.affected, "low": est.low, "high": est.high,
                   "method": est.method, "arr": round_half_up(c.linked_arr),
                   "arr_customers": c.arr_known},
        "attribution": {"customers_observed": c.observed, "named_customers": c.named,
                        "attributed_customers": c.attributed, "factor": factor,
                        "text_attribution": settings.text_attribution,
                        "text_weight": settings.text_weight,
                        "text_candidates": settings.text_candidates,
                        "feature_attribution": settings.feature_attribution},
        "context": {f: {"affected": est.affected, "csat": csat_percent(s, n)} for f in features},
        "matches": [_match_dict(x) for x in matches],
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
        named_customers=c.named, attributed_customers=round_half_up(c.attributed, 2),
        linked_affected=est.affected, linked_affected_low=est.low, linked_affected_high=est.high,
        affected=int(round_half_up(est.affected * factor)),
        affected_low=_scaled(est.low, factor), affected_high=_scaled(est.high, factor),
        method=est.method, arr_at_risk=round_half_up(c.arr),
        linked_arr=round_half_up(c.linked_arr), segments=tuple(segs), trend=the_trend,
        pain=round_half_up(the_pain, 4), reach=round_half_up(reach, 2), score=score, level=level,
        suggested_links=suggested, explanation=explanation,
    )


def _match_dict(x: SuggestedLink) -> dict[str, object]:
    return {"record": x.record, "kind": x.kind, "attribution": x.attribution,
            "score": x.score, "words": list(x.words)}
