"""``report --explain ISSUE``: every input behind one issue's figures, record by record.

Records are shown by source and id with their attribution to the issue, never their
text: customer text appears only in the redacted representative comments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from impactlink.core.matching import parse_link_key
from impactlink.core.refs import find_refs
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
    key = resolve_issue(issue, found)
    if key is not None:
        return found[key]
    raise ConfigError(f"--explain {issue}: no impact stored for that issue as of "
                      f"{'the last run' if as_of is None else as_of.isoformat()} — "
                      "check the name (e.g. acme/shop#12, #12, SHOP-12 or the issue's URL) "
                      "with `impactlink report`")


_NUMBER = re.compile(r"#?([0-9]{1,12})")
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]+-[0-9]{1,12}")


def resolve_issue(name: str, keys: Iterable[str]) -> str | None:
    """Return the stored issue a person names: acme/shop#108, #108, 108, SHOP-12 or a URL.

    A bare number names the one issue of that number (ConfigError when several repositories
    or projects have one); None when no stored issue matches.
    """
    text = name.strip()
    by_fold = {k.casefold(): k for k in keys}
    if text.casefold() in by_fold:
        return by_fold[text.casefold()]
    if _KEY.fullmatch(text):
        return by_fold.get(text.upper().casefold())
    named = find_refs(text)
    if len(named) == 1:
        return by_fold.get(named.pop().casefold())
    number = _NUMBER.fullmatch(text)
    if number is None:
        return None
    n = int(number.group(1))
    found = sorted(k for k in by_fold.values()
                   if k.endswith(f"#{n}") or re.fullmatch(rf"[A-Z][A-Z0-9_]+-{n}", k))
    if len(found) > 1:
        raise ConfigError(f"--explain {name}: several issues have that number "
                          f"({', '.join(found[:5])}): name one of them")
    return found[0] if found else None


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
        arr = any(c.arr is not None for c in aggregate.customer_info(conn).values())
    attributions(pipeline, matcher, figures["issue"], rows)
    for r in rows:
        r.pop("terms", None)
    rows.sort(key=lambda r: (not r["evidence"], -r.get("a", 0.0), r["at"]))
    if format.value == "json":
        return json.dumps({"as_of": when.isoformat(), "window_days": window.days,
                           "arr_known": arr, "figures": figures, "links": keys,
                           "records": rows, "comments": quotes},
                          indent=2, default=str, ensure_ascii=False)
    return render(figures, keys, rows, window, quotes, arr_known=arr)


def _stored_as_of(conn: Any) -> datetime:
    from sqlalchemy import select

    from impactlink.store.state import IMPACTS

    value = conn.execute(select(IMPACTS.c.as_of).limit(1)).scalar()
    if value is None:
        raise ConfigError("nothing computed yet: run `impactlink run` first")
    assert isinstance(value, datetime)
    return value


def _num(value: Any, digits: int = 2) -> str:
    """Return a number for people: at most ``digits`` decimals, thousands separated."""
    if isinstance(value, float):
        return f"{value:,.{digits}f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    return str(value)


def _inputs(values: Mapping[str, Any], digits: int = 3) -> str:
    """Return a formula's inputs as "d = 70, n = 205, p0 = 0.135", rounded for people."""
    return ", ".join(f"{k} = {_num(v, digits) if not isinstance(v, bool) else v}"
                     for k, v in values.items() if not isinstance(v, dict | list)) or "–"


def _thresholds(level: Mapping[str, Any]) -> str:
    found = level.get("thresholds") or {}
    return ", ".join(f"{name} ≥ {_num(float(v), 2)}" for name, v in found.items()) or "–"


def _trend(trend: Mapping[str, Any]) -> str:
    if trend.get("delta") is None:
        return "not enough responses in both windows"
    verdict = "significant" if trend.get("significant") else "not significant"
    p = trend.get("p_value")
    shown = "p = –" if p is None else "p < 0.001" if p < 0.001 else f"p = {_num(float(p), 3)}"
    return (f"previous window {_num(trend.get('previous_csat'), 1)} % "
            f"(n = {trend.get('previous_responses')}), {shown}: {verdict} at p < 0.05")


def _matches(figures: dict[str, Any], key: str, title: str) -> list[str]:
    found = figures.get("explanation", {}).get(key) if key == "matches" else \
        figures.get("suggested_links", [])
    if not found:
        return [f"{title}: none"]
    return [f"{title}:", *[f"  {m['record']} ({m['kind']}): a = {_num(m['attribution'], 3)}, "
                           f"s = {_num(m['score'], 2)}; words: {', '.join(m['words']) or '–'}"
                           for m in found]]


def attribution_lines(figures: dict[str, Any], *, arr_known: bool = True) -> list[str]:
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
        f"{_num(figures.get('linked_arr', 0.0))})" if arr_known else
        "ARR at risk unknown: no customers source gives ARR",
    ]
    for feature, c in context.items():
        csat = "–" if c.get("csat") is None else f"{c['csat']:.1f} % CSAT"
        lines.append(f"{feature} overall: {c.get('affected')} affected, {csat}")
    return lines


def render(figures: dict[str, Any], keys: dict[str, str], rows: list[dict[str, Any]],
           window: aggregate.Window, quotes: list[str], *, arr_known: bool = True) -> str:
    """Return the human explanation, its numbers rounded for people."""
    x = figures.get("explanation", {})
    lines = [
        f"{figures['issue']} — {figures['title']}",
        f"as of {window.end:%Y-%m-%d %H:%M} UTC, window {window.days} days: "
        f"({window.start:%Y-%m-%d %H:%M}, {window.end:%Y-%m-%d %H:%M}] UTC",
        "",
        f"score {_num(figures['score'], 1)} = reach {_num(figures['reach'])} × pain "
        f"{_num(figures['pain'], 3)}  → level {figures['level']}",
        f"  level thresholds (customer base {x.get('level', {}).get('customer_base')}): "
        f"{_thresholds(x.get('level', {}))}",
        f"  pain = (d + α·p0) / (n + α) with {_inputs(x.get('pain', {}))}",
        f"  reach = linked affected × Σ weight·share / customers_observed with "
        f"{_inputs(x.get('reach', {}))}",
        f"csat {csat_text(figures)}: {figures['satisfied']} satisfied, "
        f"{figures['dissatisfied']} dissatisfied",
        *attribution_lines(figures, arr_known=arr_known),
        f"linked estimate inputs: {_inputs(x.get('estimate', {}))}",
        f"tickets {figures['tickets']}; offered surveys {figures['offered']}",
        f"trend {trend_text(figures)} ({_trend(figures['trend'])})"
        + ("; * marks a significant trend" if "*" in trend_text(figures) else ""),
        f"features {', '.join(figures['features']) or '–'}; "
        f"references {', '.join(figures['references']) or '–'}",
        "",
        *_matches(figures, "matches", "strongest text matches"),
        *_matches(figures, "suggested_links",
                  "suggested links (confirm by adding the explicit reference)"),
        "",
        "segments:",
        *[f"  {s['name']}={s['value']}: n={s['responses']} csat="
          f"{'–' if s['csat'] is None else _num(s['csat'], 1) + ' %'} "
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
