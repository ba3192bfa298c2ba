"""Fault injection for the fake trackers: seeded transient errors, a gate holding one request.

``Faults`` answers a seeded share of requests with an error a tracker really gives under
load (5xx, 429, GitHub's secondary limit), some of them after the request took effect.
``Gate`` holds the nth matching request, before or after it takes effect, until the test
releases it: the moment to kill the client with the request in flight.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

SECONDARY = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                        "before you try again.",
             "documentation_url": "https://docs.github.com/rest/overview/rate-limits"}


@dataclass(frozen=True)
class Fault:
    """One kind of transient error: its status, headers and body, and whether it follows
    the request's effect (the write landed, the answer says it failed)."""

    name: str
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    after: bool = False
    writes_only: bool = False


GITHUB_FAULTS = (
    Fault("500", 500, {"message": "Server Error"}),
    Fault("502", 502, {"message": "Server Error"}),
    Fault("503", 503, {"message": "Service Unavailable"}, {"retry-after": "1"}),
    Fault("429", 429, {"message": "Too Many Requests"}, {"retry-after": "1"}),
    Fault("403 secondary limit", 403, SECONDARY, {"retry-after": "1"}),
    Fault("502 after the write", 502, {"message": "Server Error"}, after=True, writes_only=True),
)
JIRA_FAULTS = (
    Fault("500", 500, {"errorMessages": ["Internal server error"]}),
    Fault("502", 502, None),
    Fault("503", 503, None, {"Retry-After": "1"}),
    Fault("429", 429, {"errorMessages": ["Rate limit exceeded."]}, {"Retry-After": "1"}),
    Fault("502 after the write", 502, None, after=True, writes_only=True),
)


class Faults:
    """Answers a seeded ``rate`` of requests with one of ``kinds``; counts what it did."""

    def __init__(self, seed: int, kinds: tuple[Fault, ...], rate: float = 0.2) -> None:
        self._random = random.Random(seed)
        self._kinds = kinds
        self.rate = rate
        self.requests = 0
        self.counts: Counter[str] = Counter()

    def draw(self, write: bool) -> Fault | None:
        """Return the fault for the next request, or None to answer it normally."""
        self.requests += 1
        if self._random.random() >= self.rate:
            return None
        kinds = [k for k in self._kinds if write or not k.writes_only]
        fault = self._random.choice(kinds)
        self.counts[fault.name] += 1
        return fault


class Gate:
    """Holds the ``nth`` request matching method and path (a regex), before or after it
    takes effect, until released.

    Held before, the request is then dropped unprocessed (its client was killed meanwhile);
    held after, its answer goes to a client that is gone.
    """

    def __init__(self, method: str, path: str, nth: int = 1, *, after: bool = False) -> None:
        self.method, self.path, self.nth, self.after = method, path, nth, after
        self.seen = 0
        self.held = threading.Event()
        self.released = threading.Event()

    def matches(self, method: str, path: str) -> bool:
        """Count a request; tell whether it is the one to hold."""
        if method != self.method or not re.search(self.path, path):
            return False
        self.seen += 1
        return self.seen == self.nth

    def hold(self) -> None:
        """Block the request's thread until the test releases it (at most a minute)."""
        self.held.set()
        self.released.wait(60)
