"""``impactlink backfill``: re-read one HTTP source from a date, with a progress bar."""

from __future__ import annotations

from datetime import datetime

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from impactlink.config import FileSourceConfig, Settings
from impactlink.errors import ConfigError, SourceError
from impactlink.pipeline import Pipeline, SourceResult
from impactlink.registry import build_source
from impactlink.store import records
from impactlink.store.lock import writer_lock


def run_backfill(settings: Settings, name: str, since: datetime, console: Console) -> SourceResult:
    """Read a source from ``since`` into the store; its cursor then continues from the end."""
    config = settings.source(name)
    if isinstance(config, FileSourceConfig):
        raise ConfigError(f"source {name!r} is a file: files are read whole when they change, "
                          "so there is nothing to backfill — edit or touch the file instead")
    source = build_source(config, settings.base_dir)
    start = getattr(source, "start_cursor", None)
    if start is None:
        raise ConfigError(f"source {name!r} cannot start from a date")
    pipeline = Pipeline(settings)
    counts = SourceResult()
    # The writer lock keeps a backfill and a scheduled cycle from saving one cursor at once.
    lock = writer_lock(pipeline.engine, ttl_seconds=settings.schedule.lock_ttl_seconds)
    columns = (SpinnerColumn(), TextColumn("[bold]{task.description}"),
               TextColumn("{task.completed:,} records, {task.fields[pages]} pages"),
               TimeElapsedColumn())
    with lock, Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(f"backfill {name} since {since:%Y-%m-%d}", total=None, pages=0)
        try:
            for page, batch in enumerate(source.batches(start(since)), 1):
                records.save_batch(pipeline.engine, name, batch, pipeline.keyer)
                counts.ingested += len(batch)
                counts.quarantined += len(batch.rejected)
                counts.deleted += len(batch.deleted_tickets)
                progress.update(task, advance=len(batch), pages=page)
        except SourceError as exc:
            counts.error = f"{exc} — what was read is kept; rerun to continue"
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
    return counts
