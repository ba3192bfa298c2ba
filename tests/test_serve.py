"""`serve`: cycles on a schedule, never two at once, stopped cleanly by SIGTERM; `status`."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from impactlink.cli import app
from impactlink.config import ScheduleConfig, Settings, load_settings
from impactlink.core.models import Issue
from impactlink.pipeline import CycleResult, Pipeline
from impactlink.scheduler import Service, healthy_within, next_run, period_seconds, serve
from impactlink.store import records, state
from impactlink.store.engine import open_engine
from impactlink.store.lock import acquire
from impactlink.trackers.base import Change, Write
from impactlink.trackers.files import FileTracker
from test_cli import example_config

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_790_000_000


class SlowCycle:
    """A pipeline whose run takes a while and notes when it ran."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.spans: list[tuple[float, float]] = []
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, _settings: Settings, engine: Engine) -> SlowCycle:
        return self

    def run(self, as_of: datetime, **_: Any) -> CycleResult:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        start = time.monotonic()
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        self.spans.append((start, time.monotonic()))
        return CycleResult(len(self.spans), as_of, False)


def with_schedule(config: Path, **schedule: str) -> Path:
    """Replace the example's [schedule] table (the last in the file)."""
    text = config.read_text()
    table = "".join(f"{k} = {v}\n" for k, v in schedule.items())
    new, count = re.subn(r"\n\[schedule\]\n(?:[^\[\n][^\n]*\n|\n)*",
                         lambda _: "\n[schedule]\n" + table + "\n", text + "\n")
    assert count == 1
    config.write_text(new)
    return config


def settings_for(tmp_path: Path, **schedule: str) -> Settings:
    return load_settings(with_schedule(example_config(tmp_path), **schedule))


def stop_after(service: Service, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, service.stop.set)
    timer.start()
    return timer


def test_scheduler_fires_on_the_interval_and_never_overlaps(tmp_path: Path) -> None:
    slow = SlowCycle(0.5)  # longer than the interval: the firings in between are skipped
    service = Service(settings_for(tmp_path), pipeline_factory=slow)
    stop_after(service, 2.6)
    assert serve(service, trigger=IntervalTrigger(seconds=0.2)) is True
    assert len(slow.spans) >= 3
    assert slow.most_at_once == 1
    for (_, end), (start, _) in zip(slow.spans, slow.spans[1:], strict=False):
        assert start >= end
    assert service.metrics.registry.get_sample_value(
        "impactlink_cycles_total", {"status": "ok"}) == len(slow.spans)


def test_no_cycle_at_start_when_run_at_start_is_false(tmp_path: Path) -> None:
    slow = SlowCycle(0)
    service = Service(settings_for(tmp_path, interval_minutes="60", run_at_start="false"),
                      pipeline_factory=slow)
    stop_after(service, 1.0)
    assert serve(service) is True
    assert slow.spans == []


class StoppingTracker(FileTracker):
    """The file tracker's issues, with one write per change; asks to stop at the third."""

    def __init__(self, tracker: FileTracker, stop: threading.Event) -> None:
        self.__dict__.update(tracker.__dict__)
        self.stop = stop
        self.applied: list[str] = []

    def fetch_issues(self, references: Collection[str]) -> list[Issue]:
        return super().fetch_issues(references)

    def plan(self, change: Change) -> list[Write]:
        level = change.impact.level if change.impact else None
        return [Write("label", {"level": level})]

    def apply(self, change: Change, write: Write) -> None:
        if len(self.applied) == 2:
            self.stop.set()  # SIGTERM arrives while this write is in flight
        time.sleep(0.01)
        self.applied.append(change.issue.key)


def test_a_stop_during_writes_finishes_the_write_in_flight_and_resumes_next_cycle(
        tmp_path: Path) -> None:
    settings = load_settings(example_config(tmp_path))
    service = Service(settings)
    trackers: list[StoppingTracker] = []

    def pipeline(settings: Settings, engine: Engine) -> Pipeline:
        p = Pipeline(settings, engine=engine)
        assert isinstance(p.tracker, FileTracker)
        trackers.append(StoppingTracker(p.tracker, service.stop))
        p._tracker = trackers[-1]
        return p

    service._pipeline_factory = pipeline
    assert service.cycle() == "stopped"
    assert len(trackers[0].applied) == 3
    with service.engine.connect() as conn:
        run = state.recent_runs(conn, 1)[0]
        journaled = conn.execute(select(state.WRITTEN)).all()
    assert run["status"] == "stopped"
    assert run["summary"]["stopped"] is True
    assert run["summary"]["writes"] == 3
    assert len(journaled) == 3

    service.stop.clear()
    trackers.clear()
    service._pipeline_factory = lambda s, engine: Pipeline(s, engine=engine, tracker=(
        trackers.append(StoppingTracker(FileTracker(s.tracker, s.base_dir),  # type: ignore
                                        threading.Event())) or trackers[-1]))
    assert service.cycle() == "ok"
    second = trackers[0].applied
    assert not set(second) & {r.issue_key for r in journaled}, "a journaled write was repeated"
    assert len(second) > 3


