"""The one HTTP policy: the status table, the waits vendors ask for, the budget, pacing — and
that each source and tracker client follows it."""

from __future__ import annotations

from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

import fakes.github_builders as gb
import fakes.jira_builders as jb
from fakes.github_server import FakeGithub
from fakes.jira_fixtures import jira_cloud
from fakes.jira_server import FakeJira
from impactlink.errors import SourceError
from impactlink.http_policy import (
    Backoff,
    Outcome,
    Pacer,
    RetryPolicy,
    StatusTable,
    Stop,
    demanded_wait,
    reset_wait,
    retry_after,
)
from impactlink.sources.http import HttpSession, Policy
from impactlink.trackers.jira_client import READ_STATUSES, WRITE_STATUSES
from impactlink.writeback import MemoryJournal

__all__ = ["jira_cloud"]
pytest_plugins = ["fakes.github_fixtures"]

NOW = 1_800_000_000.0
ALL_5XX = StatusTable()


@pytest.mark.parametrize(("table", "status", "limited", "outcome"), [
    (ALL_5XX, 200, False, "ok"),
    (ALL_5XX, 204, False, "ok"),
    (ALL_5XX, 304, False, "ok"),
    (ALL_5XX, 200, True, "rate_limited"),  # GraphQL's RATE_LIMITED inside a 200
    (ALL_5XX, 401, False, "auth"),
    (ALL_5XX, 403, False, "auth"),
    (ALL_5XX, 403, True, "rate_limited"),  # GitHub's secondary limit
    (ALL_5XX, 429, False, "rate_limited"),
    (ALL_5XX, 400, False, "fatal"),
    (ALL_5XX, 404, False, "fatal"),
    (ALL_5XX, 422, False, "fatal"),
    (ALL_5XX, 500, False, "retriable"),
    (ALL_5XX, 502, False, "retriable"),
    (ALL_5XX, 503, False, "retriable"),
    (ALL_5XX, 0, False, "fatal"),  # no status at all
    (WRITE_STATUSES, 500, False, "fatal"),  # a write may have applied
    (WRITE_STATUSES, 502, False, "retriable"),
    (WRITE_STATUSES, 503, False, "retriable"),
    (WRITE_STATUSES, 504, False, "retriable"),
    (WRITE_STATUSES, 501, False, "fatal"),
    (WRITE_STATUSES, 429, False, "rate_limited"),
    (READ_STATUSES, 500, False, "retriable"),
    (READ_STATUSES, 503, False, "retriable"),
    (READ_STATUSES, 401, False, "auth"),
])
def test_status_table_maps_each_status_to_its_outcome(table: StatusTable, status: int,
                                                      limited: bool, outcome: Outcome) -> None:
    assert table.classify(status, rate_limited=limited) == outcome


@pytest.mark.parametrize(("headers", "wait"), [
    ({"retry-after": "7"}, 7.0),
    ({"retry-after": " 1.5 "}, 1.5),
    ({"retry-after": "0"}, 0.0),
    ({"retry-after": "-3"}, 0.0),
    ({"retry-after": formatdate(NOW + 90, usegmt=True)}, 90.0),
    ({"retry-after": formatdate(NOW - 90, usegmt=True)}, 0.0),  # a date already past
    ({"retry-after": "soon"}, None),
    ({"retry-after": ""}, None),
    ({}, None),
])
def test_retry_after_reads_seconds_and_http_dates(headers: dict[str, str],
                                                  wait: float | None) -> None:
    assert retry_after(headers, NOW) == wait


@pytest.mark.parametrize(("headers", "wait"), [
    ({"x-ratelimit-reset": str(int(NOW) + 5)}, 5.0),  # an epoch (Intercom, GitHub)
    ({"x-ratelimit-reset": str(int(NOW) - 5)}, 0.0),
    ({"ratelimit-reset": "12"}, 12.0),  # IETF: a delay
    ({"x-rate-limit-reset": "30"}, 30.0),
    ({"ratelimit-reset": "later", "x-ratelimit-reset": "4"}, 4.0),
    ({"ratelimit-reset": "later"}, None),
    ({}, None),
])
def test_reset_headers_read_an_epoch_or_a_delay(headers: dict[str, str],
                                                wait: float | None) -> None:
    assert reset_wait(headers, NOW) == wait


