"""What `serve` exposes on its port: /healthz (JSON) and /metrics (Prometheus text format).

Metrics live in their own CollectorRegistry, never the process-wide one, so two services
(or two tests) in one process never share a counter.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    make_wsgi_app,
)

from impactlink import __version__
from impactlink.observe import HttpEvent

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from impactlink.pipeline import CycleResult
    from impactlink.trackers.base import Write

Clock = Callable[[], float]
_DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, float("inf"))
STATUSES = ("ok", "partial", "stopped", "failed", "skipped")
"""How a cycle can end (the ``status`` label of impactlink_cycles_total)."""
LEVEL_VALUES = ("critical", "high", "medium", "low", "none")


class Metrics:
    """The counters of one service."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        # process_* (CPU, memory, open files) and python_info, as every exporter serves them.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        Info("impactlink_build", "The running version.", registry=r).info(
            {"version": __version__})
        self.cycles = Counter("impactlink_cycles", "Cycles by how they ended: ok, partial, "
                              "stopped, failed, skipped (another replica held the lock).",
                              ["status"], registry=r)
        self.duration = Histogram("impactlink_cycle_duration_seconds",
                                  "How long the cycles that ran took.",
                                  buckets=_DURATION_BUCKETS, registry=r)
        self.running = Gauge("impactlink_cycle_running", "1 while a cycle runs.", registry=r)
        self.ingested = Counter("impactlink_records_ingested", "Records stored, per source.",
                                ["source"], registry=r)
        self.quarantined = Counter("impactlink_records_quarantined",
                                   "Records rejected into quarantine, per source.",
                                   ["source"], registry=r)
        self.source_errors = Counter("impactlink_source_errors",
                                     "Cycles in which a source failed.", ["source"], registry=r)
        self.matched = Gauge("impactlink_issues_matched",
                             "Issues with customer impact after the last cycle.", registry=r)
        self.writes = Counter("impactlink_writes", "Writes that landed, per tracker and target.",
                              ["tracker", "target"], registry=r)
        self.write_failures = Counter("impactlink_write_failures", "Writes that failed.",
                                      ["tracker"], registry=r)
        self.requests = Counter("impactlink_api_requests",
                                "Requests to source and tracker APIs, by HTTP status ('error': "
                                "no answer).",
                                ["source", "code"], registry=r)
        self.waits = Counter("impactlink_api_waits", "Waits before a retry; reason rate_limit "
                             "(HTTP 429) or retry (5xx, transport error).",
                             ["source", "reason"], registry=r)
        self.wait_seconds = Counter("impactlink_api_wait_seconds",
                                    "Seconds spent waiting before retries.", ["source"],
                                    registry=r)
        self.last_success = Gauge("impactlink_last_success_timestamp_seconds",
                                  "When the last cycle that ran to its end (ok or partial) "
                                  "finished, in Unix time.", registry=r)
        self.source_success = Gauge("impactlink_source_last_success_timestamp_seconds",
                                    "When the source last ran without error, in Unix time "
                                    "(0: not yet in this process).", ["source"], registry=r)
        self.levels = Gauge("impactlink_issues", "Issues with customer impact after the last "
                            "cycle, by level.", ["level"], registry=r)
        for status in STATUSES:
            self.cycles.labels(status)
        for level in LEVEL_VALUES:
            self.levels.labels(level)

    def prepare(self, sources: Iterable[str], tracker: str) -> None:
        """Create every series of the configured sources and tracker at 0.

        NOTE: a labelled series is absent until first touched, and rate() or increase() over
        an absent series is empty rather than 0, so alerts on the first failure never fire
        (https://prometheus.io/docs/practices/instrumentation/#avoid-missing-metrics).
        """
        for name in sources:
            for counter in (self.ingested, self.quarantined, self.source_errors):
                counter.labels(name)
            self.source_success.labels(name)
        self.write_failures.labels(tracker)

    def observe_cycle(self, result: CycleResult, status: str, seconds: float,
                      tracker: str) -> None:
        """Count one cycle that ran, with what it did."""
        self.cycles.labels(status).inc()
        self.duration.observe(seconds)
        finished = time.time()
        for name, source in result.sources.items():
            self.ingested.labels(name).inc(source.ingested)
            self.quarantined.labels(name).inc(source.quarantined)
            if source.error:
                self.source_errors.labels(name).inc()
            else:
                self.source_success.labels(name).set(finished)
        if status != "stopped":  # a stopped cycle may end before it computed anything
            self.matched.set(result.matched)
            self.count_levels(result.impacts)
        if result.writes.failed:
            self.write_failures.labels(tracker).inc(len(result.writes.failed))

    def count_levels(self, impacts: Mapping[str, Mapping[str, Any]]) -> None:
        """Set the issues-by-level gauge from a cycle's figures."""
        counts = dict.fromkeys(LEVEL_VALUES, 0)
        for figures in impacts.values():
            level = str(figures.get("level", "none"))
            counts[level] = counts.get(level, 0) + 1
        for level, n in counts.items():
            self.levels.labels(level).set(n)

    def write_counter(self, tracker: str) -> Callable[[str, Write], None]:
        """Return the on_write hook that counts landed writes per target."""
        def count(_issue: str, write: Write) -> None:
            self.writes.labels(tracker, write.target).inc()

        return count

    def on_http(self, event: HttpEvent) -> None:
        """Count a source request or a wait (an observer of sources.http)."""
        if event.kind == "request":
            code = str(event.status) if event.status is not None else "error"
            self.requests.labels(event.source, code).inc()
        else:
            reason = "rate_limit" if event.rate_limited else "retry"
            self.waits.labels(event.source, reason).inc()
            self.wait_seconds.labels(event.source).inc(event.seconds)


