"""Issues named in customer text: ranked, capped, read in batches, remembered when gone.

Anyone who can write to a support channel can name issues, and each named issue costs
a read. So a cycle reads at most ``max_referenced_issues`` of them, the most referenced
first; one found closed or missing is not read again until ``referenced_revalidate_hours``
have passed; and a read that fails is recorded while the cycle goes on.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

log = logging.getLogger(__name__)

RefState = Literal["open", "closed", "missing"]


class RefCache(Protocol):
    """Where referenced issues found closed or missing are remembered (the store)."""

    def gone(self, keys: Collection[str], *, since: datetime) -> set[str]:
        """Return the keys found closed or missing at or after ``since``."""
        ...

    def remember(self, states: Mapping[str, RefState], *, at: datetime) -> None:
        """Keep the closed and missing keys with the time; forget the open ones."""
        ...


class Referenced(Collection[str]):
    """The references stored records carry, with how many records carry each.

    Iterates most referenced first. A tracker notes here what it could not read
    (``problems``) for the cycle's summary.
    """

    def __init__(self, counts: Mapping[str, int], cache: RefCache | None = None) -> None:
        self.counts = dict(counts)
        self.cache = cache
        self.problems: list[str] = []

    def __contains__(self, ref: object) -> bool:
        return ref in self.counts

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.counts, key=lambda r: (-self.counts[r], r)))

    def __len__(self) -> int:
        return len(self.counts)


class Reads:
    """The referenced issues one cycle reads, chosen and then accounted for."""

    def __init__(self, references: Collection[str], resolve: Callable[[str], str | None],
                 listed: Collection[str], *, limit: int, revalidate_hours: float,
                 now: float) -> None:
        self._references = references
        self._cache = references.cache if isinstance(references, Referenced) else None
        self._at = datetime.fromtimestamp(now, UTC)
        counts = references.counts if isinstance(references, Referenced) else \
            dict.fromkeys(references, 1)
        merged: Counter[str] = Counter()
        for ref, n in counts.items():
            key = resolve(ref)
            if key is not None and key not in listed:
                merged[key] += n
        ranked = sorted(merged, key=lambda k: (-merged[k], k))
        since = self._at - timedelta(hours=revalidate_hours)
        gone = self._cache.gone(ranked, since=since) if self._cache and ranked else set()
        fresh = [k for k in ranked if k not in gone]
        self.keys = fresh[:limit]
        """The keys to read, most referenced first."""
        if len(fresh) > limit:
            log.warning("%d referenced issues left unread this cycle: max_referenced_issues "
                        "= %d (the most referenced are read)", len(fresh) - limit, limit)
        self.states: dict[str, RefState] = {}
        self.failed: dict[str, str] = {}

    def found(self, key: str, state: RefState) -> None:
        """Note what a read found."""
        self.states[key] = state

    def fail(self, keys: Collection[str], why: str) -> None:
        """Note keys whose read failed (the next cycle tries them again)."""
        for key in keys:
            self.failed.setdefault(key, why)

    def finish(self) -> None:
        """Remember what was found and record what failed; keys never found are missing."""
        for key in self.keys:
            if key not in self.failed:
                self.states.setdefault(key, "missing")
        if self._cache is not None and self.states:
            self._cache.remember(self.states, at=self._at)
        by_reason: dict[str, list[str]] = {}
        for key, why in self.failed.items():
            by_reason.setdefault(why, []).append(key)
        for why, keys in by_reason.items():
            shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            problem = f"referenced issues not read ({shown}): {why}"
            log.warning("%s; the next cycle tries again", problem)
            if isinstance(self._references, Referenced):
                self._references.problems.append(problem)
