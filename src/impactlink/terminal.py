"""Tables fitted to the terminal: the last column (a title) gives way, nothing else is split.

Rich shrinks every column of a table wider than the terminal, so issue keys, levels and
numbers would wrap mid-value; here those columns get exactly the width of their widest
value, shorter cells are offered for narrow terminals, and the title takes what remains.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from impactlink.core.redact import strip_controls
from impactlink.core.report import (
    SIGNIFICANT,
    ReportContext,
    any_significant,
    arr_text,
    csv_cell,
    md_cell,
    table_rows,
)
from impactlink.sources.base import Batch, Source

if TYPE_CHECKING:
    from impactlink.config import Settings
    from impactlink.pipeline import CycleResult, PlannedIssue

TITLE_MIN = 12
"""The least width a title column keeps before a narrower layout is tried."""
_LAYOUTS: tuple[tuple[box.Box, bool, tuple[int, int], int, int], ...] = (
    (box.HEAVY_HEAD, True, (0, 1), 3, 1), (box.SIMPLE_HEAD, False, (0, 1), 2, -2),
    (box.SIMPLE_HEAD, False, (0, 0), 1, -1))
"""Box, edges, padding, then the width the layout adds per column and once (as rich draws)."""


def cell(text: str) -> Text:
    """Return tracker or customer text as a table cell that is never read as markup."""
    return Text(strip_controls(text))


def _widths(headers: Sequence[str], rows: Sequence[Sequence[str]], *,
            header_wraps: bool) -> list[int]:
    """Return each column's width but the last: its widest value, or its header (or the
    header's longest word, when headers may wrap)."""
    return [max([cell_len(r[i]) for r in rows]
                + [max(cell_len(w) for w in (h.split() if header_wraps else [h]) or [""])])
            for i, h in enumerate(headers[:-1])]


def fit_table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int | None, *,
              compact: Sequence[Sequence[str]] | None = None, drop: Sequence[int] = (),
              title: str | None = None, caption: str | None = None,
              right: frozenset[int] = frozenset(), fold_last: bool = False) -> Table:
    """Return the table in the widest layout that fits ``width`` (None: no limit).

    Narrower terminals get ``compact`` cells, then tighter boxes, then lose the columns of
    ``drop`` in that order; the last column always gives way first.
    """
    shorter = compact if compact is not None else rows
    tiers: list[tuple[Sequence[Sequence[str]], bool, tuple[int, ...]]] = [
        (cells, wraps, ()) for cells in ((rows, compact) if compact is not None else (rows,))
        for wraps in (False, True)]
    tiers += [(shorter, True, tuple(drop[:k])) for k in range(1, len(drop) + 1)]
    for n_tier, (cells, wraps, dropped) in enumerate(tiers, 1):
        keep = [i for i in range(len(headers)) if i not in dropped]
        names = [headers[i] for i in keep]
        kept = [[row[i] for i in keep] for row in cells]
        widths = _widths(names, kept, header_wraps=wraps)
        for n_layout, (style, edge, padding, per_column, once) in enumerate(_LAYOUTS, 1):
            room = None if width is None else width - sum(widths) - per_column * len(names) - once
            tightest = n_tier == len(tiers) and n_layout == len(_LAYOUTS)
            if room is None or room >= TITLE_MIN or tightest:
                table = Table(title=title, title_justify="left", caption=caption,
                              caption_justify="left", box=style, show_edge=edge, pad_edge=edge,
                              padding=padding, collapse_padding=not edge and padding == (0, 1))
                for n, i in enumerate(keep[:-1]):
                    table.add_column(names[n], width=widths[n],
                                     justify="right" if i in right else "left")
                last = None if room is None else max(room, TITLE_MIN)
                if last is None or fold_last:
                    table.add_column(names[-1], overflow="fold", max_width=last)
                else:
                    table.add_column(names[-1], width=last, no_wrap=True, overflow="ellipsis")
                for row in kept:
                    table.add_row(*[cell(c) for c in row])
                return table
    raise AssertionError("the tightest layout is always taken")


REPORT_HEADERS = ("#", "issue", "level", "score", "csat", "affected", "arr at risk", "trend",
                  "title")


def report_table(rows: Sequence[Mapping[str, Any]], ctx: ReportContext,
                 width: int | None) -> Table:
    """Return the ranked backlog as a table that states when it holds and explains its *."""
    return fit_table(REPORT_HEADERS, table_rows(rows, arr_known=ctx.arr_known), width,
                     compact=table_rows(rows, arr_known=ctx.arr_known, compact=True),
                     drop=(7, 6, 5, 4),
                     title=f"Customer Impact {ctx.heading()}",
                     caption=SIGNIFICANT if any_significant(rows) else None,
                     right=frozenset({0, 3, 6}))


