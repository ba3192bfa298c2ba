"""Survey scales: what a score may be, and when it counts as satisfied."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from impactlink.core.models import Scale


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    """A numeric range, or a pair of words mapped to 1 (good) and 0 (bad)."""

    low: float
    high: float
    satisfied_min: float
    words: dict[str, float] | None = None


_GOOD_BAD = {"good": 1.0, "bad": 0.0}
_THUMBS = {"up": 1.0, "down": 0.0, "thumbs up": 1.0, "thumbs down": 0.0, "thumbs-up": 1.0,
           "thumbs-down": 0.0, "thumbs_up": 1.0, "thumbs_down": 0.0, "\U0001f44d": 1.0,
           "\U0001f44e": 0.0, "+1": 1.0, "-1": 0.0, "1": 1.0, "0": 0.0}

# ASCII digits with one optional decimal point: float() would also take "٤", "４" and "0_4".
_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)

SCALES: dict[str, ScaleSpec] = {
    "1-5": ScaleSpec(1, 5, 4),
    "1-7": ScaleSpec(1, 7, 6),
    "1-10": ScaleSpec(1, 10, 8),
    "0-10": ScaleSpec(0, 10, 9),
    "good/bad": ScaleSpec(0, 1, 1, {**_GOOD_BAD, "1": 1.0, "0": 0.0}),
    "thumbs": ScaleSpec(0, 1, 1, _THUMBS),
}


def parse_score(raw: object, scale: Scale) -> float:
    """Return the score as a number on its scale; ValueError names what is wrong.

    Text is a scale's word or ASCII digits with one optional decimal point; a number is an
    int or a finite float. Anything else (a bool, a list, other numeral systems) is refused.
    """
    spec = SCALES[scale]
    if spec.words is not None and isinstance(raw, str):
        word = raw.strip().casefold()
        if word in spec.words:
            return spec.words[word]
        raise ValueError(f"score {raw[:40]!r} is not one of {', '.join(sorted(spec.words))} "
                         f"on the {scale} scale")
    value = _number(raw)
    if not spec.low <= value <= spec.high:
        raise ValueError(f"score {_brief(raw)} is outside the {scale} scale "
                         f"({spec.low:g}-{spec.high:g})")
    return value


def _number(raw: object) -> float:
    if isinstance(raw, str):
        text = raw.strip()
        if _DECIMAL.fullmatch(text):
            return float(text)
    elif isinstance(raw, int) and not isinstance(raw, bool):
        if abs(raw) < 10**300:  # beyond that float() overflows
            return float(raw)
    elif isinstance(raw, float) and math.isfinite(raw):
        return raw
    raise ValueError(f"score {_brief(raw)} is not a number")


def _brief(raw: object) -> str:
    """Return a short display of a value (containers by their kind: no deep repr)."""
    if isinstance(raw, str):
        return repr(raw[:40])
    if isinstance(raw, float | bool) or raw is None:
        return repr(raw)
    if isinstance(raw, int):
        return "a very long number" if abs(raw) >= 10**40 else repr(raw)
    return f"of type {type(raw).__name__}"


def is_satisfied(score: float, scale: Scale) -> bool:
    """Return whether a score reaches its scale's satisfied minimum (top-2-box on 1-5)."""
    return score >= SCALES[scale].satisfied_min
