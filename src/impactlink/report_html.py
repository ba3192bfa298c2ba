"""``report --format html``: one self-contained page for a CSAT review meeting.

The page inlines its stylesheet, script, data and charts (SVG from html.charts), so it opens
from a file or an e-mail attachment with no network. The backlog travels as one JSON island
that the script renders a page at a time, sortable and filterable; that keeps 5,000 issues
within a few MB. Text reaches the page escaped: by ``html.escape`` here, as JSON with ``<``,
``>`` and ``&`` escaped inside the script element, and by ``textContent`` in the script.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from impactlink import __version__
from impactlink.html import charts
from impactlink.html.rows import ROW_FIELDS, row_data
from impactlink.store import history

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from impactlink.config import Settings

COLUMNS = (("rank", "#"), ("issue", "Issue"), ("level", "Level"), ("score", "Score"),
           ("csat", "CSAT (95% interval)"), ("affected", "Affected"),
           ("arr", "ARR at risk"), ("trend", "Trend"), ("customers", "Named / attributed"),
           ("title", "Title (click for why)"))
LEVELS = ("critical", "high", "medium", "low", "none")
PAGE_SIZE = 50
TOP_COMPLAINTS = 5
SEGMENT_ISSUES = 20
FEATURE_CHARTS = 24
STALE_AFTER = timedelta(days=2)


@dataclass(frozen=True)
class PageContext:
    """What the page shows besides the rows: when, over what, and the weekly series."""

    as_of: datetime
    window_days: int
    customer_base: int | None = None
    freshness: Sequence[tuple[str, datetime | None]] = ()
    features: Sequence[history.FeatureWeeks] = ()
    complaints: Mapping[str, Sequence[float]] = field(default_factory=dict)
    generated: datetime = field(default_factory=lambda: datetime.now(UTC))


def _asset(name: str) -> str:
    return files("impactlink.html").joinpath(name).read_text(encoding="utf-8")


def _script_json(data: Any) -> str:
    """Return JSON that cannot end its <script> element or open a comment inside it."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    hours = seconds / 3600
    return f"{hours:.0f} h ago" if hours < 48 else f"{hours / 24:.0f} days ago"


def _header(rows: Sequence[Mapping[str, Any]], ctx: PageContext) -> str:
    start = ctx.as_of - timedelta(days=ctx.window_days)
    base = "unknown" if ctx.customer_base is None else f"{ctx.customer_base:,}"
    parts = [f"<h1>Customer Impact</h1><p class=\"meta\">As of <time>{_when(ctx.as_of)}</time>"
             f" · window {ctx.window_days} days ({start:%Y-%m-%d} – {ctx.as_of:%Y-%m-%d})"
             f" · customer base {base} · {len(rows):,} issues with customer impact</p>"]
    counts = {lv: sum(1 for r in rows if r.get("level") == lv) for lv in LEVELS}
    if rows:
        parts.append('<p class="levels">' + "".join(
            f'<span class="lv {lv}">{counts[lv]:,} {lv}</span>' for lv in LEVELS) + "</p>")
    cells = []
    for name, updated in ctx.freshness:
        if updated is None:
            cells.append(f"<tr><td>{escape(name)}</td><td>never</td><td></td></tr>")
            continue
        age = (ctx.generated - updated).total_seconds()
        stale = ' class="stale"' if age > STALE_AFTER.total_seconds() else ""
        cells.append(f"<tr><td>{escape(name)}</td><td>{_when(updated)}</td>"
                     f"<td{stale}>{_age(max(age, 0))}</td></tr>")
    if cells:
        parts.append('<table class="fresh"><caption class="note">Sources: when each last '
                     'stored new data</caption><tr><th>source</th><th>last update</th>'
                     "<th>age</th></tr>" + "".join(cells) + "</table>")
    return "<header>" + "".join(parts) + "</header>"


