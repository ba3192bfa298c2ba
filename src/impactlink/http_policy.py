"""The one HTTP policy every source and tracker client follows.

    status                        outcome        the client
    100-399                       ok             returns the answer
    401, 403 (not a rate limit)   auth           raises a configuration error saying what to fix
    429, or a limit the vendor    rate_limited   waits Retry-After (seconds or HTTP date), else
      signals another way                        the reset header (epoch or delay)
    5xx the table names           retriable      waits Retry-After, else bounded backoff
    anything else                 fatal          raises at once

A :class:`RetryPolicy` bounds the loop: at most ``max_retries`` retries, and no single wait
longer than ``max_wait`` (the wait budget); past either it answers :class:`Stop` and the client
stops the step, which the next cycle resumes, instead of sleeping for an hour. A :class:`Pacer`
spaces calls (a vendor's per-minute allowance, seconds_between_writes).

tenacity was weighed and left out: each loop must tell "no retries left" from "asked to
wait too long" to raise its own error, and a Retry-After decided per answer; what is left for a
library is one line of backoff.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Literal

Outcome = Literal["ok", "retriable", "rate_limited", "auth", "fatal"]
Sleep = Callable[[float], None]
Clock = Callable[[], float]

RESET_HEADERS = ("ratelimit-reset", "x-ratelimit-reset", "x-rate-limit-reset")
EPOCH_THRESHOLD = 1_000_000_000
"""A reset value this large is an epoch, not a delay."""
_MAX_DOUBLINGS = 64


@dataclass(frozen=True, slots=True)
class StatusTable:
    """Map a status to an outcome; ``retriable`` names the 5xx worth retrying (None: all)."""

    retriable: frozenset[int] | None = None

    def classify(self, status: int, *, rate_limited: bool = False) -> Outcome:
        """Return what a status means (``rate_limited`` when the vendor signalled a limit)."""
        if rate_limited or status == 429:
            return "rate_limited"
        if 100 <= status < 400:
            return "ok"
        if status in (401, 403):
            return "auth"
        if status >= 500 and (self.retriable is None or status in self.retriable):
            return "retriable"
        return "fatal"


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Return the seconds a Retry-After header asks for (delay or HTTP date), or None."""
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, OverflowError):
        return None


def reset_wait(headers: Mapping[str, str], now: float,
               names: tuple[str, ...] = RESET_HEADERS, *,
               epoch_threshold: float = EPOCH_THRESHOLD) -> float | None:
    """Return the seconds until the first reset header's moment (epoch or delay), or None."""
    for name in names:
        value = headers.get(name)
        try:
            seconds = float(value) if value else None
        except ValueError:
            seconds = None
        if seconds is not None:
            # NOTE: Intercom's X-RateLimit-Reset is an epoch; IETF RateLimit-Reset is a delay.
            return max(0.0, seconds - now if seconds > epoch_threshold else seconds)
    return None


def demanded_wait(headers: Mapping[str, str], now: float) -> float | None:
    """Return the seconds the vendor asks to wait (Retry-After, else a reset header), if any."""
    after = retry_after(headers, now)
    return after if after is not None else reset_wait(headers, now)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: ``first``, twice that, ... never more than ``cap``."""

    first: float = 1.0
    cap: float = 60.0

    def wait(self, retry: int) -> float:
        """Return the wait before retry number ``retry`` (0 for the first)."""
        return float(min(self.first * 2.0 ** min(retry, _MAX_DOUBLINGS), self.cap))


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop retrying: no retries left, or a wait longer than the budget."""

    reason: Literal["retries", "wait"]
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many retries, how long one wait may be, and the backoff when the vendor says none."""

    max_retries: int
    max_wait: float
    backoff: Backoff = Backoff()

    def next_wait(self, retry: int, demanded: float | None = None) -> float | Stop:
        """Return the wait before retry number ``retry`` (0 for the first), or Stop."""
        if retry >= self.max_retries:
            return Stop("retries")
        return self.within_budget(self.backoff.wait(retry) if demanded is None else demanded)

    def within_budget(self, seconds: float) -> float | Stop:
        """Return ``seconds`` when the wait budget allows it, else Stop."""
        return Stop("wait", seconds) if seconds > self.max_wait else seconds


class Pacer:
    """Space calls at least ``interval`` seconds apart (a vendor's per-minute allowance)."""

    def __init__(self, interval: float, sleep: Sleep, clock: Clock) -> None:
        self._interval = interval
        self._sleep = sleep
        self._clock = clock
        self._last: float | None = None

    def wait(self) -> None:
        """Sleep until the next call is allowed, then note it."""
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            self._sleep(self._interval - (now - self._last))
            now = self._last + self._interval
        self._last = now

    def mark(self) -> None:
        """Count the interval from now (a call just ended)."""
        self._last = self._clock()
