"""The long-running mode: the same cycle on a schedule, one at a time, stopped cleanly.

``serve`` runs the cycle from a BackgroundScheduler (one worker, max_instances=1,
coalesce) while the main thread waits for SIGTERM/SIGINT. A signal stops the scheduling
and sets the stop flag the pipeline reads between steps, batches and writes; the write in
flight finishes and is journaled, the run is recorded as "stopped", and the process exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from impactlink import observe
from impactlink.config import ScheduleConfig, Settings
from impactlink.errors import ImpactlinkError
from impactlink.metrics import Health, Metrics, StatusServer
from impactlink.pipeline import Pipeline
from impactlink.store import state
from impactlink.store.engine import open_store
from impactlink.store.lock import LockHeld

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_MINUTES = 60
COMPLETED = ("ok", "partial")
"""Statuses of a cycle that ran to its end (a failing source makes it partial)."""


def build_trigger(schedule: ScheduleConfig) -> BaseTrigger:
    """Return the trigger of ``[schedule]``: cron, else every interval_minutes (default 60)."""
    zone = ZoneInfo(schedule.timezone)
    if schedule.cron is not None:
        return CronTrigger.from_crontab(schedule.cron, timezone=zone)
    minutes = schedule.interval_minutes or DEFAULT_INTERVAL_MINUTES
    return IntervalTrigger(minutes=minutes, timezone=zone)


def period_seconds(schedule: ScheduleConfig, now: datetime | None = None) -> float:
    """Return the longest gap between two cycles (for cron: over its next 20 firings)."""
    if schedule.cron is None:
        return 60.0 * (schedule.interval_minutes or DEFAULT_INTERVAL_MINUTES)
    trigger = build_trigger(schedule)
    moment, previous, gap = now or datetime.now(UTC), None, 0.0
    for _ in range(21):
        fire = trigger.get_next_fire_time(previous, moment)
        if fire is None:
            break
        if previous is not None:
            gap = max(gap, (fire - previous).total_seconds())
        previous, moment = fire, fire + timedelta(seconds=1)
    return gap or 60.0 * DEFAULT_INTERVAL_MINUTES


def healthy_within(schedule: ScheduleConfig) -> float:
    """Return the seconds after which no completed cycle means unhealthy (default 3 periods)."""
    if schedule.healthy_within_minutes is not None:
        return 60.0 * schedule.healthy_within_minutes
    return 3 * period_seconds(schedule)


def next_run(schedule: ScheduleConfig, last_started: datetime | None,
             now: datetime) -> datetime:
    """Return when serve runs next: cron's next firing, or the last start plus the interval."""
    if schedule.cron is not None:
        fire: datetime | None = build_trigger(schedule).get_next_fire_time(None, now)
        assert fire is not None
        return fire.astimezone(UTC)
    if last_started is None:
        return now
    return _utc(last_started) + timedelta(seconds=period_seconds(schedule))


class Service:
    """One cycle at a time around a shared engine, with its metrics and health."""

    def __init__(self, settings: Settings, *, engine: Engine | None = None,
                 metrics: Metrics | None = None,
                 pipeline_factory: Callable[..., Pipeline] = Pipeline) -> None:
        self.settings = settings
        self.engine = engine or open_store(settings.store, settings.base_dir)
        self.metrics = metrics or Metrics()
        self.metrics.prepare([s.name for s in settings.sources], settings.tracker.type)
        self.health = Health(healthy_within(settings.schedule))
        self.stop = threading.Event()
        self.idle = threading.Event()
        self.idle.set()
        self._pipeline_factory = pipeline_factory

    def cycle(self) -> str:
        """Run one cycle now; return how it ended (ok, partial, stopped, failed, skipped)."""
        if self.stop.is_set():
            return "stopped"
        self.idle.clear()
        self.health.running = True
        self.metrics.running.set(1)
        status = "failed"
        try:
            status = self._run()
        finally:
            self.health.running = False
            self.health.last_status = status
            self.metrics.running.set(0)
            self.idle.set()
        return status

    def _run(self) -> str:
        tracker = self.settings.tracker.type
        started = time.perf_counter()
        try:
            pipeline = self._pipeline_factory(self.settings, engine=self.engine)
            result = pipeline.run(datetime.now(UTC).replace(microsecond=0),
                                  should_stop=self.stop.is_set,
                                  on_write=self.metrics.write_counter(tracker))
        except LockHeld as exc:
            log.info("cycle skipped: %s", exc)
            self.metrics.cycles.labels("skipped").inc()
            self._note_success_in_store()
            return "skipped"
        except (ImpactlinkError, SQLAlchemyError) as exc:
            log.error("cycle failed: %s", exc)
            self.metrics.cycles.labels("failed").inc()
            return "failed"
        except Exception:
            self.metrics.cycles.labels("failed").inc()
            raise  # APScheduler logs the traceback; the next cycle still runs
        status = "stopped" if result.stopped else "ok" if result.ok else "partial"
        self.metrics.observe_cycle(result, status, time.perf_counter() - started, tracker)
        if status in COMPLETED:
            finished = time.time()
            self.health.succeeded(finished)
            self.metrics.last_success.set(finished)
        return status

    def _note_success_in_store(self) -> None:
        """Count the lock holder's completed cycles as ours: the store is being kept."""
        runs = state.RUNS
        try:
            with self.engine.connect() as conn:
                last = conn.execute(select(func.max(runs.c.finished_at)).where(
                    runs.c.status.in_(COMPLETED))).scalar_one_or_none()
        except SQLAlchemyError as exc:
            log.warning("cannot read the last run: %s", exc)
            return
        if last is not None:
            self.health.succeeded(_utc(last).timestamp(), by="the replica holding the lock")


