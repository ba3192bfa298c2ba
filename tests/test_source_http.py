"""The shared HTTP policy, and the fake vendor the source tests serve example payloads from."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from impactlink import __version__
from impactlink.errors import SourceAuthError, SourceError
from impactlink.sources.base import Batch
from impactlink.sources.http import (
    HttpSession,
    Pacer,
    Policy,
    Watermark,
    amount,
    demanded_wait,
    field_segments,
    field_tags,
    load_bookmark,
    parse_time,
    reject,
)

FIXTURES = Path(__file__).parent / "fixtures" / "vendors"
NOW = 1_750_000_000.0
Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


def fixture(name: str) -> Any:
    """Return a vendor example payload (a fresh copy each time, safe to modify)."""
    return copy.deepcopy(json.loads((FIXTURES / name).read_text(encoding="utf-8")))


class Vendor:
    """A fake vendor API: each route answers from a queue (the last answer repeats)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Answer]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.routes[(method, path)] = list(answers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.routes.get((request.method, request.url.path))
        if not queue:
            return httpx.Response(404, json={"error": "no route"})
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        return answer(request) if callable(answer) else answer

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def calls(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


class FakeClock:
    """An injectable clock whose sleeps only move time forward and are recorded."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def records(batches: list[Batch]) -> list[tuple[str, str]]:
    """Return what batches carry, as (kind, id) pairs, in order."""
    out: list[tuple[str, str]] = []
    for b in batches:
        out += [("ticket", t.external_id) for t in b.tickets]
        out += [("response", r.external_id) for r in b.responses]
        out += [("deleted", d) for d in b.deleted_tickets]
        out += [("refs", t) for t, _ in b.ticket_refs]
        out += [("rejected", r.location) for r in b.rejected]
    return out


def assert_resumes(run: Callable[[str | None], Iterator[Batch]], full: list[Batch]) -> None:
    """Crash after every batch in turn: the restart loses nothing and re-reads at most a page."""
    assert len(full) > 2
    expected = records(full)
    page = max(len(records([b])) for b in full)
    for crash_after in range(1, len(full)):
        seen: list[Batch] = []
        for batch in run(None):
            seen.append(batch)
            if len(seen) == crash_after:
                break  # the generator is dropped here, as a crash would
        resumed = list(run(seen[-1].cursor))
        got = records(seen) + records(resumed)
        assert set(expected) <= set(got), f"lost records after a crash at batch {crash_after}"
        assert len(got) - len(expected) <= page, f"re-read more than a page ({crash_after})"


def session(handler: Callable[[httpx.Request], httpx.Response], clock: FakeClock,
            **policy: Any) -> HttpSession:
    base = {"source": "support", "vendor": "Acme", "base_url": "https://acme.test/api",
            "headers": {"Authorization": "Bearer s3cr3t-token"},
            "auth_fix": "check token_env", "max_retries": 3, "max_retry_wait_seconds": 60.0}
    return HttpSession(Policy(**{**base, **policy}),
                       client=httpx.Client(transport=httpx.MockTransport(handler)),
                       sleep=clock.sleep, clock=clock.time)


def sequence(*responses: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(responses)
    return lambda request: queue.pop(0)


OK = httpx.Response(200, json={"ok": True})


@pytest.mark.parametrize(("headers", "waited"), [
    ({"Retry-After": "7"}, 7.0),
    ({"Retry-After": "Sun, 15 Jun 2025 15:06:50 GMT"}, 10.0),
    ({"X-RateLimit-Reset": str(int(NOW) + 5)}, 5.0),
    ({"ratelimit-reset": "12"}, 12.0),
    ({}, 1.0),
])
def test_429_then_success_waits_what_the_vendor_asks(headers: dict[str, str],
                                                     waited: float) -> None:
    clock = FakeClock()
    http = session(sequence(httpx.Response(429, headers=headers), OK), clock)
    assert http.get_json("/x") == {"ok": True}
    assert clock.sleeps == [waited]


def test_5xx_and_transport_errors_back_off_then_succeed() -> None:
    clock = FakeClock()
    calls: Iterator[httpx.Response | str] = iter(
        [httpx.Response(503), "boom", httpx.Response(502), OK])

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(calls)
        if isinstance(answer, str):
            raise httpx.ConnectError(answer, request=request)
        return answer

    assert session(handler, clock).get_json("/x") == {"ok": True}
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_retries_are_bounded() -> None:
    clock = FakeClock()
    with pytest.raises(SourceError, match="still failing after 3 retries"):
        session(lambda r: httpx.Response(500), clock).get_json("/x")
    assert len(clock.sleeps) == 3


def test_a_wait_beyond_the_cap_stops_instead_of_sleeping() -> None:
    clock = FakeClock()
    http = session(lambda r: httpx.Response(429, headers={"Retry-After": "3600"}), clock)
    with pytest.raises(SourceError, match=r"asks to wait 3600 s.*resumes from the stored cursor"):
        http.get_json("/x")
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_names_source_and_fix_and_hides_the_token(status: int) -> None:
    http = session(lambda r: httpx.Response(status), FakeClock())
    with pytest.raises(SourceAuthError) as caught:
        http.get_json("/x?secret=1")
    message = str(caught.value)
    assert message.startswith("support: Acme") and "check token_env" in message
    assert f"HTTP {status}" in message and "s3cr3t" not in message and "secret=1" not in message


def test_other_4xx_is_fatal_without_retry() -> None:
    clock = FakeClock()
    with pytest.raises(SourceError, match="HTTP 404 to GET /x"):
        session(lambda r: httpx.Response(404), clock).get_json("/x")
    assert clock.sleeps == []


def test_requests_carry_user_agent_and_policy_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return OK

    session(handler, FakeClock()).get_json("/v2/things", {"a": 1})
    assert seen[0].url == "https://acme.test/api/v2/things?a=1"
    assert seen[0].headers["User-Agent"] == f"impactlink/{__version__}"
    assert seen[0].headers["Authorization"] == "Bearer s3cr3t-token"


def test_demanded_wait_ignores_garbage() -> None:
    response = httpx.Response(429, headers={"Retry-After": "soon", "X-RateLimit-Reset": "x"})
    assert demanded_wait(response, NOW) is None


def test_pacer_spaces_calls() -> None:
    clock = FakeClock()
    pacer = Pacer(6.0, clock.sleep, clock.time)
    pacer.wait()
    clock.now += 2
    pacer.wait()
    pacer.wait()
    assert clock.sleeps == [4.0, 6.0]


@pytest.mark.parametrize(("raw", "expected"), [
    ("2015-08-28T09:08:16Z", datetime(2015, 8, 28, 9, 8, 16, tzinfo=UTC)),
    ("2024-08-14T12:00:00.000Z", datetime(2024, 8, 14, 12, tzinfo=UTC)),
    ("2018-11-04T02:00:00+02:00", datetime(2018, 11, 4, tzinfo=UTC)),
    (1713497396, datetime(2024, 4, 19, 3, 29, 56, tzinfo=UTC)),
])
def test_parse_time_returns_aware_utc(raw: object, expected: datetime) -> None:
    assert parse_time(raw) == expected


@pytest.mark.parametrize("raw", ["2015-08-28T010:08:16Z", None, True, "", {"a": 1}])
def test_parse_time_rejects_malformed(raw: object) -> None:
    with pytest.raises(ValueError):
        parse_time(raw)


def test_unreadable_cursor_says_how_to_recover() -> None:
    with pytest.raises(SourceError, match="backfill --source support"):
        load_bookmark("support", "[1]")


def test_watermark_drops_only_what_was_emitted() -> None:
    mark = Watermark.load({"at": 100, "ids": ["a"]})
    assert mark.seen("a", 100) and mark.seen("z", 99)
    assert not mark.seen("b", 100) and not mark.seen("a", 101)
    mark.advance("b", 100)
    mark.advance("c", 101)
    assert mark.dump() == {"at": 101, "ids": ["c"]}


def test_field_values_become_tags_and_segments() -> None:
    values = {"1": "checkout_bug", "2": True, "3": ["a", "b"], "4": False, "5": "eu"}
    assert field_tags(values, {"1": "x", "2": "vip", "3": "y", "4": "z"}) == [
        "checkout_bug", "vip", "a", "b"]
    assert field_segments(values, {"5": "region"}, [("plan", "pro"), ("tier", None)]) == (
        ("plan", "pro"), ("region", "eu"))


def test_amount_and_reject() -> None:
    assert amount("1000", 12) == 12000.0 and amount(None) is None
    with pytest.raises(ValueError):
        amount("lots")
    item = {"id": 7, "text": "x" * 5000}
    rejected = reject("support", "/tickets", item, "bad")
    assert rejected.location == "/tickets id=7" and len(rejected.raw) == 2000


def test_missing_ok_turns_a_404_into_none() -> None:
    http = session(lambda r: httpx.Response(404, json={"message": "not found"}), FakeClock())
    assert http.get_json("/companies/9", missing_ok=True) is None
    with pytest.raises(SourceError, match="HTTP 404"):
        http.get_json("/companies/9")


def test_policy_repr_hides_the_credentials() -> None:
    policy = Policy("support", "Acme", "https://acme.test", {"Authorization": "Bearer s3cr3t"})
    assert "s3cr3t" not in repr(policy)