PLAN_HEADERS = ("#", "issue", "level", "score", "csat", "affected", "arr at risk", "writes",
                "title")


def plan_table(planned: Sequence[PlannedIssue], ctx: ReportContext, width: int | None) -> Table:
    """Return the plan: each issue the tracker does not hold yet, what it should show."""
    rows = []
    for n, p in enumerate(planned, 1):
        f = p.figures if p.level != "cleared" else None
        held = p.held_level
        level = f"{held} → {p.level}" if held is not None and held != p.level else p.level
        rows.append([
            str(n), p.issue, level, _show(f and f.get("score")),
            "–" if not f or f.get("csat") is None else f"{f['csat']:.1f} %",
            _show(f and f.get("affected")),
            arr_text(f.get("arr_at_risk"), ctx.arr_known) if f else "–",
            ", ".join(w.target for w in p.writes),
            str((p.figures or {}).get("title") or "")])
    writes = sum(len(p.writes) for p in planned)
    return fit_table(PLAN_HEADERS, rows, width, right=frozenset({0, 3, 4, 5, 6}),
                     drop=(7, 6, 5, 4),
                     title=f"Plan {ctx.heading()}: {len(planned)} issue(s), {writes} write(s) "
                           f"the tracker does not hold yet")


def _show(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}".removesuffix(".0")
    return f"{value:,}" if isinstance(value, int) else str(value)


def plan_lines(result: CycleResult, settings: Settings, *, show_bodies: bool) -> list[str]:
    """Return the requests a real run would send (or what to apply by hand) and the bodies."""
    planned = result.writes.planned
    by_hand = any(w.printed_only for _, w in planned)
    lines = ["", f"What to apply by hand ({len(planned)} writes; the file tracker sends "
                 f"nothing):" if by_hand else
             f"Requests a real run would send ({len(planned)} writes):"]
    sent = 0
    for issue, write in planned:
        for line in write.requests or (f"{write.target} ← {issue}",):
            lines.append(f"  {line}")
            sent += line.startswith(_WRITE_METHODS)
    budget = getattr(settings.tracker, "max_writes_per_run", None)
    if not by_hand and budget is not None and sent > budget:
        lines.append(f"  (max_writes_per_run = {budget}: a real run sends the first {budget} "
                     f"writes, the next cycles the rest)")
    if show_bodies:
        for issue, write in planned:
            body = write.content.get("body") or write.content.get("text")
            if write.target == "comment" and isinstance(body, str):
                lines += ["", f"── {issue}: the managed comment ──", strip_controls(body)]
    return lines


_WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")


def quarantine_text(rows: Sequence[Mapping[str, Any]], format: str,
                    width: int | None) -> str | Table:
    """Return the quarantined records (source, where, why) as table, CSV, Markdown or HTML."""
    if not rows:
        return "no quarantined records\n"
    cells = [[str(r["source"]), str(r["location"]), str(r["reason"])] for r in rows]
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["source", "location", "reason"])
        writer.writerows([[csv_cell(c) for c in row] for row in cells])
        return buffer.getvalue()
    if format == "markdown":
        return "\n".join(["| Source | Where | Reason |", "|---|---|---|",
                          *["| " + " | ".join(md_cell(c) for c in row) + " |" for row in cells]]
                         ) + "\n"
    if format == "html":
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                       for row in cells)
        return ("<!doctype html><meta charset=\"utf-8\"><title>Quarantined records</title>"
                "<table><thead><tr><th>Source</th><th>Where</th><th>Reason</th></tr></thead>"
                f"<tbody>{body}</tbody></table>\n")
    table = fit_table(("source", "where", "reason"), cells, width,
                      title=f"Quarantined records ({len(rows)})", fold_last=True)
    return table


@contextmanager
def ingest_progress(console: Console, factory: Callable[..., Source], *,
                    enabled: bool) -> Iterator[Callable[..., Source]]:
    """Yield a source factory whose sources advance a progress display while they are read."""
    if not enabled:
        yield factory
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"),
               TextColumn("{task.completed:,} records"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        yield lambda config, base_dir: _Progressed(factory(config, base_dir), progress)


class _Progressed:
    """A source whose batches advance its line of the progress display."""

    def __init__(self, source: Source, progress: Progress) -> None:
        self._source = source
        self._progress = progress
        self.name = source.name

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        task = self._progress.add_task(f"ingest {self.name}", total=None)
        try:
            for batch in self._source.batches(cursor):
                self._progress.advance(task, len(batch))
                yield batch
        finally:
            self._progress.update(task, visible=False)

    def check(self) -> list[str]:
        return self._source.check()

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()
