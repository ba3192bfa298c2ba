"""``report`` from the store: the backlog in each format, quarantine, calibration, status.

Nothing here calls a source or a tracker; every backlog form says when its figures hold.
"""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from impactlink.config import Settings
from impactlink.core.report import (
    ReportContext,
    impact_to_dict,
    ranked,
    to_csv,
    to_json,
    to_markdown,
)
from impactlink.errors import ConfigError
from impactlink.hints import arr_known
from impactlink.store import state
from impactlink.store.history import stored_as_of

if TYPE_CHECKING:
    from impactlink.pipeline import Pipeline


class NoTracker:
    """Stands where the tracker would be: reports read only the store."""

    kind = "none"

    def __getattr__(self, name: str) -> Any:
        raise ConfigError("report reads only the store; run `impactlink run` first")


def backlog(pipeline: Pipeline, as_of: datetime | None
            ) -> tuple[list[Any], ReportContext]:
    """Return the ranked rows and when they hold: recomputed at as_of, else as stored."""
    from impactlink.pipeline import compute_impacts

    days = pipeline.settings.impact.window_days
    if as_of is not None:
        impacts, _ = compute_impacts(pipeline, as_of)
        rows = ranked({k: impact_to_dict(v) for k, v in impacts.items()})
        with pipeline.engine.connect() as conn:
            return rows, ReportContext(as_of, days, arr_known(conn))
    with pipeline.engine.connect() as conn:
        rows = ranked(state.load_impacts(conn))
        when = stored_as_of(conn) or datetime.now(UTC).replace(microsecond=0)
        return rows, ReportContext(when, days, arr_known(conn))


def backlog_text(pipeline: Pipeline, format: str, as_of: datetime | None) -> str:
    """Return the backlog as JSON, CSV, Markdown or the HTML page."""
    rows, ctx = backlog(pipeline, as_of)
    if format == "json":
        return to_json(rows, ctx)
    if format == "csv":
        return to_csv(rows, ctx)
    if format == "markdown":
        return to_markdown(rows, ctx)
    from impactlink.report_html import html_report

    return html_report(pipeline.engine, pipeline.settings, rows, as_of)


def backlog_table(pipeline: Pipeline, as_of: datetime | None, width: int | None) -> Table | str:
    """Return the backlog's table, or a sentence when no issue has impact."""
    from impactlink.terminal import report_table

    rows, ctx = backlog(pipeline, as_of)
    if not rows:
        return (f"Customer Impact {ctx.heading()}: no issue has impact yet — run "
                f"`impactlink run` (or see `impactlink report --quarantine`)\n")
    return report_table(rows, ctx, width)


def as_text(table: Table) -> str:
    """Return a table as plain text, as a terminal of unlimited width shows it."""
    console = Console(file=io.StringIO(), width=10_000, color_system=None, highlight=False)
    with console.capture() as captured:
        console.print(table)
    return "\n".join(line.rstrip() for line in captured.get().splitlines()) + "\n"


_SCALE_TWICE = re.compile(r"the (\d+)-(\d+) scale \(\1-\2\)")


def reason(text: str) -> str:
    """Return a quarantine reason as people read it: "outside the 1–5 scale", said once.

    Reasons are stored as the source gave them, so those of older runs read right too.
    """
    return _SCALE_TWICE.sub(lambda m: f"the {m.group(1)}–{m.group(2)} scale", text)


def quarantine(pipeline: Pipeline, format: str, width: int | None) -> str | Table:
    """Return the quarantined records in any format (JSON keeps each raw record)."""
    from impactlink.terminal import quarantine_text

    with pipeline.engine.connect() as conn:
        rows = [{"source": r["source"], "location": r["location"],
                 "reason": reason(str(r["reason"])), "raw": r["raw"]}
                for r in state.quarantined(conn)]
    if format == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False)
    return quarantine_text(rows, format, width)


def calibration_text(pipeline: Pipeline, format: str, as_of: datetime | None) -> str:
    """Return how often text attribution finds the bug a customer named."""
    from impactlink import calibration
    from impactlink.explain import _stored_as_of

    if as_of is None:
        with pipeline.engine.connect() as conn:
            as_of = _stored_as_of(conn)
    rows = calibration.calibrate(pipeline, as_of)
    return calibration.render(rows, format, as_of, pipeline.settings.impact.window_days)


def status_json(settings: Settings, engine: Engine, now: datetime, limit: int) -> str:
    """Return the last runs, the next scheduled run and the writer lock as JSON."""
    from impactlink.scheduler import DEFAULT_INTERVAL_MINUTES, next_run
    from impactlink.store.lock import describe

    with engine.connect() as conn:
        runs = state.recent_runs(conn, limit)
    schedule = settings.schedule
    due = next_run(schedule, runs[0]["started_at"] if runs else None, now)
    data = {"runs": runs, "next_run": due,
            "schedule": {"cron": schedule.cron, "timezone": schedule.timezone,
                         "interval_minutes": None if schedule.cron else
                         schedule.interval_minutes or DEFAULT_INTERVAL_MINUTES},
            "writer_lock": describe(engine)}
    return json.dumps(data, indent=2, default=_json_value, ensure_ascii=False)


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return moment.isoformat().replace("+00:00", "Z")
    return str(value)