def _link(row: Mapping[str, Any]) -> str:
    url, key = str(row.get("url") or ""), escape(str(row.get("issue")))
    if url.lower().startswith(("https://", "http://")):
        return f'<a href="{escape(url)}">{key}</a>'
    return key


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    heads = "".join(f'<th data-key="{k}" scope="col">{escape(label)}</th>' for k, label in COLUMNS)
    sizes = "".join(f'<option value="{n}"{" selected" if n == PAGE_SIZE else ""}>{n}</option>'
                    for n in (25, 50, 100, 500))
    fallback = "".join(
        f"<tr><td>{n}</td><td>{_link(r)}</td><td>{escape(str(r.get('level')))}</td>"
        f"<td>{escape(str(r.get('score')))}</td><td>{escape(str(r.get('title') or ''))}</td></tr>"
        for n, r in enumerate(rows[:20], 1))
    return ('<section><h2>Ranked backlog</h2><nav id="pager">'
            '<button id="prev" type="button">‹ Previous</button><span id="page-info"></span>'
            '<button id="next" type="button">Next ›</button>'
            f'<label>Rows per page <select id="page-size">{sizes}</select></label>'
            '<input id="filter" type="search" placeholder="Filter by issue, title or feature"'
            ' aria-label="Filter"></nav>'
            f'<table id="backlog"><thead><tr>{heads}</tr></thead><tbody></tbody></table>'
            '<p class="note">Click a header to sort (again to reverse); click a title for how '
            "its score was made. * marks a trend significant at p &lt; 0.05. Affected: the "
            "estimate with its range; named / attributed: customers linked by name, and their "
            "share attributed to this issue.</p>"
            f"<noscript><p>The full table needs JavaScript; the top 20:</p><table>{fallback}"
            "</table></noscript></section>")


def _week_labels(ctx: PageContext, weeks: int) -> tuple[list[str], str]:
    """Return each week's last day, oldest first, and the first day of the oldest."""
    ends = [f"{ctx.as_of - timedelta(days=7 * w):%Y-%m-%d}" for w in range(weeks - 1, -1, -1)]
    return ends, f"{ctx.as_of - timedelta(days=7 * weeks):%Y-%m-%d}"


def _feature_charts(ctx: PageContext) -> str:
    series = [f for f in ctx.features if sum(f.responses)]
    if not series:
        return "<p>No CSAT answers linked to a feature in either window.</p>"
    series.sort(key=lambda f: (f.current[0] == 0, f.current[1] / f.current[0]
                               if f.current[0] else 0.0, f.feature))
    weeks = len(series[0].responses)
    labels, start = _week_labels(ctx, weeks)
    previous = (7 * weeks - ctx.window_days) / (7 * weeks)
    svgs = [charts.csat_weeks(f.feature, labels, f.responses, f.satisfied, previous,
                              (f.current, f.previous), start) for f in series[:FEATURE_CHARTS]]
    return ('<p class="note">Weekly CSAT with 95% Wilson intervals; the shaded left part is '
            "the previous window; the bands are each window's CSAT with its interval. Worst "
            f'first.</p><div class="charts">{"".join(svgs)}</div>')


def _complaint_chart(rows: Sequence[Mapping[str, Any]], ctx: PageContext) -> str:
    series = [(f"{r['issue']} {r.get('title') or ''}", ctx.complaints[str(r["issue"])])
              for r in rows[:TOP_COMPLAINTS] if str(r["issue"]) in ctx.complaints]
    if not series or not any(v for _, values in series for v in values):
        return "<p>No linked complaints in the window.</p>"
    labels, start = _week_labels(ctx, len(series[0][1]))
    return ('<p class="note">Customers with a linked ticket or dissatisfied answer per week, '
            "scaled by each issue's attributed share of its linked customers.</p>"
            + charts.weekly_lines("Complaining customers per week", labels, series, start))


def _segment_charts(rows: Sequence[Mapping[str, Any]]) -> str:
    chosen = [r for r in rows if r.get("segments")][:SEGMENT_ISSUES]
    if not chosen:
        return "<p>No segment values on the linked answers.</p>"
    options, figures = [], []
    for n, r in enumerate(chosen):
        key = escape(str(r["issue"]))
        options.append(f'<option value="{key}">{key} {escape(str(r.get("title") or "")[:60])}'
                       "</option>")
        bars = [(f"{s['name']}: {s['value']}", int(s["responses"]), int(s["satisfied"]))
                for s in (r.get("segments") or [])[:14]]
        figures.append(f'<figure class="segfig" data-issue="{key}"{"" if n == 0 else " hidden"}>'
                       + charts.segment_bars(f"{r['issue']}: CSAT per segment", bars)
                       + "</figure>")
    return ('<label>Issue <select id="segment-issue">' + "".join(options) + "</select></label>"
            + "".join(figures))


