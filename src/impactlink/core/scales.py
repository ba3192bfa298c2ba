"""Survey scales: what a score may be, and when it counts as satisfied."""

from __future__ import annotations

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

SCALES: dict[str, ScaleSpec] = {
    "1-5": ScaleSpec(1, 5, 4),
    "1-7": ScaleSpec(1, 7, 6),
    "1-10": ScaleSpec(1, 10, 8),
    "0-10": ScaleSpec(0, 10, 9),
    "good/bad": ScaleSpec(0, 1, 1, {**_GOOD_BAD, "1": 1.0, "0": 0.0}),
    "thumbs": ScaleSpec(0, 1, 1, _THUMBS),
}


def parse_score(raw: str | float | int, scale: Scale) -> float:
    """Return the score as a number on its scale; ValueError names what is wrong."""
    spec = SCALES[scale]
    if spec.words is not None and isinstance(raw, str):
        word = raw.strip().casefold()
        if word in spec.words:
            return spec.words[word]
        raise ValueError(f"score {raw!r} is not one of {', '.join(sorted(spec.words))} "
                         f"on the {scale} scale")
    if isinstance(raw, bool):
        raise ValueError(f"score {raw!r} is not a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"score {raw!r} is not a number") from None
    if value != value or not spec.low <= value <= spec.high:
        raise ValueError(f"score {raw!r} is outside the {scale} scale ({spec.low:g}-{spec.high:g})")
    return value


def is_satisfied(score: float, scale: Scale) -> bool:
    """Return whether a score reaches its scale's satisfied minimum (top-2-box on 1-5)."""
    return score >= SCALES[scale].satisfied_min
