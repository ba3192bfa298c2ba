"""The small protocol every tracker adapter speaks, and the change it is asked to make."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from impactlink.core.models import Impact, Issue


@dataclass(frozen=True, slots=True)
class Change:
    """What one issue should show: its impact, or None when its impact is to be cleared."""

    issue: Issue
    impact: Impact | None
    quotes: tuple[str, ...] = ()
    """Representative customer comments, already redacted by the core."""


@dataclass(frozen=True, slots=True)
class Write:
    """What one target of one issue (label, comment, project fields, ...) should hold.

    The pipeline skips a write whose fingerprint equals the one stored after the last
    successful write to that issue and target, so an unchanged issue costs no request.
    """

    target: str
    content: dict[str, object]
    requests: tuple[str, ...] = field(default=())
    """The requests a real run would send, one line each, for ``--dry-run``."""
    held: str | None = None
    """What the target shows now in the plan's words (the level a label says, "–" for
    none), when the tracker read it back with this cycle's listing; None when unknown."""
    current: bool = False
    """The tracker read back that the target already holds this: nothing is sent."""
    printed_only: bool = False
    """The tracker cannot send it (a file export): the plan is printed for a person."""

    @property
    def fingerprint(self) -> str:
        blob = json.dumps({"target": self.target, "content": self.content},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


class Tracker(Protocol):
    """An issue tracker: list issues, say what each target should hold, write it."""

    kind: str

    def fetch_issues(self, references: Collection[str]) -> list[Issue]:
        """Return open issues carrying a feature label/component, plus the referenced ones."""
        ...

    def plan(self, change: Change) -> list[Write]:
        """Return what each target of the issue should hold (no writes; reads allowed)."""
        ...

    def apply(self, change: Change, write: Write) -> None:
        """Make one target hold what the write says; safe to repeat after a crash."""
        ...

    def check(self) -> list[str]:
        """Return each problem with credentials, access or fields, with its fix."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