def render_page(rows: Sequence[Mapping[str, Any]], ctx: PageContext) -> str:
    """Return the whole page for report rows (ranked) and their context."""
    title = f"Customer Impact — as of {ctx.as_of:%Y-%m-%d}"
    head = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="generator" content="impactlink {__version__}">'
            f"<title>{escape(title)}</title>"
            # Set before anything else runs: script errors and console.error calls are noted
            # on <html data-js-errors>, where a test (or a person) sees them.
            "<script>(function(){var r=document.documentElement,log=console.error;"
            "function note(m){r.setAttribute('data-js-errors',"
            "(r.getAttribute('data-js-errors')||'')+m+';')}"
            "addEventListener('error',function(e){note(e.message||'error')});"
            "console.error=function(){note('console.error: '+[].join.call(arguments,' '));"
            "log.apply(console,arguments)}})();</script>"
            f"<style>{_asset('report.css')}</style></head><body>")
    parts = [head, _header(rows, ctx), "<main>"]
    if not rows:
        parts.append('<p class="empty">No data yet: no issue has customer impact in this '
                     "store. Run <code>impactlink run --config FILE</code> to ingest the "
                     "sources and compute, then build this report again.</p>")
    else:
        parts.append(_table(rows))
        parts.append("<section><h2>Complaints per week: the top issues</h2>"
                     f"{_complaint_chart(rows, ctx)}</section>")
        parts.append("<section><h2>Segments of the selected issue</h2>"
                     f"{_segment_charts(rows)}</section>")
    if rows or any(sum(f.responses) for f in ctx.features):
        parts.append(f"<section><h2>CSAT per feature</h2>{_feature_charts(ctx)}</section>")
    parts.append(f'</main><footer class="note"><p>Generated {_when(ctx.generated)} by '
                 f"impactlink {__version__}.</p></footer>")
    if rows:
        explanation = rows[0].get("explanation") or {}
        data = {"fields": ROW_FIELDS, "rows": [row_data(r) for r in rows],
                "pageSize": PAGE_SIZE, "base": ctx.customer_base,
                "thresholds": (explanation.get("level") or {}).get("thresholds")}
        parts.append(f'<script type="application/json" id="impact-data">{_script_json(data)}'
                     f"</script><script>{_asset('report.js')}</script>")
    parts.append("</body></html>\n")
    return "".join(parts)


def html_report(engine: Engine, settings: Settings, rows: Sequence[Mapping[str, Any]],
                as_of: datetime | None) -> str:
    """Return the page for report rows, with the weekly series read from the store."""
    days = settings.impact.window_days
    with engine.connect() as conn:
        when = as_of or history.stored_as_of(conn) or datetime.now(UTC).replace(microsecond=0)
        base = ((rows[0].get("explanation") or {}).get("level") or {}).get("customer_base") \
            if rows else None
        if base is None:
            base = settings.impact.customer_base or history.customers_in_window(conn, when, days)
        names = list(dict.fromkeys([*settings.features,
                                    *(f for r in rows for f in r.get("features") or [])]))
        features = history.feature_weeks(conn, when, days, names)
        top = {str(r["issue"]): (r.get("features") or [], r.get("references") or [])
               for r in rows[:TOP_COMPLAINTS]}
        counts = history.complaint_weeks(conn, when, days, top)
        fresh = history.freshness(conn, [s.name for s in settings.sources])
    complaints = {k: [round(v * _attributed_share(r), 1) for v in counts[k]]
                  for r in rows[:TOP_COMPLAINTS] for k in [str(r["issue"])]}
    ctx = PageContext(when, days, int(base), fresh, features, complaints)
    return render_page(rows, ctx)


def _attributed_share(row: Mapping[str, Any]) -> float:
    """Return attributed / observed customers (1 without text attribution's figures)."""
    observed, attributed = row.get("customers_observed"), row.get("attributed_customers")
    if not observed or attributed is None:
        return 1.0
    return min(1.0, float(attributed) / float(observed))
