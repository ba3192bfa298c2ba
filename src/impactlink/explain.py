"""``report --explain ISSUE``: every input behind one issue's figures, record by record."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from impactlink.core.render import redact
from impactlink.core.report import affected_text, csat_text, impact_to_dict, trend_text
from impactlink.errors import ConfigError
from impactlink.store import aggregate, state

if TYPE_CHECKING:
    from enum import Enum

    from impactlink.pipeline import Pipeline


def _figures(pipeline: Pipeline, issue: str, as_of: datetime | None) -> dict[str, Any]:
    if as_of is not None:
        from impactlink.pipeline import compute_impacts

        impacts, _ = compute_impacts(pipeline, as_of)
        found: dict[str, dict[str, Any]] = {k: impact_to_dict(v) for k, v in impacts.items()}
    else:
        with pipeline.engine.connect() as conn:
            found = state.load_impacts(conn)
    for key, figures in found.items():
        if key.casefold() == issue.casefold():
            return figures
    raise ConfigError(f"--explain {issue}: no impact stored for that issue as of "
                      f"{'the last run' if as_of is None else as_of.isoformat()} — "
                      "check the name (e.g. acme/shop#12 or SHOP-12) with `impactlink report`")


def explain_issue(pipeline: Pipeline, issue: str, as_of: datetime | None, format: Enum) -> str:
    """Return the explanation of one issue as text (or JSON with --format json)."""
    figures = _figures(pipeline, issue, as_of)
    with pipeline.engine.connect() as conn:
        keys = state.link_keys(conn, figures["issue"])
        when = as_of or _stored_as_of(conn)
        window = aggregate.Window(when, pipeline.settings.impact.window_days)
        rows = aggregate.linked_records(conn, window, set(keys))
        quotes = [redact(t) for t in state.representative_comments(
            conn, figures["issue"], window.start, window.end, pipeline.settings.impact.quotes)]
    if format.value == "json":
        return json.dumps({"figures": figures, "links": keys, "records": rows,
                           "comments": quotes}, indent=2, default=str, ensure_ascii=False)
    return render(figures, keys, rows, window, quotes)


def _stored_as_of(conn: Any) -> datetime:
    from sqlalchemy import select

    from impactlink.store.state import IMPACTS

    value = conn.execute(select(IMPACTS.c.as_of).limit(1)).scalar()
    if value is None:
        raise ConfigError("nothing computed yet: run `impactlink run` first")
    assert isinstance(value, datetime)
    return value


def render(figures: dict[str, Any], keys: dict[str, str], rows: list[dict[str, Any]],
           window: aggregate.Window, quotes: list[str]) -> str:
    """Return the human explanation."""
    x = figures.get("explanation", {})
    lines = [
        f"{figures['issue']} — {figures['title']}",
        f"window: ({window.start:%Y-%m-%d %H:%M}, {window.end:%Y-%m-%d %H:%M}] UTC",
        "",
        f"score {figures['score']} = reach {figures['reach']} × pain {figures['pain']}"
        f"  → level {figures['level']}",
        f"  level thresholds (customer base {x.get('level', {}).get('customer_base')}): "
        f"{json.dumps(x.get('level', {}).get('thresholds', {}))}",
        f"  pain = (d + α·p0) / (n + α) with {json.dumps(x.get('pain', {}))}",
        f"  reach = Σ weight·share × affected / customers_observed with "
        f"{json.dumps(x.get('reach', {}))}",
        f"csat {csat_text(figures)}: {figures['satisfied']} satisfied, "
        f"{figures['dissatisfied']} dissatisfied",
        f"affected {affected_text(figures)}; customers observed {figures['customers_observed']}; "
        f"estimate inputs {json.dumps(x.get('estimate', {}))}",
        f"tickets {figures['tickets']}; offered surveys {figures['offered']}; "
        f"ARR at risk {figures['arr_at_risk']}",
        f"trend {trend_text(figures)} ({json.dumps(figures['trend'])})",
        f"features {', '.join(figures['features']) or '–'}; "
        f"references {', '.join(figures['references']) or '–'}",
        "",
        "segments:",
        *[f"  {s['name']}={s['value']}: n={s['responses']} csat={s['csat']} "
          f"customers={s['customers_observed']}" for s in figures["segments"]],
        "",
        "representative comments (redacted):",
        *[f"  “{' '.join(q.split())}”" for q in quotes],
        "",
        "links (records with this key → why):",
        *[f"  {k or '(none)'} → {why}" for k, why in sorted(keys.items())],
        "",
        f"records in the window ({len(rows)}):",
    ]
    for r in rows:
        what = (f"score {r.get('score'):g} {'satisfied' if r.get('satisfied') else 'dissatisfied'}"
                if r["kind"] == "csat" and r.get("status") == "answered"
                else "offered, unanswered" if r["kind"] == "csat" else f"ticket {r['status']}")
        lines.append(f"  {r['at']:%Y-%m-%d %H:%M} {r['kind']:6} {r['source']}:{r['external_id']}"
                     f"  customer {r['customer_key']}  {what}  via {keys.get(r['link_key'], '')}")
    return "\n".join(lines) + "\n"