def build_scheduler(service: Service, trigger: BaseTrigger | None = None) -> BackgroundScheduler:
    """Return a scheduler (not started) that runs the service's cycle, never two at once."""
    schedule = service.settings.schedule
    scheduler = BackgroundScheduler(
        timezone=ZoneInfo(schedule.timezone),
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        job_defaults={"max_instances": 1, "coalesce": True,
                      "misfire_grace_time": schedule.misfire_grace_seconds})
    first: dict[str, Any] = {"next_run_time": datetime.now(UTC)} if schedule.run_at_start else {}
    scheduler.add_job(service.cycle, trigger or build_trigger(schedule), id="cycle",
                      name="impactlink cycle", **first)
    return scheduler


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGTERM or SIGINT (a second one exits at once); restore on exit."""
    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            logging.shutdown()
            os._exit(130)
        log.info("%s: stopping at the next safe point", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def serve(service: Service, *, metrics_port: int | None = None,
          metrics_host: str = "0.0.0.0", trigger: BaseTrigger | None = None) -> bool:
    """Run cycles until ``service.stop`` is set; return whether the last cycle stopped in time."""
    server = (StatusServer(service.metrics, service.health, metrics_host, metrics_port).start()
              if metrics_port is not None else None)
    observe.OBSERVERS.append(service.metrics.on_http)
    scheduler = build_scheduler(service, trigger)
    scheduler.start()
    job = scheduler.get_job("cycle")
    log.info("serving", extra={"schedule": str(job.trigger), "metrics_port": server
                               and server.port, "next_run": str(job.next_run_time)})
    try:
        while not service.stop.wait(0.5):
            service.health.next_run = job.next_run_time
    finally:
        service.stop.set()
        scheduler.shutdown(wait=False)
        timeout = service.settings.schedule.stop_timeout_seconds
        stopped = service.idle.wait(timeout)
        if not stopped:
            log.error("the cycle did not reach a safe point within %s s; exiting without it "
                      "(its run stays 'running'; the writer lock goes with the process)", timeout)
        observe.OBSERVERS.remove(service.metrics.on_http)
        if server is not None:
            server.close()
    log.info("stopped")
    return stopped


STEPS = ("relink", "ingest", "issues", "compute", "write")


def status_lines(settings: Settings, engine: Engine, now: datetime, limit: int = 5) -> list[str]:
    """Return the last runs with each step's counts, the next run and the writer lock."""
    from impactlink.store.lock import describe

    with engine.connect() as conn:
        runs = state.recent_runs(conn, limit)
    lines = [line for run in runs for line in _run_lines(run)] or ["no runs yet"]
    schedule = settings.schedule
    due = next_run(schedule, runs[0]["started_at"] if runs else None, now)
    every = f"cron {schedule.cron!r}" if schedule.cron else \
        f"every {schedule.interval_minutes or DEFAULT_INTERVAL_MINUTES} min"
    late = " — overdue: is `impactlink serve` running?" if due < now - timedelta(
        seconds=schedule.misfire_grace_seconds) else ""
    lines.append(f"next run: {due:%Y-%m-%d %H:%M:%S} UTC ({every}, {schedule.timezone}){late}")
    lines.append(f"writer lock: {describe(engine)}")
    return lines


def _run_lines(run: dict[str, Any]) -> list[str]:
    summary: dict[str, Any] = run["summary"]
    started, finished = _utc(run["started_at"]), run["finished_at"]
    took = f"{(_utc(finished) - started).total_seconds():.1f} s" if finished else "running"
    lines = [f"run {run['id']}  {run['status']}  {started:%Y-%m-%d %H:%M:%S} UTC  {took}"
             + ("  (dry run)" if run["dry_run"] else "")]
    steps: dict[str, dict[str, Any]] = summary.get("steps", {})
    for name in STEPS:
        counts = dict(steps.get(name) or {})
        if not counts:
            lines.append(f"  {name:8} {'running' if not finished else 'not reached'}")
            continue
        seconds = counts.pop("seconds", 0.0)
        shown = " ".join(f"{k}={v}" for k, v in counts.items())
        lines.append(f"  {name:8} {shown:32} {seconds:.2f} s")
    for name, source in summary.get("sources", {}).items():
        lines.append(f"  source {name}: {source.get('ingested', 0)} ingested, "
                     f"{source.get('quarantined', 0)} quarantined"
                     + (f" — ERROR: {source['error']}" if source.get("error") else ""))
    if summary.get("writes_stopped"):
        lines.append(f"  writes stopped: {summary['writes_stopped']}")
    lines.extend(f"  error: {e}" for e in summary.get("errors", []))
    return lines


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
