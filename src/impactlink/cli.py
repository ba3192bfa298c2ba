"""The edge: parse arguments, build Settings and the pipeline, print, and exit with a code.

Exit codes: 0 ok; 1 a step failed (the others ran); 2 bad configuration or usage.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TextIO, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from typer.core import TyperCommand, TyperGroup

from impactlink import __version__
from impactlink.config import Settings, load_settings
from impactlink.core.redact import strip_controls
from impactlink.core.report import ReportContext
from impactlink.errors import ConfigError, ImpactlinkError
from impactlink.explain import explain_issue
from impactlink.logs import MaskedStream
from impactlink.pipeline import CycleResult, Pipeline
from impactlink.registry import build_source
from impactlink.sources.base import Source
from impactlink.store.engine import current_revision, head_revision, open_store, upgrade


def _as_flags(params: list[Any]) -> list[Any]:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # NOTE: recent Typer shows a flag's type, "<bool>", in help
    return params


class _Command(TyperCommand):
    """A command whose on/off options read as flags in its help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _as_flags(super().get_params(ctx))


class _Group(TyperGroup):
    """A command group whose on/off options read as flags in its help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _as_flags(super().get_params(ctx))


app = typer.Typer(help="Link what customers feel to the bugs engineers fix.", cls=_Group,
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Manage the store.", cls=_Group, no_args_is_help=True)
app.add_typer(db_app, name="db")
# Piped output (CI logs, files) gets a width that fits the tables instead of 80 columns.
# Both consoles mask registered secrets, as the logs do (the streams are looked up late).
stdout = MaskedStream(lambda: sys.stdout)
out = Console(file=cast(TextIO, stdout), highlight=False,
              width=None if sys.stdout.isatty() else 160)
# An error is one line however long: soft wrap leaves the breaking to the terminal.
err = Console(file=cast(TextIO, MaskedStream(lambda: sys.stderr)), highlight=False,
              soft_wrap=True)


def _verbose(value: bool) -> bool:
    if value:
        from impactlink.logs import setup_logging

        setup_logging(logging.INFO)
    return value


def _version(value: bool) -> None:
    if value:
        out.print(f"impactlink {__version__}", markup=False)
        raise typer.Exit(0)


ConfigOption = Annotated[Path, typer.Option(
    "--config", "-c", envvar="IMPACTLINK_CONFIG", help="The TOML configuration file.",
    show_default=False, metavar="FILE")]
AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", metavar="TIME",
    help="Compute as of this time (ISO 8601; no zone means UTC). Default: now.")]
VerboseOption = Annotated[bool, typer.Option(
    "--verbose", "-v", callback=_verbose,
    help="Log each step (JSON lines when stderr is not a terminal).")]


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
    verbose: VerboseOption = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
    """Link what customers feel (CSAT, tickets) to the bugs engineers fix."""
    from impactlink.logs import setup_logging

    setup_logging(logging.INFO if verbose else logging.WARNING)


@app.command(cls=_Command)
def run(config: ConfigOption,
        dry_run: Annotated[bool, typer.Option("--dry-run", help=(
            "Ingest and compute, then print the plan instead of writing to the tracker."))] = False,
        show_bodies: Annotated[bool, typer.Option("--show-bodies", help=(
            "With --dry-run: print each planned comment as it would be written."))] = False,
        as_of: AsOfOption = None,
        verbose: VerboseOption = False) -> None:
    """Run one cycle: ingest sources, sync issues, match, compute, write back."""
    from impactlink.hints import arr_known, cycle_hints
    from impactlink.scheduler import stop_on_signals

    stop = threading.Event()
    try:
        settings = _settings(config)
        moment = parse_time(as_of)
        printed = dry_run or settings.tracker.type == "file"
        if show_bodies and not printed:
            raise ConfigError("--show-bodies goes with --dry-run (it prints the planned comments)")
        pipeline = _pipeline(settings)
        with stop_on_signals(stop), ingest_progress() as factory:
            result = pipeline.run(moment, dry_run=dry_run, should_stop=stop.is_set,
                                  source_factory=factory)
        hints = cycle_hints(pipeline, result)
        with pipeline.engine.connect() as conn:
            arr = arr_known(conn)
    except ImpactlinkError as exc:
        raise fail(exc) from None
    except SQLAlchemyError as exc:
        raise store_failed(exc) from None
    if printed:
        print_plan(result, settings, show_bodies=show_bodies, arr_known=arr)
    print_summary(result, planned_only=printed)
    for hint in hints:
        err.print(f"hint: {hint}", markup=False)
    if result.stopped:
        err.print("stopped before the end (signal); the next run resumes", markup=False)
    raise typer.Exit(0 if result.ok and not result.stopped else 1)


def ingest_progress() -> AbstractContextManager[Callable[..., Source]]:
    """Return where sources come from: with a progress display on a terminal, else plainly.

    Quiet when stderr is not a terminal, where the logs are JSON lines.
    """
    from impactlink.terminal import ingest_progress as progress

    # With -v the step logs go to the same terminal: they say what the bar would.
    shown = sys.stderr.isatty() and logging.getLogger().level > logging.INFO
    return progress(err, build_source, enabled=shown)


def _width() -> int | None:
    """Return the width the tables fit: the terminal's, $COLUMNS, else 160 (piped)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return out.width if sys.stdout.isatty() else 160


