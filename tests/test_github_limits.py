"""Rate limits, write allowance, pacing and HTTP errors of the GitHub tracker."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from fakes.github_builders import NOW, Clock, Sleeps, impact, make_tracker, run_cycle, seed_shop
from fakes.github_server import FakeGithub
from impactlink.errors import TrackerAuthError
from impactlink.writeback import MemoryJournal

pytest_plugins = ["fakes.github_fixtures"]

KEYS = ("acme/shop#1", "acme/shop#2", "acme/shop#3")
SECONDARY = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                        "before you try again.",
             "documentation_url": "https://docs.github.com/rest/overview/rate-limits"}
PRIMARY = {"message": "API rate limit exceeded for user ID 1.",
           "documentation_url": "https://docs.github.com/rest/overview/rate-limits"}


def _primary(reset_in: int, resource: str = "core") -> dict[str, str]:
    return {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + reset_in),
            "x-ratelimit-resource": resource}


def test_secondary_limit_with_retry_after_is_waited_out(github_fake: FakeGithub,
                                                        tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    github_fake.inject("POST", r"/issues/1/comments$", 403, SECONDARY,
                       headers={"retry-after": "7"})
    sleeps = Sleeps()
    tracker = make_tracker(github_fake, tmp_path, sleep=sleeps)

    summary = run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal())

    assert sleeps == [7.0]
    assert summary.written == 2 and summary.stopped is None
    assert len(github_fake.comments_of("acme/shop", 1)) == 1


def test_secondary_limit_without_retry_after_waits_a_minute(github_fake: FakeGithub,
                                                           tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    github_fake.inject("POST", r"/issues/1/labels$", 403, SECONDARY)
    sleeps = Sleeps()

    run_cycle(make_tracker(github_fake, tmp_path, sleep=sleeps),
              {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal())

    assert sleeps == [60.0]
    assert "impact: high" in github_fake.labels_of("acme/shop", 1)


def test_primary_limit_with_a_near_reset_is_waited_out(github_fake: FakeGithub,
                                                       tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    github_fake.inject("GET", r"/issues$", 403, PRIMARY, headers=_primary(20))
    sleeps = Sleeps()

    issues = make_tracker(github_fake, tmp_path, sleep=sleeps).fetch_issues(())

    assert sleeps == [21.0]  # until the reset, plus the second it may fall in
    assert [i.key for i in issues] == ["acme/shop#1"]


def test_long_reset_stops_the_cycle_and_the_next_resumes_without_rewriting(
        github_fake: FakeGithub, tmp_path: Path) -> None:
    seed_shop(github_fake)
    github_fake.inject("POST", r"/issues/2/labels$", 403, PRIMARY, headers=_primary(3600))
    clock, sleeps, journal = Clock(), Sleeps(), MemoryJournal()
    tracker = make_tracker(github_fake, tmp_path, sleep=sleeps, clock=clock)
    impacts = {k: impact(k) for k in KEYS}

    first = run_cycle(tracker, impacts, journal)
    assert first.stopped is not None and "3601 s" in first.stopped
    assert sleeps == []
    landed = {(r.method, r.path) for r in github_fake.writes() if r.status < 300}
    github_fake.reset_log()
    clock.now += 3600 + 60  # the next cycle, after the reset

    second = run_cycle(tracker, impacts, journal)

    assert second.stopped is None and first.written + second.written == 6
    again = {(r.method, r.path) for r in github_fake.writes()}
    assert not landed & again
    for n in (1, 2, 3):
        assert github_fake.labels_of("acme/shop", n) == ["area/checkout", "bug", "impact: high"]
        assert len(github_fake.comments_of("acme/shop", n)) == 1


def test_max_writes_per_run_stops_and_later_cycles_finish_with_minimal_writes(
        github_fake: FakeGithub, tmp_path: Path) -> None:
    seed_shop(github_fake)
    tracker = make_tracker(github_fake, tmp_path, max_writes_per_run=3)
    journal = MemoryJournal()
    impacts = {k: impact(k) for k in KEYS}

    stops = [run_cycle(tracker, impacts, journal).stopped for _ in range(4)]

    assert [s is not None for s in stops] == [True, True, False, False]
    assert "max_writes_per_run (3)" in str(stops[0])
    # one label creation, then one label and one comment per issue: nothing sent twice
    assert len(github_fake.writes()) == 7
    for n in (1, 2, 3):
        assert github_fake.labels_of("acme/shop", n) == ["area/checkout", "bug", "impact: high"]
        assert len(github_fake.comments_of("acme/shop", n)) == 1


def test_graphql_rate_limited_inside_a_200_is_waited_out(github_fake: FakeGithub,
                                                         tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    project = github_fake.add_project("acme", 3, fields={
        "Customer Impact": "NUMBER", "CSAT": "NUMBER", "Affected Customers": "NUMBER"})
    github_fake.inject("POST", r"^/graphql$", 200, {"errors": [
        {"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}]},
        headers=_primary(30, "graphql"))
    sleeps = Sleeps()
    tracker = make_tracker(github_fake, tmp_path, sleep=sleeps,
                           project={"owner": "acme", "number": 3})

    summary = run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal())

    assert sleeps == [31.0] and not summary.failed and summary.stopped is None
    assert project.values_of("I_acme/shop#1") == {
        "Customer Impact": 12.3, "CSAT": 62.5, "Affected Customers": 37.0}


def test_graphql_rate_limited_with_a_long_reset_stops_the_cycle(github_fake: FakeGithub,
                                                                tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    github_fake.add_project("acme", 3, fields={
        "Customer Impact": "NUMBER", "CSAT": "NUMBER", "Affected Customers": "NUMBER"})
    github_fake.inject("POST", r"^/graphql$", 200, {"errors": [
        {"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}]},
        headers=_primary(1800, "graphql"))
    tracker = make_tracker(github_fake, tmp_path, project={"owner": "acme", "number": 3})

    summary = run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal())

    assert summary.stopped is not None and "graphql" in summary.stopped.lower()
    assert summary.written == 2  # label and comment landed before


def test_5xx_on_reads_and_idempotent_writes_is_retried_with_backoff(github_fake: FakeGithub,
                                                                    tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    github_fake.inject("GET", r"/issues$", 502, {"message": "Server Error"})
    github_fake.inject("POST", r"/issues/1/labels$", 503, {"message": "Unavailable"},
                       headers={"retry-after": "3"})
    sleeps = Sleeps()

    summary = run_cycle(make_tracker(github_fake, tmp_path, sleep=sleeps),
                        {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal())

    assert sleeps == [2.0, 3.0] and summary.written == 2


def test_writes_are_serial_and_spaced(github_fake: FakeGithub, tmp_path: Path) -> None:
    seed_shop(github_fake, issues=2)
    tracker = make_tracker(github_fake, tmp_path, seconds_between_writes=0.2)

    run_cycle(tracker, {k: impact(k) for k in KEYS[:2]}, MemoryJournal())

    times = [r.at for r in github_fake.writes()]
    assert len(times) == 5
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.18


def test_bad_credentials_raise_an_auth_error_with_the_fix(github_fake: FakeGithub,
                                                          tmp_path: Path) -> None:
    seed_shop(github_fake)
    github_fake.tokens.clear()
    with pytest.raises(TrackerAuthError, match=r"401 Bad credentials.*create a new one"):
        make_tracker(github_fake, tmp_path).fetch_issues(())


def test_missing_permission_is_reported_with_the_fix(github_fake: FakeGithub,
                                                     tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    github_fake.inject("POST", r"/issues/1/labels$", 403,
                       {"message": "Resource not accessible by personal access token"})

    summary = run_cycle(make_tracker(github_fake, tmp_path),
                        {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal())

    assert len(summary.failed) == 1 and "grant Issues read and write" in summary.failed[0]
    assert summary.written == 1  # the comment still landed
