"""The model's formulas, one figure each: rounding, Wilson interval, trend test, pain,
level and the affected-customer estimate (IMPACT_MODEL.md, "Figures per issue")."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from impactlink.core.models import Level, Method, Trend

Z95 = 1.959963984540054


def round_half_up(value: float, digits: int = 0) -> float:
    """Round half away from zero, as people do by hand (not banker's rounding)."""
    scale = 10.0**digits
    return math.floor(abs(value) * scale + 0.5 + 1e-9) / scale * (1 if value >= 0 else -1)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Return the Wilson score interval of successes / n (as fractions)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_p_value(s1: int, n1: int, s2: int, n2: int) -> float:
    """Return the two-sided p-value of a pooled two-proportion z-test."""
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (s1 / n1 - s2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


def csat_percent(satisfied: int, n: int) -> float | None:
    """Return 100 · s / n to one decimal, or None without responses."""
    return round_half_up(100 * satisfied / n, 1) if n else None


def pain(dissatisfied: int, n: int, p0: float, alpha: float) -> float:
    """Return expected dissatisfaction, small samples pulled toward p0."""
    if n + alpha == 0:
        return p0
    return (dissatisfied + alpha * p0) / (n + alpha)


def level_for(score: float, base: int, shares: Mapping[str, float]) -> Level:
    """Return the level of a score relative to the customer base."""
    if score <= 0:
        return "none"
    levels: tuple[Level, ...] = ("critical", "high", "medium")
    for level in levels:
        threshold = shares[level] * base
        # Float products such as 0.02 * 35 land a hair above the exact 0.7 they stand for.
        if score >= threshold or math.isclose(score, threshold):
            return level
    return "low"


def trend(n: int, s: int, n_prev: int, s_prev: int, min_responses: int) -> Trend:
    """Return CSAT now minus CSAT before, with a two-proportion z-test."""
    previous = csat_percent(s_prev, n_prev)
    if n < min_responses or n_prev < min_responses:
        return Trend(None, previous, n_prev, None, False)
    delta = round_half_up(100 * (s / n - s_prev / n_prev), 1)
    p_value = two_proportion_p_value(s, n, s_prev, n_prev)
    return Trend(delta, previous, n_prev, round(p_value, 4), p_value < 0.05)


@dataclass(frozen=True, slots=True)
class Estimate:
    """The affected-customer estimate with its range and method."""

    affected: int
    low: int
    high: int
    method: Method
    inputs: dict[str, float | int | None]


def estimate_affected(observed: float, n: int, d: int, offered: int,
                      active: int | None) -> Estimate:
    """Return the affected estimate: usage, survey, or observed (IMPACT_MODEL.md)."""
    if active is not None and n > 0:
        p = d / n
        lo, hi = wilson(d, n)
        return Estimate(
            int(round_half_up(max(observed, p * active))),
            int(round_half_up(max(observed, lo * active))),
            int(round_half_up(max(observed, hi * active))),
            "usage",
            {"active_customers": active, "p_hat": p, "p_low": lo, "p_high": hi},
        )
    if offered > 0 and n > 0:
        p = d / n
        lo, hi = wilson(d, n)
        return Estimate(
            int(round_half_up(observed + p * offered)),
            int(round_half_up(observed + lo * offered)),
            int(round_half_up(observed + hi * offered)),
            "survey",
            {"offered": offered, "p_hat": p, "p_low": lo, "p_high": hi},
        )
    whole = int(round_half_up(observed))
    return Estimate(whole, whole, whole, "observed", {})
