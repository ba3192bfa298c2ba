"""The backlog as the page carries it: one JSON array per issue, in ROW_FIELDS order (pure).

Only figures and record ids travel; quotes only when the report rows carry them, redacted
again and cut short. Floats are rounded to what the page shows, which keeps 5,000 rows small.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from impactlink.core.render import redact

ROW_FIELDS = (
    "issue", "title", "url", "level", "score", "csat", "csat_low", "csat_high", "responses",
    "satisfied", "dissatisfied", "tickets", "affected", "affected_low", "affected_high",
    "method", "arr_at_risk", "linked_arr", "delta", "significant", "p_value", "previous_csat",
    "previous_responses", "named_customers", "attributed_customers", "customers_observed",
    "linked_affected", "linked_affected_low", "linked_affected_high", "reach", "pain",
    "features", "references", "matches", "quotes", "segments")
"""The columns of the page's JSON rows (report.js reads them by name)."""
MATCHES_SHOWN, WORDS_SHOWN = 3, 6
QUOTES_SHOWN, QUOTE_CHARS = 3, 280
SEGMENTS_SHOWN = 8


def _round(value: Any, digits: int) -> Any:
    return round(value, digits) if isinstance(value, float) else value


def _matches(row: Mapping[str, Any]) -> list[list[Any]]:
    """Return the strongest matches, then suggested links not among them (ids, never text)."""
    explanation = row.get("explanation") or {}
    suggested = {str(s.get("record")) for s in row.get("suggested_links") or []}
    shown: list[list[Any]] = []
    seen: set[str] = set()
    for m in [*(explanation.get("matches") or [])[:MATCHES_SHOWN],
              *(row.get("suggested_links") or [])]:
        record = str(m.get("record"))
        if record in seen:
            continue
        seen.add(record)
        shown.append([record, str(m.get("kind", "")), _round(m.get("attribution"), 3),
                      _round(m.get("score"), 2),
                      " ".join(map(str, (m.get("words") or [])[:WORDS_SHOWN])),
                      1 if record in suggested else 0])
    return shown


def _quotes(row: Mapping[str, Any]) -> list[str]:
    found = row.get("quotes") or (row.get("explanation") or {}).get("quotes") or []
    quotes = [redact(" ".join(str(q).split())) for q in found[:QUOTES_SHOWN]]
    return [q if len(q) <= QUOTE_CHARS else q[: QUOTE_CHARS - 1] + "…" for q in quotes]


def row_data(row: Mapping[str, Any]) -> list[Any]:
    """Return one issue as the page's JSON row (ROW_FIELDS); absent figures are null."""
    trend = row.get("trend") or {}
    flat: dict[str, Any] = {
        **{k: row.get(k) for k in ROW_FIELDS},
        "delta": trend.get("delta"), "significant": bool(trend.get("significant")),
        "p_value": trend.get("p_value"), "previous_csat": trend.get("previous_csat"),
        "previous_responses": trend.get("previous_responses"),
        "features": ", ".join(row.get("features") or []),
        "references": ", ".join(row.get("references") or []),
        "matches": _matches(row), "quotes": _quotes(row),
        "segments": [[s["name"], s["value"], s["responses"], s["satisfied"]]
                     for s in (row.get("segments") or [])[:SEGMENTS_SHOWN]],
    }
    digits = {"pain": 4, "reach": 2, "attributed_customers": 2, "p_value": 4}
    return [_round(flat[k], digits.get(k, 2)) for k in ROW_FIELDS]
