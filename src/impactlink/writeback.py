"""Write changed impact to a tracker, target by target, skipping what already landed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from impactlink.errors import BudgetExhausted, TrackerError
from impactlink.trackers.base import Change, Tracker, Write

log = logging.getLogger(__name__)
STOP_REQUESTED = "stop requested (shutdown or lost writer lock)"


class Journal(Protocol):
    """What was last written per issue and target (the store keeps it)."""

    def last(self, issue: str, target: str) -> str | None:
        """Return the fingerprint last written, or None."""
        ...

    def record(self, issue: str, target: str, fingerprint: str) -> None:
        """Remember a successful write; committed before the next write starts."""
        ...


class MemoryJournal:
    """A journal in a dict, for tests and dry runs."""

    def __init__(self) -> None:
        self.written: dict[tuple[str, str], str] = {}

    def last(self, issue: str, target: str) -> str | None:
        return self.written.get((issue, target))

    def record(self, issue: str, target: str, fingerprint: str) -> None:
        self.written[(issue, target)] = fingerprint


@dataclass
class WriteSummary:
    """What a write-back did (or, in a dry run, would do)."""

    planned: list[tuple[str, Write]] = field(default_factory=list)
    written: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    stopped: str | None = None
    """Why writing stopped early (budget spent); the next cycle resumes."""


def write_back(tracker: Tracker, changes: Iterable[Change], journal: Journal, *,
               dry_run: bool = False,
               on_write: Callable[[str, Write], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> WriteSummary:
    """Apply each change's writes whose fingerprint differs from the journal's.

    A write the tracker read back as held is journaled without a request; one it can only
    print (``printed_only``) is planned, never applied nor journaled. ``should_stop`` is
    asked before each write; when it says so, writing stops there (the writes done are
    journaled) and the next cycle resumes.
    """
    summary = WriteSummary()
    for change in changes:
        key = change.issue.key
        if should_stop is not None and should_stop():
            summary.stopped = STOP_REQUESTED
            break
        try:
            writes = tracker.plan(change)
        except BudgetExhausted as exc:
            summary.stopped = str(exc)
            break
        except TrackerError as exc:
            summary.failed.append(f"{key}: {exc}")
            continue
        for write in writes:
            if journal.last(key, write.target) == write.fingerprint:
                summary.skipped += 1
                continue
            if write.current:  # read back: the tracker holds it already, nothing to send
                summary.skipped += 1
                if not dry_run:
                    journal.record(key, write.target, write.fingerprint)
                continue
            summary.planned.append((key, write))
            if dry_run or write.printed_only:
                continue
            if should_stop is not None and should_stop():
                summary.planned.pop()
                summary.stopped = STOP_REQUESTED
                return summary
            try:
                tracker.apply(change, write)
            except BudgetExhausted as exc:
                summary.stopped = str(exc)
                log.warning("writing stopped: %s; the next cycle resumes", exc)
                return summary
            except TrackerError as exc:
                summary.failed.append(f"{key} {write.target}: {exc}")
                log.error("write failed for %s %s: %s", key, write.target, exc)
                continue
            journal.record(key, write.target, write.fingerprint)
            summary.written += 1
            if on_write is not None:
                on_write(key, write)
    return summary