def test_a_reset_below_the_threshold_is_an_epoch_when_the_vendor_says_so() -> None:
    assert reset_wait({"x-ratelimit-reset": "1060"}, 1000.0, ("x-ratelimit-reset",),
                      epoch_threshold=0) == 60.0


@pytest.mark.parametrize(("headers", "wait"), [
    ({"retry-after": "7", "x-ratelimit-reset": str(int(NOW) + 50)}, 7.0),
    ({"retry-after": "soon", "x-ratelimit-reset": str(int(NOW) + 50)}, 50.0),
    ({"x-ratelimit-reset": str(int(NOW) + 50)}, 50.0),
    ({"content-type": "application/json"}, None),
])
def test_retry_after_comes_before_the_reset_header(headers: dict[str, str],
                                                  wait: float | None) -> None:
    assert demanded_wait(headers, NOW) == wait


@pytest.mark.parametrize(("backoff", "waits"), [
    (Backoff(1.0, 120.0), [1.0, 2.0, 4.0, 8.0, 16.0]),
    (Backoff(2.0, 30.0), [2.0, 4.0, 8.0, 16.0, 30.0]),
    (Backoff(2.0, 60.0), [2.0, 4.0, 8.0, 16.0, 32.0]),
])
def test_backoff_doubles_up_to_its_cap(backoff: Backoff, waits: list[float]) -> None:
    assert [backoff.wait(n) for n in range(5)] == waits


def test_backoff_stays_capped_for_any_retry_count() -> None:
    assert Backoff(1.0, 60.0).wait(10_000) == 60.0


@pytest.mark.parametrize(("retry", "demanded", "decision"), [
    (0, None, 2.0),
    (2, None, 8.0),
    (0, 150.0, 150.0),  # the vendor's full demand, not the backoff
    (0, 600.0, 600.0),  # exactly the budget still waits
    (0, 601.0, Stop("wait", 601.0)),
    (3, None, Stop("retries")),
    (3, 3600.0, Stop("retries")),  # no retries left: the wait does not matter
])
def test_retry_policy_waits_within_the_bounds_or_stops(retry: int, demanded: float | None,
                                                       decision: float | Stop) -> None:
    policy = RetryPolicy(max_retries=3, max_wait=600.0, backoff=Backoff(2.0, 60.0))
    assert policy.next_wait(retry, demanded) == decision


def test_the_wait_budget_also_bounds_a_wait_outside_the_retry_loop() -> None:
    policy = RetryPolicy(max_retries=0, max_wait=60.0)
    assert (policy.within_budget(59.5), policy.within_budget(61.0)) == (59.5, Stop("wait", 61.0))


class FakeClock:
    """A clock that moves only when the test or the injected sleep moves it."""

    def __init__(self) -> None:
        self.now = NOW
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_pacer_spaces_calls_by_the_interval() -> None:
    clock = FakeClock()
    pacer = Pacer(6.0, clock.sleep, clock)
    pacer.wait()
    pacer.wait()
    clock.now += 10
    pacer.wait()
    clock.now += 1
    pacer.wait()
    assert clock.sleeps == [6.0, 5.0]


def test_pacer_counts_from_the_end_of_a_call_once_marked() -> None:
    clock = FakeClock()
    pacer = Pacer(1.0, clock.sleep, clock)
    pacer.wait()
    clock.now += 0.75  # the call itself takes this long
    pacer.mark()
    pacer.wait()
    assert clock.sleeps == [1.0]


def test_a_zero_interval_never_sleeps() -> None:
    clock = FakeClock()
    pacer = Pacer(0.0, clock.sleep, clock)
    for _ in range(3):
        pacer.wait()
        pacer.mark()
    assert clock.sleeps == []


