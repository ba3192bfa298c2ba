"""``report --explain ISSUE``: every input behind one issue's figures, record by record.

Records are shown by source and id with their attribution to the issue, never their
text: customer text appears only in the redacted representative comments.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from impactlink.core.matching import parse_link_key
from impactlink.core.render import redact
from impactlink.core.report import affected_text, csat_text, impact_to_dict, trend_text
from impactlink.core.text import split_terms
from impactlink.engine.bm25 import match_many
from impactlink.errors import ConfigError
from impactlink.store import aggregate, state

if TYPE_CHECKING:
    from enum import Enum

    from impactlink.core.matching import Matcher
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


def attributions(pipeline: Pipeline, matcher: Matcher, issue: str,
                 rows: list[dict[str, Any]]) -> None:
    """Set each linked record's attribution to the issue ("a") and how it was linked."""
    from impactlink.pipeline import impact_settings

    settings = impact_settings(pipeline.settings)
    text = (settings.text_attribution and settings.feature_attribution == "shared"
            and settings.text_weight != 0)
    by_features: dict[frozenset[str], list[dict[str, Any]]] = {}
    for r in rows:
        evidence = r["kind"] == "ticket" or (r.get("status") == "answered"
                                              and r.get("satisfied") is False)
        r["evidence"] = evidence
        if matcher.is_named(r["link_key"]):
            r["a"], r["via"] = 1.0, "named"
        else:
            r["via"] = "feature"
            by_features.setdefault(parse_link_key(r["link_key"])[0], []).append(r)
    for features, group in by_features.items():
        cset = matcher.candidate_set(features)
        column = cset.keys.index(issue) if issue in cset.keys else -1
        found = (match_many(cset, [split_terms(r["terms"]) for r in group],
                            settings.text_candidates) if text else [() for _ in group])
        for r, kept in zip(group, found, strict=True):
            att = settings.attribution([(cset.keys[c], s) for c, s in kept], cset.m)
            r["a"] = att.of(cset.keys[column]) if column >= 0 else 0.0
            r["s"] = next((s for c, s in kept if c == column), 0.0)


def explain_issue(pipeline: Pipeline, issue: str, as_of: datetime | None, format: Enum) -> str:
    """Return the explanation of one issue as text (or JSON with --format json)."""
    figures = _figures(pipeline, issue, as_of)
    with pipeline.engine.connect() as conn:
        matcher = pipeline.matcher(state.load_issues(conn), state.issue_terms(conn))
        keys = state.linking_keys(conn, matcher, figures["issue"])
        when = as_of or _stored_as_of(conn)
        window = aggregate.Window(when, pipeline.settings.impact.window_days)
        rows = aggregate.linked_records(conn, window, set(keys))
        strongest = [m["record"] for m in figures.get("explanation", {}).get("matches", [])]
        quotes = [redact(t) for t in state.representative_comments(
            conn, keys, window.start, window.end, pipeline.settings.impact.quotes, strongest)]
    attributions(pipeline, matcher, figures["issue"], rows)
    for r in rows:
        r.pop("terms", None)
    rows.sort(key=lambda r: (not r["evidence"], -r.get("a", 0.0), r["at"]))
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


def _num(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return f"{value:,.{digits}f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    return str(value)


def _matches(figures: dict[str, Any], key: str, title: str) -> list[str]:
    found = figures.get("explanation", {}).get(key) if key == "matches" else \
        figures.get("suggested_links", [])
    if not found:
        return [f"{title}: none"]
    return [f"{title}:", *[f"  {m['record']} ({m['kind']}): a = {_num(m['attribution'], 3)}, "
                           f"s = {_num(m['score'], 2)}; words: {', '.join(m['words']) or '–'}"
                           for m in found]]


def attribution_lines(figures: dict[str, Any]) -> list[str]:
    """Return how many customers named the bug, how many were attributed, and the context."""
    x = figures.get("explanation", {})
    att = x.get("attribution", {})
    linked = x.get("linked", {})
    context = x.get("context", {})
    how = ("every candidate takes the whole record" if att.get("feature_attribution") == "full"
           else "text matches (BM25, softmax with β = "
           f"{_num(att.get('text_weight', 1.0))}, k = {att.get('text_candidates')})"
           if att.get("text_attribution", True) and att.get("text_weight", 1.0)
           else "an even split over the candidates")
    lines = [
        f"customers: {figures['customers_observed']} observed, "
        f"{figures.get('named_customers', 0)} named this issue, "
        f"{_num(figures.get('attributed_customers', 0.0))} attributed by {how}",
        f"affected {affected_text(figures)} = linked {linked.get('affected')} × attributed "
        f"{_num(figures.get('attributed_customers', 0.0))} / observed "
        f"{figures['customers_observed']}",
        f"ARR at risk {_num(figures['arr_at_risk'])} (linked ARR "
        f"{_num(figures.get('linked_arr', 0.0))})",
    ]
    for feature, c in context.items():
        csat = "–" if c.get("csat") is None else f"{c['csat']:.1f} % CSAT"
        lines.append(f"{feature} overall: {c.get('affected')} affected, {csat}")
    return lines


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
        f"  reach = linked affected × Σ weight·share / customers_observed with "
        f"{json.dumps(x.get('reach', {}))}",
        f"csat {csat_text(figures)}: {figures['satisfied']} satisfied, "
        f"{figures['dissatisfied']} dissatisfied",
        *attribution_lines(figures),
        f"linked estimate inputs {json.dumps(x.get('estimate', {}))}",
        f"tickets {figures['tickets']}; offered surveys {figures['offered']}",
        f"trend {trend_text(figures)} ({json.dumps(figures['trend'])})",
        f"features {', '.join(figures['features']) or '–'}; "
        f"references {', '.join(figures['references']) or '–'}",
        "",
        *_matches(figures, "matches", "strongest text matches"),
        *_matches(figures, "suggested_links",
                  "suggested links (confirm by adding the explicit reference)"),
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
        f"records in the window ({len(rows)}; evidence first, by attribution a):",
    ]
    for r in rows:
        what = (f"score {r.get('score'):g} {'satisfied' if r.get('satisfied') else 'dissatisfied'}"
                if r["kind"] == "csat" and r.get("status") == "answered"
                else "offered, unanswered" if r["kind"] == "csat" else f"ticket {r['status']}")
        share = f"a {r['a']:.3f}" if r.get("evidence") else "no evidence"
        lines.append(f"  {r['at']:%Y-%m-%d %H:%M} {r['kind']:6} {r['source']}:{r['external_id']}"
                     f"  customer {r['customer_key']}  {what}  {share}  via {r['via']}")
    return "\n".join(lines) + "\n"
