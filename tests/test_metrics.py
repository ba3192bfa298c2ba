"""/healthz and /metrics as served on a loopback port, with what a real cycle counted."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from impactlink import observe
from impactlink.metrics import Health, Metrics, StatusServer
from impactlink.sources.http import HttpSession, Policy


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def served(clock: Clock) -> Iterator[tuple[str, Metrics, Health]]:
    metrics = Metrics()
    health = Health(healthy_within=3 * 3600, started=clock.now, clock=clock)
    server = StatusServer(metrics, health, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{server.port}", metrics, health
    finally:
        server.close()


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_healthz_is_200_while_starting_then_503_without_a_success(
        served: tuple[str, Metrics, Health], clock: Clock) -> None:
    base, _, _ = served
    code, kind, body = get(base + "/healthz")
    assert (code, kind, json.loads(body)["status"]) == (200, "application/json", "starting")
    clock.now += 3 * 3600 + 1
    code, _, body = get(base + "/healthz")
    assert (code, json.loads(body)["status"]) == (503, "no successful cycle yet")


def test_healthz_turns_503_when_the_last_success_is_too_old(
        served: tuple[str, Metrics, Health], clock: Clock) -> None:
    base, _, health = served
    health.succeeded(clock.now)
    clock.now += 3 * 3600
    code, _, body = get(base + "/healthz")
    report = json.loads(body)
    assert (code, report["status"], report["last_success_age_seconds"]) == (200, "ok", 10800.0)
    clock.now += 1
    code, _, body = get(base + "/healthz")
    assert (code, json.loads(body)["status"]) == (503, "stale")


def test_unknown_paths_are_404(served: tuple[str, Metrics, Health]) -> None:
    assert get(served[0] + "/")[0] == 404


def test_metrics_count_a_real_cycle(tmp_path: Path, served: tuple[str, Metrics, Health]) -> None:
    from impactlink.config import load_settings
    from impactlink.scheduler import Service
    from test_cli import example_config

    base, metrics, _ = served
    service = Service(load_settings(example_config(tmp_path)), metrics=metrics)
    assert samples(get(base + "/metrics")[2])[
        ("impactlink_source_errors_total", (("source", "survey-export"),))] == 0
    assert service.cycle() == "ok"
    assert service.cycle() == "ok"
    code, kind, text = get(base + "/metrics")
    assert code == 200 and kind.startswith("text/plain")
    got = samples(text)
    assert got[("impactlink_cycles_total", (("status", "ok"),))] == 2
    assert got[("impactlink_cycle_duration_seconds_count", ())] == 2
    assert got[("impactlink_records_ingested_total", (("source", "survey-export"),))] == 3600
    assert got[("impactlink_records_quarantined_total", (("source", "survey-export"),))] == 3
    assert got[("impactlink_issues_matched", ())] > 30
    assert got[("impactlink_cycle_running", ())] == 0
    assert got[("impactlink_last_success_timestamp_seconds", ())] > 1.7e9
    assert got[("impactlink_build_info", (("version", "0.1.0"),))] == 1
    assert got[("impactlink_source_errors_total", (("source", "survey-export"),))] == 0
    assert got[("impactlink_source_last_success_timestamp_seconds",
                (("source", "survey-export"),))] > 1.7e9
    by_level = sum(v for (name, _), v in got.items() if name == "impactlink_issues")
    assert by_level == got[("impactlink_issues_matched", ())]


def test_writes_are_counted_per_tracker_and_target() -> None:
    from impactlink.trackers.base import Write

    metrics = Metrics()
    count = metrics.write_counter("github")
    count("acme/shop#1", Write("label", {}))
    count("acme/shop#2", Write("label", {}))
    count("acme/shop#2", Write("comment", {}))
    assert metrics.registry.get_sample_value(
        "impactlink_writes_total", {"tracker": "github", "target": "label"}) == 2
    assert metrics.registry.get_sample_value(
        "impactlink_writes_total", {"tracker": "github", "target": "comment"}) == 1


def test_source_requests_and_rate_limit_waits_are_counted() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}),
                    httpx.Response(503), httpx.Response(200, json={})])
    client = httpx.Client(transport=httpx.MockTransport(lambda _: next(answers)))
    slept: list[float] = []
    session = HttpSession(Policy("desk", "Zendesk", "https://desk.example", {}), client=client,
                          sleep=slept.append, clock=lambda: 0.0)
    metrics = Metrics()
    observe.OBSERVERS.append(metrics.on_http)
    try:
        session.get_json("/api/v2/tickets.json")
    finally:
        observe.OBSERVERS.remove(metrics.on_http)
    value = metrics.registry.get_sample_value
    assert value("impactlink_api_requests_total", {"source": "desk", "code": "429"}) == 1
    assert value("impactlink_api_requests_total", {"source": "desk", "code": "503"}) == 1
    assert value("impactlink_api_requests_total", {"source": "desk", "code": "200"}) == 1
    assert value("impactlink_api_waits_total", {"source": "desk", "reason": "rate_limit"}) == 1
    assert value("impactlink_api_waits_total", {"source": "desk", "reason": "retry"}) == 1
    assert value("impactlink_api_wait_seconds_total", {"source": "desk"}) == sum(slept) == 7 + 2


def test_two_services_do_not_share_counters() -> None:
    first, second = Metrics(), Metrics()
    first.cycles.labels("ok").inc()
    assert first.registry.get_sample_value("impactlink_cycles_total", {"status": "ok"}) == 1
    assert second.registry.get_sample_value("impactlink_cycles_total", {"status": "ok"}) == 0


def cycle_result(sources: dict[str, str | None], levels: list[str],
                 failed: int = 0) -> SimpleNamespace:
    """A stand-in for pipeline.CycleResult with what observe_cycle reads."""
    return SimpleNamespace(
        sources={n: SimpleNamespace(ingested=5, quarantined=1, error=e)
                 for n, e in sources.items()},
        matched=len(levels),
        impacts={f"acme/shop#{i}": {"level": lv} for i, lv in enumerate(levels)},
        writes=SimpleNamespace(failed=[f"acme/shop#{i}" for i in range(failed)]))


def test_failure_counters_are_zero_for_every_known_source_tracker_and_status() -> None:
    metrics = Metrics()
    metrics.prepare(["survey", "desk"], "github")
    got = samples(generate_latest(metrics.registry).decode())
    for source in ("survey", "desk"):
        for name in ("impactlink_source_errors_total", "impactlink_records_ingested_total",
                     "impactlink_records_quarantined_total",
                     "impactlink_source_last_success_timestamp_seconds"):
            assert got[(name, (("source", source),))] == 0, (name, source)
    assert got[("impactlink_write_failures_total", (("tracker", "github"),))] == 0
    for status in ("ok", "partial", "stopped", "failed", "skipped"):
        assert got[("impactlink_cycles_total", (("status", status),))] == 0
    for level in ("critical", "high", "medium", "low", "none"):
        assert got[("impactlink_issues", (("level", level),))] == 0


def test_a_source_that_fails_keeps_its_last_success_time() -> None:
    metrics = Metrics()
    metrics.prepare(["survey", "desk"], "github")
    value = metrics.registry.get_sample_value
    before = time.time()
    metrics.observe_cycle(cycle_result({"survey": None, "desk": None}, []), "ok", 1.0, "github")  # type: ignore[arg-type]
    first = value("impactlink_source_last_success_timestamp_seconds", {"source": "desk"})
    assert first is not None and first >= before
    metrics.observe_cycle(cycle_result({"survey": None, "desk": "HTTP 401"}, []), "partial", 1.0,  # type: ignore[arg-type]
                          "github")
    assert value("impactlink_source_last_success_timestamp_seconds", {"source": "desk"}) == first
    assert value("impactlink_source_errors_total", {"source": "desk"}) == 1
    assert value("impactlink_source_errors_total", {"source": "survey"}) == 0


def test_issues_are_counted_by_level_after_each_cycle() -> None:
    metrics = Metrics()
    value = metrics.registry.get_sample_value
    metrics.observe_cycle(cycle_result({}, ["critical", "high", "high", "low"], failed=2),  # type: ignore[arg-type]
                          "partial", 1.0, "jira")
    assert [value("impactlink_issues", {"level": lv}) for lv in
            ("critical", "high", "medium", "low", "none")] == [1, 2, 0, 1, 0]
    assert value("impactlink_write_failures_total", {"tracker": "jira"}) == 2
    metrics.observe_cycle(cycle_result({}, ["medium"]), "ok", 1.0, "jira")  # type: ignore[arg-type]
    assert [value("impactlink_issues", {"level": lv}) for lv in
            ("critical", "high", "medium", "low", "none")] == [0, 0, 1, 0, 0]
    metrics.observe_cycle(cycle_result({}, []), "stopped", 1.0, "jira")  # type: ignore[arg-type]
    assert value("impactlink_issues", {"level": "medium"}) == 1, "a stopped cycle keeps them"


def test_process_metrics_are_served(served: tuple[str, Metrics, Health]) -> None:
    _, _, text = get(served[0] + "/metrics")
    got = samples(text)
    assert got[("process_cpu_seconds_total", ())] >= 0
    assert got[("process_resident_memory_bytes", ())] > 0
    assert ("python_info", ()) not in got  # python_info carries labels
    assert any(name == "python_info" for name, _ in got)


def test_tracker_requests_and_rate_limit_waits_are_counted() -> None:
    from impactlink.observe import HttpEvent, notify

    metrics = Metrics()
    observe.OBSERVERS.append(metrics.on_http)
    try:
        notify(HttpEvent("request", "github", "github", 200))
        notify(HttpEvent("wait", "jira", "jira", seconds=150.0, rate_limited=True))
    finally:
        observe.OBSERVERS.remove(metrics.on_http)
    text = generate_latest(metrics.registry).decode()
    assert 'impactlink_api_requests_total{code="200",source="github"} 1.0' in text
    assert 'impactlink_api_waits_total{reason="rate_limit",source="jira"} 1.0' in text
    assert 'impactlink_api_wait_seconds_total{source="jira"} 150.0' in text