def print_plan(result: CycleResult, settings: Settings, *, show_bodies: bool,
               arr_known: bool = True) -> None:
    """Print each issue the tracker does not hold yet, ranked by score, and its requests."""
    from impactlink.terminal import plan_lines, plan_table

    ctx = ReportContext(result.as_of, settings.impact.window_days, arr_known)
    planned = result.plan()
    if not planned:
        out.print(f"Plan {ctx.heading()}: nothing to write — the tracker already holds "
                  f"every issue's impact.", markup=False)
        return
    out.print(plan_table(planned, ctx, _width()), width=_width())
    for line in plan_lines(result, settings, show_bodies=show_bodies):
        out.print(line, markup=False, highlight=False, soft_wrap=True)


def print_summary(result: CycleResult, *, planned_only: bool) -> None:
    """Print the counts per source, matched issues, changes and writes."""
    out.print("\nSummary")
    for name, r in result.sources.items():
        line = f"  source {name}: {r.ingested} ingested, {r.quarantined} quarantined"
        if r.repaired:
            line += f", {r.repaired} repaired"
        if r.deleted:
            line += f", {r.deleted} deleted"
        out.print(line + (f" — ERROR: {r.error}" if r.error else ""), markup=False)
    writes = result.writes
    out.print(f"  issues: {result.issues} synced, {result.matched} with impact, "
              f"{len(result.changed())} changed since the last run, {len(result.plan())} "
              f"to write", markup=False)
    verb = "planned" if planned_only else "written"
    count = len(writes.planned) if planned_only else writes.written
    out.print(f"  writes: {count} {verb}, {writes.skipped} unchanged, {len(writes.failed)} failed"
              + (f" — stopped: {writes.stopped}" if writes.stopped else ""), markup=False)
    for error in result.errors:
        err.print(f"error: {error}", markup=False)