def test_a_cycle_is_skipped_while_another_replica_holds_the_lock(tmp_path: Path) -> None:
    settings = load_settings(example_config(tmp_path))
    service = Service(settings)
    assert service.cycle() == "ok"
    other = acquire(service.engine, holder="replica-b")
    try:
        fresh = Service(settings, engine=service.engine)
        assert fresh.cycle() == "skipped"
    finally:
        other.release()
    assert fresh.metrics.registry.get_sample_value(
        "impactlink_cycles_total", {"status": "skipped"}) == 1
    healthy, body = fresh.health.report()  # the holder keeps the store fresh: still healthy
    assert healthy and body["last_success_by"] == "the replica holding the lock"
    with service.engine.connect() as conn:
        assert len(state.recent_runs(conn)) == 1


def test_run_refuses_while_the_lock_is_held(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    settings = load_settings(config)
    engine = open_engine(settings.store.url)
    Pipeline(settings, engine=engine)
    held = acquire(engine, holder="serve-on-host-a")
    try:
        result = CliRunner().invoke(app, ["run", "--config", str(config), "--dry-run"])
    finally:
        held.release()
    assert result.exit_code == 1
    assert "holds the writer lease" in result.output and "serve-on-host-a" in result.output


@pytest.mark.parametrize(("schedule", "period"), [
    ({"interval_minutes": 15}, 900),
    ({}, 3600),
    ({"cron": "*/10 * * * *"}, 600),
    ({"cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}, 3 * 86400),  # over the weekend
])
def test_period_and_default_health_window(schedule: dict[str, Any], period: float) -> None:
    config = ScheduleConfig(**schedule)
    assert period_seconds(config, datetime(2026, 11, 23, tzinfo=UTC)) == period
    if "cron" not in schedule or "timezone" not in schedule:
        assert healthy_within(config) == 3 * period
    assert healthy_within(ScheduleConfig(**schedule, healthy_within_minutes=5)) == 300


def test_next_run_follows_the_last_run_or_the_cron() -> None:
    now = datetime(2026, 11, 23, 10, 7, tzinfo=UTC)
    every = ScheduleConfig(interval_minutes=30)
    assert next_run(every, None, now) == now
    assert next_run(every, datetime(2026, 11, 23, 10, 0), now) == datetime(
        2026, 11, 23, 10, 30, tzinfo=UTC)
    cron = ScheduleConfig(cron="0 9 * * *", timezone="Europe/Berlin")
    assert next_run(cron, None, now) == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("bad", [{"cron": '"61 * * * *"'},
                                 {"interval_minutes": "5", "timezone": '"Mars/Olympus"'},
                                 {"interval_minutes": "5", "cron": '"0 * * * *"'}])
def test_a_bad_schedule_is_a_configuration_error(tmp_path: Path, bad: dict[str, str]) -> None:
    config = with_schedule(example_config(tmp_path), **bad)
    result = CliRunner().invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "schedule" in result.output


def test_status_shows_each_step_the_next_run_and_the_lock(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["run", "--config", str(config)]).exit_code == 0
    result = runner.invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("run 1  ok  ")
    for step, count in [("relink", "records=0"), ("ingest", "records=5700"),
                        ("issues", "issues="), ("compute", "impacts="), ("write", "written=0")]:
        assert any(line.split()[:1] == [step] and count in line for line in lines), step
    assert "  source survey-export: 3600 ingested, 3 quarantined" in lines
    assert any(line.startswith("next run: ") and "(every 60 min, UTC)" in line for line in lines)
    assert lines[-1] == "writer lock: free"


# -- the real command in a subprocess, against a slow source on loopback --------------------


class SlowDelighted:
    """A Delighted API on loopback that takes ``delay`` per page of 100 responses."""

    def __init__(self, delay: float, pages: int | None = None) -> None:
        self.requests = 0
        self.delay = delay
        self.pages = pages
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/refused/"):
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                owner.requests += 1
                time.sleep(owner.delay)
                n = owner.requests
                count = 100 if owner.pages is None or n < owner.pages else 3
                body = json.dumps([{
                    "id": f"{n}-{i}", "person": f"p{i}", "score": 9, "comment": None,
                    "created_at": T0 + n * 100 + i, "updated_at": T0 + n * 100 + i,
                    "person_properties": {"customer_id": f"acct-{i}"}, "tags": []}
                    for i in range(count)]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, requests: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.requests < requests:
            assert time.monotonic() < deadline, f"only {self.requests} requests arrived"
            time.sleep(0.05)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_api() -> Iterator[SlowDelighted]:
    api = SlowDelighted(delay=0.3)
    yield api
    api.close()


def with_slow_source(config: Path, api: SlowDelighted, store_url: str | None = None) -> Path:
    text = config.read_text()
    if store_url:
        text = text.replace(f'url = "sqlite:///{config.parent}/s.db"', f'url = "{store_url}"')
    source = (f'\n[[sources]]\nname = "slow-survey"\ntype = "delighted"\n'
              f'base_url = "{api.url}"\napi_key_env = "SLOW_KEY"\nmax_retries = 0\n')
    assert "\n[tracker]" in text
    config.write_text(text.replace("\n[tracker]", source + "\n[tracker]", 1))
    return config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def impactlink(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SLOW_KEY": "k-4f1d9e2a7c"}
    return subprocess.Popen([sys.executable, "-m", "impactlink", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def healthz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_sigterm_during_a_cycle_stops_at_a_safe_point_and_exits_0(
        tmp_path: Path, slow_api: SlowDelighted) -> None:
    config = with_slow_source(example_config(tmp_path), slow_api)
    port = free_port()
    proc = impactlink("serve", "--config", str(config), "--metrics-port", str(port),
                      "--metrics-host", "127.0.0.1")
    try:
        slow_api.wait_for(3)
        code, body = healthz(port)
        assert (code, body["status"], body["running"]) == (200, "starting", True)
        assert dockerfile_healthcheck(proc.pid, port) == 0
        assert dockerfile_healthcheck(proc.pid, free_port()) != 0  # nothing answers there
        assert dockerfile_healthcheck(os.getpid(), free_port()) == 0  # not serve: no check
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    logs = [json.loads(line) for line in err.splitlines()]
    assert any(e["message"] == "SIGTERM: stopping at the next safe point" for e in logs)
    assert any(e["message"] == "cycle stopped" for e in logs)
    engine = open_engine(load_settings(config).store.url)
    with engine.connect() as conn:
        runs = state.recent_runs(conn)
    assert [r["status"] for r in runs] == ["stopped"]
    assert runs[0]["summary"]["sources"]["slow-survey"]["ingested"] >= 200
    assert "write" not in runs[0]["summary"]["steps"]
    assert records.load_cursor(engine, "slow-survey")  # the next cycle resumes from here


def dockerfile_healthcheck(pid: int, port: int) -> int:
    """Run the Dockerfile's HEALTHCHECK command against this process instead of PID 1."""
    line = next(x for x in (ROOT / "Dockerfile").read_text().split("\n    CMD ")[1:]
                if "/healthz" in x)
    command = json.loads(line.splitlines()[0])
    assert command[:2] == ["python", "-c"]
    code = command[2].replace("/proc/1/cmdline", f"/proc/{pid}/cmdline")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30,
                          env={**os.environ, "IMPACTLINK_METRICS_PORT": str(port)})
    return done.returncode


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_two_processes_on_one_postgres_one_writes_one_skips(
        tmp_path: Path, store_url: str) -> None:
    # A second a page: the first holds the lock well past the second's start-up (imports
    # included) even on a loaded machine.
    api = SlowDelighted(delay=1.0, pages=5)
    try:
        config = with_slow_source(example_config(tmp_path), api, store_url)
        first = impactlink("run", "--config", str(config))
        api.wait_for(1)  # the first holds the lock from before its first request
        second = impactlink("run", "--config", str(config))
        _, second_err = second.communicate(timeout=60)
        first_out, first_err = first.communicate(timeout=60)
    finally:
        api.close()
    assert first.returncode == 0, first_err
    # 403 responses and, with the first page, their 100 customers
    assert "source slow-survey: 503 ingested" in first_out, first_out[-600:]
    assert second.returncode == 1
    assert "holds the writer lock" in second_err and "skipped" in second_err
    engine = open_engine(store_url)
    with engine.connect() as conn:
        assert [r["status"] for r in state.recent_runs(conn)] == ["ok"]
    engine.dispose()