@dataclass
class Health:
    """Whether cycles keep completing: what /healthz answers."""

    healthy_within: float
    """Seconds: a last success older than this is unhealthy."""
    started: float = field(default_factory=time.time)
    last_success: float | None = None
    last_success_by: str = "this replica"
    last_status: str | None = None
    next_run: datetime | None = None
    running: bool = False
    clock: Clock = time.time

    def succeeded(self, at: float, by: str = "this replica") -> None:
        """Note a cycle that ran to its end (here, or on the replica holding the lock)."""
        if self.last_success is None or at > self.last_success:
            self.last_success, self.last_success_by = at, by

    def report(self) -> tuple[bool, dict[str, Any]]:
        """Return (healthy, the JSON body)."""
        now = self.clock()
        body: dict[str, Any] = {
            "version": __version__, "running": self.running, "last_status": self.last_status,
            "healthy_within_seconds": self.healthy_within,
            "next_run": self.next_run.astimezone(UTC).isoformat() if self.next_run else None,
            "last_success": None, "last_success_age_seconds": None,
        }
        if self.last_success is None:
            healthy = now - self.started <= self.healthy_within
            body["status"] = "starting" if healthy else "no successful cycle yet"
        else:
            age = now - self.last_success
            healthy = age <= self.healthy_within
            body["status"] = "ok" if healthy else "stale"
            body["last_success"] = datetime.fromtimestamp(self.last_success, UTC).isoformat()
            body["last_success_age_seconds"] = round(age, 1)
            body["last_success_by"] = self.last_success_by
        return healthy, body


def wsgi_app(metrics: Metrics, health: Health) -> Callable[..., Iterable[bytes]]:
    """Return the WSGI app serving /healthz and /metrics."""
    prometheus = make_wsgi_app(metrics.registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            healthy, body = health.report()
            payload = json.dumps(body).encode()
            start_response("200 OK" if healthy else "503 Service Unavailable",
                           [("Content-Type", "application/json"),
                            ("Content-Length", str(len(payload)))])
            return [payload]
        if path == "/metrics":
            return prometheus(environ, start_response)  # type: ignore[no-any-return]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /healthz or /metrics\n"]

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No access log: probes every few seconds would drown the cycle logs."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class StatusServer:
    """/healthz and /metrics on a port, served from a daemon thread."""

    def __init__(self, metrics: Metrics, health: Health, host: str, port: int) -> None:
        self._server = make_server(host, port, wsgi_app(metrics, health),
                                   server_class=_ThreadingServer, handler_class=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="status-server", daemon=True)

    def start(self) -> StatusServer:
        """Start serving; return self."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
