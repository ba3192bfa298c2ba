"""The edge: parse arguments, build Settings and the pipeline, print, and exit with a code.

Exit codes: 0 ok; 1 a step failed (the others ran); 2 bad configuration or usage.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from impactlink import __version__
from impactlink.config import Settings, load_settings
from impactlink.core.redact import strip_controls
from impactlink.core.report import TABLE_COLUMNS, ranked, table_rows, to_csv, to_json, to_markdown
from impactlink.errors import ConfigError, ImpactlinkError
from impactlink.explain import explain_issue
from impactlink.logs import MaskedStream
from impactlink.pipeline import CycleResult, Pipeline
from impactlink.store import state
from impactlink.store.engine import current_revision, head_revision, open_store, upgrade

app = typer.Typer(help="Link what customers feel to the bugs engineers fix.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Manage the store.", no_args_is_help=True)
app.add_typer(db_app, name="db")
# Piped output (CI logs, files) gets a width that fits the tables instead of 80 columns.
# Both consoles mask registered secrets, as the logs do (the streams are looked up late).
stdout = MaskedStream(lambda: sys.stdout)
out = Console(file=cast(TextIO, stdout), highlight=False,
              width=None if sys.stdout.isatty() else 160)
# An error is one line however long: soft wrap leaves the breaking to the terminal.
err = Console(file=cast(TextIO, MaskedStream(lambda: sys.stderr)), highlight=False,
              soft_wrap=True)

ConfigOption = Annotated[Path, typer.Option(
    "--config", "-c", envvar="IMPACTLINK_CONFIG", help="The TOML configuration file.",
    show_default=False)]
AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="Compute as of this time (ISO 8601; no zone means UTC). Default: now.")]


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"
    html = "html"


def parse_time(value: str | None) -> datetime:
    """Return an aware UTC time from ISO 8601 (no zone means UTC), or now."""
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        moment = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ConfigError(f"{value!r} is not an ISO 8601 time within years 1–9999 "
                          f"(e.g. 2026-06-30 or 2026-06-30T12:00:00Z)") from None
    # Two windows of up to ten years reach back from it (the trend); a day goes forward.
    if not _EARLIEST <= moment <= _LATEST:
        raise ConfigError(f"{value!r} is out of range: give a time between "
                          f"{_EARLIEST:%Y-%m-%d} and {_LATEST:%Y-%m-%d}")
    return moment


_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 12, 31, tzinfo=UTC) - timedelta(days=1)


def fail(exc: ImpactlinkError) -> typer.Exit:
    """Print an error with what to fix, and return the exit to raise."""
    if isinstance(exc, ConfigError):
        for problem in exc.problems:
            err.print(f"[red]error:[/red] {escape(strip_controls(problem))}", highlight=False)
        return typer.Exit(2)
    err.print(f"[red]error:[/red] {escape(strip_controls(str(exc)))}")
    return typer.Exit(1)


def store_failed(exc: SQLAlchemyError) -> typer.Exit:
    """Print a store error (its message carries no customer data) and return exit 1."""
    err.print(f"[red]error:[/red] the store failed: {escape(strip_controls(str(exc)))}")
    return typer.Exit(1)


def _settings(config: Path) -> Settings:
    return load_settings(config)


def _pipeline(settings: Settings, **kwargs: Any) -> Pipeline:
    """Return the pipeline on the configured store (its password merged in, if any)."""
    return Pipeline(settings, engine=open_store(settings.store, settings.base_dir), **kwargs)


@app.callback()
def main_callback(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    """Link what customers feel (CSAT, tickets) to the bugs engineers fix."""
    if version:
        out.print(f"impactlink {__version__}")
        raise typer.Exit(0)
    from impactlink.logs import setup_logging

    setup_logging(logging.INFO if verbose else logging.WARNING)


@app.command()
def run(config: ConfigOption,
        dry_run: Annotated[bool, typer.Option("--dry-run", help=(
            "Ingest and compute, then print the plan instead of writing to the tracker."))] = False,
        as_of: AsOfOption = None) -> None:
    """Run one cycle: ingest sources, sync issues, match, compute, write back."""
    from impactlink.scheduler import stop_on_signals

    stop = threading.Event()
    try:
        settings = _settings(config)
        moment = parse_time(as_of)
        with stop_on_signals(stop):
            result = _pipeline(settings).run(moment, dry_run=dry_run, should_stop=stop.is_set)
    except ImpactlinkError as exc:
        raise fail(exc) from None
    except SQLAlchemyError as exc:
        raise store_failed(exc) from None
    print_plan(result, show=dry_run or settings.tracker.type == "file")
    print_summary(result)
    if result.stopped:
        err.print("stopped before the end (signal); the next run resumes", markup=False)
    raise typer.Exit(0 if result.ok and not result.stopped else 1)


def print_plan(result: CycleResult, *, show: bool) -> None:
    """Print each issue whose impact changes, ranked by score: before → after."""
    if not show:
        return
    changes = result.changed()
    table = Table(title=f"Plan as of {result.as_of:%Y-%m-%d %H:%M} UTC — {len(changes)} "
                        f"issue(s) change", title_justify="left")
    for name in ("#", "issue", "level", "score", "csat", "affected", "arr at risk", "title"):
        table.add_column(name, overflow="fold")
    for n, (key, before, after) in enumerate(changes, 1):
        b, a = before or {}, after or {}
        table.add_row(str(n), _cell(key), _arrow(b.get("level"), a.get("level", "cleared")),
                      _arrow(b.get("score"), a.get("score", 0)),
                      _arrow(b.get("csat"), a.get("csat")),
                      _arrow(b.get("affected"), a.get("affected", 0)),
                      _arrow(b.get("arr_at_risk"), a.get("arr_at_risk", 0)),
                      _cell(_short(str(a.get("title") or b.get("title") or ""))))
    out.print(table)
    if result.writes.planned:
        out.print(f"\nRequests a real run would send ({len(result.writes.planned)} writes):")
        for issue, write in result.writes.planned:
            for line in write.requests or (f"{write.target} ← {issue}",):
                out.print(f"  {line}", markup=False)


def _show(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}".removesuffix(".0")
    return str(value)


def _arrow(before: Any, after: Any) -> str:
    return _show(after) if before == after else f"{_show(before)} → {_show(after)}"


def _cell(text: str) -> Text:
    """Return tracker or customer text as a table cell that is never read as markup."""
    return Text(strip_controls(text))


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def print_summary(result: CycleResult) -> None:
    """Print the counts per source, matched issues, changes and writes."""
    out.print("\nSummary")
    for name, r in result.sources.items():
        line = f"  source {name}: {r.ingested} ingested, {r.quarantined} quarantined"
        if r.deleted:
            line += f", {r.deleted} deleted"
        out.print(line + (f" — ERROR: {r.error}" if r.error else ""), markup=False)
    writes = result.writes
    out.print(f"  issues: {result.issues} synced, {result.matched} with impact, "
              f"{len(result.changed())} changed", markup=False)
    verb = "planned" if result.dry_run else "written"
    count = len(writes.planned) if result.dry_run else writes.written
    out.print(f"  writes: {count} {verb}, {writes.skipped} unchanged, {len(writes.failed)} failed"
              + (f" — stopped: {writes.stopped}" if writes.stopped else ""), markup=False)
    for error in result.errors:
        err.print(f"error: {error}", markup=False)


@app.command()
def report(config: ConfigOption,
           format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
           output: Annotated[Path | None, typer.Option("--output", "-o",
                                                       help="Write here, not stdout.")] = None,
           as_of: AsOfOption = None,
           explain: Annotated[str | None, typer.Option(
               "--explain", help="Print every input behind one issue's figures.")] = None,
           quarantine: Annotated[bool, typer.Option(
               "--quarantine", help="List rejected records with where and why.")] = False,
           calibration: Annotated[bool, typer.Option(
               "--calibration",
               help="How often text attribution finds the bug a customer named.")] = False
           ) -> None:
    """Print the ranked backlog from what is stored (no source or tracker is called)."""
    try:
        if output is not None and output.is_dir():
            raise ConfigError(f"--output {output}: is a directory; give a file path")
        settings = _settings(config)
        pipeline = _pipeline(settings, tracker=_NoTracker())
        if calibration:
            text = _calibration_text(pipeline, format, as_of)
        elif quarantine:
            text = _quarantine_text(pipeline, format)
        elif explain:
            text = explain_issue(pipeline, explain, parse_time(as_of) if as_of else None, format)
        else:
            text = _report_text(pipeline, format, as_of)
        if output is not None:
            _write_output(output, text)
    except ImpactlinkError as exc:
        raise fail(exc) from None
    except SQLAlchemyError as exc:
        raise store_failed(exc) from None
    if output is not None:
        err.print(f"wrote {escape(str(output))}")
    elif format is Format.table and not explain and not quarantine and not calibration:
        _print_table(text)
    else:
        # Customer and tracker text reach a terminal here: no escape sequence gets through.
        text = strip_controls(text)
        stdout.write(text if text.endswith("\n") else text + "\n")


def _calibration_text(pipeline: Pipeline, format: Format, as_of: str | None) -> str:
    from impactlink import calibration

    when = parse_time(as_of) if as_of else _last_as_of(pipeline)
    rows = calibration.calibrate(pipeline, when)
    return calibration.render(rows, format.value, when, pipeline.settings.impact.window_days)


def _last_as_of(pipeline: Pipeline) -> datetime:
    from impactlink.explain import _stored_as_of

    with pipeline.engine.connect() as conn:
        return _stored_as_of(conn)


def _write_output(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--output {path}: cannot write it: {exc.strerror or exc}") from None


class _NoTracker:
    """Stands where the tracker would be: reports read only the store."""

    kind = "none"

    def __getattr__(self, name: str) -> Any:
        raise ConfigError("report reads only the store; run `impactlink run` first")


def _report_rows(pipeline: Pipeline, as_of: str | None) -> list[Any]:
    if as_of:
        from impactlink.core.report import impact_to_dict
        from impactlink.pipeline import compute_impacts

        impacts, _ = compute_impacts(pipeline, parse_time(as_of))
        return ranked({k: impact_to_dict(v) for k, v in impacts.items()})
    with pipeline.engine.connect() as conn:
        return ranked(state.load_impacts(conn))


def _report_text(pipeline: Pipeline, format: Format, as_of: str | None) -> str:
    rows = _report_rows(pipeline, as_of)
    if format is Format.json:
        return to_json(rows)
    if format is Format.csv:
        return to_csv(rows)
    if format is Format.markdown:
        return to_markdown(rows)
    if format is Format.html:
        from impactlink.report_html import html_report

        return html_report(pipeline.engine, pipeline.settings, rows,
                           parse_time(as_of) if as_of else None)
    return json.dumps(table_rows(rows))


def _print_table(cells_json: str) -> None:
    table = Table(title="Customer Impact", title_justify="left")
    for name in TABLE_COLUMNS:
        table.add_column(name.replace("_", " "), overflow="fold")
    for cells in json.loads(cells_json):
        table.add_row(*[_cell(c) for c in cells])
    out.print(table)


def _quarantine_text(pipeline: Pipeline, format: Format) -> str:
    with pipeline.engine.connect() as conn:
        rows = state.quarantined(conn)
    if format is Format.json:
        return json.dumps([{k: r[k] for k in ("source", "location", "reason", "raw")}
                           for r in rows], indent=2, ensure_ascii=False)
    lines = [f"{r['source']}  {r['location']}  {r['reason']}" for r in rows]
    return "\n".join(lines or ["no quarantined records"]) + "\n"


@app.command()
def check(config: ConfigOption) -> None:
    """Validate the configuration, credentials and access; print each problem with its fix."""
    from impactlink.checks import run_checks

    try:
        settings = _settings(config)
    except ConfigError as exc:
        raise fail(exc) from None
    problems = run_checks(settings)
    for problem in problems:
        err.print(f"[red]problem:[/red] {escape(strip_controls(problem))}")
    if problems:
        raise typer.Exit(2)
    out.print(f"{config}: configuration OK", markup=False)


@app.command()
def backfill(config: ConfigOption,
             source: Annotated[str, typer.Option("--source", help="The [[sources]] name.")],
             since: Annotated[str, typer.Option(
                 "--since", help="Read everything updated since this date (ISO 8601).")]) -> None:
    """Re-read one HTTP source from a date, then go on incrementally from where it ends."""
    from impactlink.backfill import run_backfill

    try:
        settings = _settings(config)
        counts = run_backfill(settings, source, parse_time(since), err)
    except ImpactlinkError as exc:
        raise fail(exc) from None
    except SQLAlchemyError as exc:
        raise store_failed(exc) from None
    out.print(f"backfill {source}: {counts.ingested} ingested, {counts.quarantined} quarantined"
              + (f", {counts.deleted} deleted" if counts.deleted else ""), markup=False)
    if counts.error:
        err.print(f"error: {counts.error}", markup=False)
        raise typer.Exit(1)


@app.command()
def serve(config: ConfigOption,
          metrics_port: Annotated[int | None, typer.Option(
              "--metrics-port", min=0, max=65535, envvar="IMPACTLINK_METRICS_PORT",
              help="Serve /healthz and /metrics on this port.")] = None,
          metrics_host: Annotated[str, typer.Option(
              "--metrics-host", help="The address the metrics port listens on.")] = "0.0.0.0",
          ) -> None:
    """Run cycles on the configured schedule, one at a time, until SIGTERM or SIGINT."""
    from impactlink.scheduler import Service, stop_on_signals
    from impactlink.scheduler import serve as serve_cycles

    root = logging.getLogger()
    root.setLevel(min(root.level, logging.INFO))
    try:
        settings = _settings(config)
        service = Service(settings, engine=open_store(settings.store, settings.base_dir))
        Pipeline(settings, engine=service.engine)  # migrate and check the catalog up front
    except ImpactlinkError as exc:
        raise fail(exc) from None
    except SQLAlchemyError as exc:
        raise store_failed(exc) from None
    with stop_on_signals(service.stop):
        try:
            stopped = serve_cycles(service, metrics_port=metrics_port, metrics_host=metrics_host)
        except OSError as exc:
            err.print(f"error: cannot listen on {metrics_host}:{metrics_port}: {exc.strerror}; "
                      f"choose another --metrics-port", markup=False)
            raise typer.Exit(2) from None
    if not stopped:
        # The cycle's thread is stuck past stop_timeout_seconds: leave without joining it.
        logging.shutdown()
        os._exit(1)
    raise typer.Exit(0)


@app.command()
def status(config: ConfigOption,
           limit: Annotated[int, typer.Option("--limit", "-n", min=1,
                                              help="How many runs to show.")] = 5) -> None:
    """Print the last runs with each step's counts, the next scheduled run and the lock."""
    from impactlink.scheduler import status_lines

    try:
        settings = _settings(config)
        engine = open_store(settings.store, settings.base_dir)
        upgrade(engine)
        lines = status_lines(settings, engine, datetime.now(UTC), limit)
    except ImpactlinkError as exc:
        raise fail(exc) from None
    except SQLAlchemyError as exc:
        raise store_failed(exc) from None
    for line in lines:
        out.print(line, markup=False, highlight=False)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption) -> None:
    """Apply the store's pending migrations (a second call does nothing)."""
    try:
        settings = _settings(config)
        engine = open_store(settings.store, settings.base_dir)
        applied = upgrade(engine)
        revision = current_revision(engine)
    except ImpactlinkError as exc:
        raise fail(exc) from None
    except SQLAlchemyError as exc:
        raise store_failed(exc) from None
    out.print(f"store at revision {revision} (head {head_revision(engine)}); "
              + ("migrations applied" if applied else "already up to date"))


def main() -> None:
    """Run the command line."""
    app()
