"""Counting hooks for API traffic: sources and trackers report, `serve`'s metrics listen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class HttpEvent:
    """A request answered (status; None for a transport error) or a wait before a retry."""

    kind: Literal["request", "wait"]
    source: str
    vendor: str
    status: int | None = None
    seconds: float = 0.0
    rate_limited: bool = False


# An observer must be quick and must not raise.
OBSERVERS: list[Callable[[HttpEvent], None]] = []


def notify(event: HttpEvent) -> None:
    """Tell every observer about a request or a wait."""
    for observer in OBSERVERS:
        observer(event)