# Each client, by behaviour: a fractional Retry-After and an HTTP date were read by the
# sources' loop alone before the policy was shared (GitHub waited 60 s, Jira backed off 2 s).

RETRY_AFTERS = [("1.5", 1.5), (formatdate(NOW + 45, usegmt=True), 45.0)]


def source_waits(value: str) -> list[float]:
    answers = [httpx.Response(429, headers={"Retry-After": value}),
               httpx.Response(200, json={"ok": True})]
    clock = FakeClock()
    http = HttpSession(Policy("support", "Acme", "https://acme.test/api", {}, "check token_env"),
                       client=httpx.Client(transport=httpx.MockTransport(
                           lambda request: answers.pop(0))),
                       sleep=clock.sleep, clock=clock)
    assert http.get_json("/x") == {"ok": True}
    return clock.sleeps


@pytest.mark.parametrize(("value", "wait"), RETRY_AFTERS)
def test_a_source_waits_the_retry_after_the_policy_reads(value: str, wait: float) -> None:
    assert source_waits(value) == [wait]


@pytest.mark.parametrize(("value", "wait"), RETRY_AFTERS)
def test_github_waits_the_retry_after_the_policy_reads(github_fake: FakeGithub, tmp_path: Path,
                                                       value: str, wait: float) -> None:
    gb.seed_shop(github_fake, issues=1)
    github_fake.inject("POST", r"/issues/1/comments$", 403,
                       {"message": "You have exceeded a secondary rate limit."},
                       headers={"retry-after": value})
    sleeps = gb.Sleeps()
    summary = gb.run_cycle(gb.make_tracker(github_fake, tmp_path, sleep=sleeps),
                           {"acme/shop#1": gb.impact("acme/shop#1")}, MemoryJournal())
    assert sleeps == [wait] and summary.stopped is None


@pytest.mark.parametrize(("value", "wait"), RETRY_AFTERS)
def test_jira_waits_the_retry_after_the_policy_reads(jira_cloud: FakeJira, tmp_path: Path,
                                                     value: str, wait: float) -> None:
    jb.seed_shop(jira_cloud)
    jira_cloud.inject("PUT", r"issue/SHOP-1$", 429, headers={"Retry-After": value})
    sleeps = jb.Sleeps()
    summary = jb.run_cycle(jb.make_tracker(jira_cloud, tmp_path, sleep=sleeps),
                           {"SHOP-1": jb.impact("SHOP-1")}, MemoryJournal())
    assert sleeps == [wait] and summary.written == 1


LONG = formatdate(NOW + 3600, usegmt=True)


def test_a_source_stops_on_a_dated_wait_beyond_the_budget() -> None:
    with pytest.raises(SourceError, match="asks to wait 3600 s"):
        source_waits(LONG)


def test_github_stops_the_cycle_on_a_dated_wait_beyond_the_budget(github_fake: FakeGithub,
                                                                  tmp_path: Path) -> None:
    gb.seed_shop(github_fake, issues=1)
    github_fake.inject("POST", r"/issues/1/comments$", 403,
                       {"message": "You have exceeded a secondary rate limit."},
                       headers={"retry-after": LONG})
    sleeps = gb.Sleeps()
    summary = gb.run_cycle(gb.make_tracker(github_fake, tmp_path, sleep=sleeps),
                           {"acme/shop#1": gb.impact("acme/shop#1")}, MemoryJournal())
    assert sleeps == [] and summary.stopped is not None and "3600" in summary.stopped


def test_jira_stops_the_cycle_on_a_dated_wait_beyond_the_budget(jira_cloud: FakeJira,
                                                                tmp_path: Path) -> None:
    jb.seed_shop(jira_cloud)
    jira_cloud.inject("PUT", r"issue/SHOP-1$", 429, headers={"Retry-After": LONG})
    sleeps = jb.Sleeps()
    summary = jb.run_cycle(jb.make_tracker(jira_cloud, tmp_path, sleep=sleeps),
                           {"SHOP-1": jb.impact("SHOP-1")}, MemoryJournal())
    assert sleeps == [] and summary.stopped is not None and "3600" in summary.stopped
