"""Rate limits, 503s, the write budget, and resuming at the next cycle."""

from __future__ import annotations

from pathlib import Path

from fakes.jira_builders import Sleeps, impact, make_tracker, run_cycle, seed_shop
from fakes.jira_fixtures import jira_cloud, jira_dc
from fakes.jira_server import FakeJira
from impactlink.writeback import MemoryJournal

__all__ = ["jira_cloud", "jira_dc"]


def test_429_longer_than_the_library_cap_is_waited_out_in_full(jira_cloud: FakeJira,
                                                              tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    jira_cloud.inject("PUT", r"issue/SHOP-1$", 429, {"errorMessages": ["Rate limit exceeded."]},
                      headers={"Retry-After": "150"})
    sleeps = Sleeps()
    summary = run_cycle(make_tracker(jira_cloud, tmp_path, sleep=sleeps),
                        {"SHOP-1": impact("SHOP-1")}, MemoryJournal())
    assert summary.written == 1
    assert sleeps == [150.0]  # jira's ResilientSession would cap this at 60 s
    assert jira_cloud.value("SHOP-1", "Customer Impact") == 12.3


def test_429_longer_than_max_retry_wait_stops_the_cycle_and_the_next_resumes(
        jira_cloud: FakeJira, tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    jira_cloud.inject("PUT", r"issue/SHOP-2$", 429, headers={"Retry-After": "3600"})
    sleeps = Sleeps()
    tracker = make_tracker(jira_cloud, tmp_path, sleep=sleeps, max_retry_wait_seconds=600)
    journal = MemoryJournal()
    impacts = {k: impact(k) for k in ("SHOP-1", "SHOP-2", "SHOP-3")}
    first = run_cycle(tracker, impacts, journal)
    assert first.written == 1 and first.stopped is not None and "3600" in first.stopped
    assert sleeps == []
    second = run_cycle(tracker, impacts, journal)
    assert (second.written, second.skipped, second.stopped) == (2, 1, None)
    assert all(jira_cloud.value(k, "CSAT") == 62.5 for k in impacts)


def test_503_after_an_update_that_applied_is_retried_and_converges(jira_cloud: FakeJira,
                                                                   tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    jira_cloud.inject("PUT", r"issue/SHOP-1$", 503, after=True)
    sleeps = Sleeps()
    journal = MemoryJournal()
    summary = run_cycle(make_tracker(jira_cloud, tmp_path, sleep=sleeps),
                        {"SHOP-1": impact("SHOP-1")}, journal)
    assert (summary.written, summary.failed) == (1, [])
    assert len(sleeps) == 1
    assert [w.status for w in jira_cloud.writes()] == [503, 204]
    assert jira_cloud.value("SHOP-1", "Customer Impact") == 12.3


def test_503_is_retried_only_up_to_the_bound(jira_cloud: FakeJira, tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    jira_cloud.inject("PUT", r"issue/SHOP-1$", 503, times=100)
    sleeps = Sleeps()
    summary = run_cycle(make_tracker(jira_cloud, tmp_path, sleep=sleeps, max_retries=3),
                        {"SHOP-1": impact("SHOP-1")}, MemoryJournal())
    assert summary.stopped is not None and "after 3 retries" in summary.stopped
    assert sleeps == [2.0, 4.0, 8.0]
    assert len(jira_cloud.writes()) == 4


def test_max_writes_per_run_stops_then_the_next_cycle_resumes(jira_cloud: FakeJira,
                                                              tmp_path: Path) -> None:
    seed_shop(jira_cloud, issues=5)
    tracker = make_tracker(jira_cloud, tmp_path, max_writes_per_run=2)
    journal = MemoryJournal()
    impacts = {f"SHOP-{n}": impact(f"SHOP-{n}") for n in range(1, 6)}
    counts = []
    for _ in range(3):
        summary = run_cycle(tracker, impacts, journal)
        counts.append((summary.written, summary.stopped is not None))
    assert counts == [(2, True), (2, True), (1, False)]
    assert all(jira_cloud.value(k, "Affected Customers") == 37 for k in impacts)
    assert len(jira_cloud.writes()) == 5
