"""Requests per cycle of the GitHub tracker for many linked issues, against the fake GitHub.

    .venv/bin/python benchmarks/github_requests.py [--issues 5000] [--project]

Runs the first cycle (nothing written yet), a steady-state cycle (nothing changed) and a
cycle where 1 % of the issues changed score, and compares the write requests with the
minimum: one write per changed target (label, comment, project fields).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.github_builders import impact, make_tracker, run_cycle
from fakes.github_server import FakeGithub
from impactlink.core.models import Impact
from impactlink.writeback import MemoryJournal

FIELDS = {"Customer Impact": "NUMBER", "CSAT": "NUMBER", "Affected Customers": "NUMBER"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=5000)
    parser.add_argument("--project", action="store_true", help="also write Projects v2 fields")
    args = parser.parse_args()

    fake = FakeGithub().start()
    try:
        fake.add_repo("acme/shop")
        for n in range(1, args.issues + 1):
            fake.add_issue("acme/shop", n, labels=("area/checkout",))
        overrides: dict[str, Any] = {}
        if args.project:
            fake.add_project("acme", 3, fields=FIELDS)
            overrides["project"] = {"owner": "acme", "number": 3}
        targets = 3 if args.project else 2
        with tempfile.TemporaryDirectory() as tmp:
            tracker = make_tracker(fake, Path(tmp), max_writes_per_run=10**9, **overrides)
            journal = MemoryJournal()
            impacts: dict[str, Impact | None] = {
                f"acme/shop#{n}": impact(f"acme/shop#{n}") for n in range(1, args.issues + 1)}
            changed = max(1, args.issues // 100)
            print(f"{args.issues} linked issues, {targets} targets each "
                  f"({'label, comment, project' if args.project else 'label, comment'})")
            print(f"{'cycle':<28} {'reads':>7} {'writes':>7} {'minimum writes':>15} "
                  f"{'304s':>6} {'seconds':>8}")
            _cycle(fake, tracker, impacts, journal, "first run", args.issues * targets)
            _cycle(fake, tracker, impacts, journal, "steady state (no change)", 0)
            for n in range(1, changed + 1):
                impacts[f"acme/shop#{n}"] = impact(f"acme/shop#{n}", score=13.0)
            _cycle(fake, tracker, impacts, journal, f"{changed} scores changed",
                   changed * (targets - 1))
            tracker.close()
        assert not fake.violations, fake.violations[:5]
    finally:
        fake.stop()


def _cycle(fake: FakeGithub, tracker: object, impacts: dict[str, Impact | None],
           journal: MemoryJournal, name: str, minimum: int) -> None:
    fake.reset_log()
    start = time.monotonic()
    summary = run_cycle(tracker, impacts, journal)  # type: ignore[arg-type]
    elapsed = time.monotonic() - start
    assert not summary.failed and summary.stopped is None, (summary.failed, summary.stopped)
    reads, writes = len(fake.reads()), len(fake.writes())
    not_modified = sum(1 for r in fake.requests if r.status == 304)
    print(f"{name:<28} {reads:>7} {writes:>7} {minimum:>15} {not_modified:>6} "
          f"{elapsed:>8.1f}")


if __name__ == "__main__":
    main()