@app.command(cls=_Command)
def report(config: ConfigOption,
           format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
           output: Annotated[Path | None, typer.Option(
               "--output", "-o", metavar="PATH", help="Write here, not stdout.")] = None,
           as_of: AsOfOption = None,
           explain: Annotated[str | None, typer.Option(
               "--explain", metavar="ISSUE",
               help="Print every input behind one issue's figures (acme/shop#12, #12, 12, "
                    "SHOP-12 or its URL).")] = None,
           quarantine: Annotated[bool, typer.Option(
               "--quarantine",
               help="List rejected records with where and why.")] = False,
           calibration: Annotated[bool, typer.Option(
               "--calibration",
               help="How often text attribution finds the bug a customer named.")] = False,
           verbose: VerboseOption = False,
           ) -> None:
    """Print the ranked backlog from what is stored (no source or tracker is called)."""
    from impactlink import reports

    try:
        if output is not None and output.is_dir():
            raise ConfigError(f"--output {output}: is a directory; give a file path")
        settings = _settings(config)
        pipeline = _pipeline(settings, tracker=reports.NoTracker())
        width = None if output else _width()
        when = parse_time(as_of) if as_of else None
        shown: str | Table
        if calibration:
            shown = reports.calibration_text(pipeline, format.value, when)
        elif quarantine:
            shown = reports.quarantine(pipeline, format.value, width)
        elif explain:
            shown = explain_issue(pipeline, explain, when, format)
        elif format is Format.table:
            shown = reports.backlog_table(pipeline, when, width)
        else:
            shown = reports.backlog_text(pipeline, format.value, when)
        if output is not None:
            _write_output(output, reports.as_text(shown) if isinstance(shown, Table) else shown)
    except ImpactlinkError as exc:
        raise fail(exc) from None
    except SQLAlchemyError as exc:
        raise store_failed(exc) from None
    if output is not None:
        err.print(f"wrote {escape(str(output))}")
    elif isinstance(shown, Table):
        out.print(shown, width=width)
    else:
        # Customer and tracker text reach a terminal here: no escape sequence gets through.
        text = strip_controls(shown)
        stdout.write(text if text.endswith("\n") else text + "\n")


def _write_output(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--output {path}: cannot write it: {exc.strerror or exc}") from None


@app.command(cls=_Command)
def check(config: ConfigOption, verbose: VerboseOption = False) -> None:
    """Validate the configuration, credentials and access; print each problem with its fix."""
    from impactlink.checks import run_checks

    try:
        settings = _settings(config)
    except ConfigError as exc:
        raise fail(exc) from None
    report = run_checks(settings)
    for problem in report.problems:
        err.print(f"[red]problem:[/red] {escape(strip_controls(problem))}")
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(strip_controls(warning))}")
    if report.problems:
        raise typer.Exit(2)
    for line in report.checked:
        out.print(f"  ok  {line}", markup=False)
    out.print(f"{config}: configuration OK", markup=False)


@app.command(cls=_Command)
def backfill(config: ConfigOption,
             source: Annotated[str, typer.Option("--source", metavar="NAME",
                                                 help=escape("The [[sources]] name."))],
             since: Annotated[str, typer.Option(
                 "--since", metavar="DATE",
                 help="Read everything updated since this date (ISO 8601).")],
             verbose: VerboseOption = False) -> None:
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


@app.command(cls=_Command)
def serve(config: ConfigOption,
          metrics_port: Annotated[int | None, typer.Option(
              "--metrics-port", min=0, max=65535, envvar="IMPACTLINK_METRICS_PORT",
              metavar="PORT", help="Serve /healthz and /metrics on this port.")] = None,
          metrics_host: Annotated[str, typer.Option(
              "--metrics-host", metavar="HOST",
              help="The address the metrics port listens on.")] = "0.0.0.0",
          verbose: VerboseOption = False,
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


class StatusFormat(StrEnum):
    table = "table"
    json = "json"


@app.command(cls=_Command)
def status(config: ConfigOption,
           limit: Annotated[int, typer.Option("--limit", "-n", min=1, metavar="N",
                                              help="How many runs to show.")] = 5,
           format: Annotated[StatusFormat, typer.Option("--format", "-f")] = StatusFormat.table,
           verbose: VerboseOption = False) -> None:
    """Print the last runs with each step's counts, the next scheduled run and the lock."""
    from impactlink.scheduler import status_lines

    try:
        settings = _settings(config)
        engine = open_store(settings.store, settings.base_dir)
        upgrade(engine)
        now = datetime.now(UTC)
        if format is StatusFormat.json:
            from impactlink.reports import status_json

            stdout.write(status_json(settings, engine, now, limit) + "\n")
            return
        lines = status_lines(settings, engine, now, limit)
    except ImpactlinkError as exc:
        raise fail(exc) from None
    except SQLAlchemyError as exc:
        raise store_failed(exc) from None
    for line in lines:
        out.print(line, markup=False, highlight=False)


@db_app.command("upgrade", cls=_Command)
def db_upgrade(config: ConfigOption, verbose: VerboseOption = False) -> None:
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
              + ("migrations applied" if applied else "already up to date"), markup=False)


def main() -> None:
    """Run the command line."""
    app()
