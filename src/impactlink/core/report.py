"""Impact as report rows: the JSON object, CSV and Markdown forms (pure)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from impactlink.core.models import Impact

FIELDS = ("issue", "title", "url", "features", "references", "responses", "satisfied",
          "dissatisfied", "csat", "csat_low", "csat_high", "tickets", "offered",
          "customers_observed", "named_customers", "attributed_customers", "linked_affected",
          "linked_affected_low", "linked_affected_high", "affected", "affected_low",
          "affected_high", "method", "arr_at_risk", "linked_arr", "segments", "trend", "pain",
          "reach", "score", "level", "suggested_links")
"""The report's keys, in order (shared/INTERFACE.md)."""


def impact_to_dict(impact: Impact, *, explanation: bool = True) -> dict[str, Any]:
    """Return one issue's figures as the report's JSON object."""
    data = asdict(impact)
    row = {k: data[k] for k in FIELDS}
    row["features"] = list(impact.features)
    row["references"] = list(impact.references)
    row["segments"] = [asdict(s) for s in impact.segments]
    row["suggested_links"] = [{**asdict(x), "words": list(x.words)}
                              for x in impact.suggested_links]
    if explanation:
        row["explanation"] = impact.explanation
    return row


def ranked(rows: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Return report rows, highest score first, then by issue."""
    return sorted(rows.values(), key=lambda r: (-float(r["score"]), str(r["issue"])))


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    return str(value)


def csat_text(row: Mapping[str, Any]) -> str:
    """Return "62.5 % (48.1–75.0, n=40)" or "–" without responses."""
    if row["csat"] is None:
        return "–"
    low, high, n = row["csat_low"], row["csat_high"], row["responses"]
    return f"{row['csat']:.1f} % ({low:.1f}–{high:.1f}, n={n})"


def affected_text(row: Mapping[str, Any]) -> str:
    """Return "41 (35–52, survey)"."""
    if row["affected_low"] == row["affected_high"]:
        return f"{row['affected']} ({row['method']})"
    return f"{row['affected']} ({row['affected_low']}–{row['affected_high']}, {row['method']})"


def trend_text(row: Mapping[str, Any]) -> str:
    """Return "-12.5 pts*" (* when significant) or "–"."""
    trend = row["trend"]
    if trend["delta"] is None:
        return "–"
    return f"{trend['delta']:+.1f} pts" + ("*" if trend["significant"] else "")


TABLE_COLUMNS = ("rank", "issue", "level", "score", "csat", "affected", "arr_at_risk",
                 "trend", "title")


def table_rows(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Return the cells of the human table, one list per issue."""
    return [[str(n), str(r["issue"]), str(r["level"]), _fmt(r["score"]), csat_text(r),
             affected_text(r), _fmt(r["arr_at_risk"]), trend_text(r), str(r["title"])]
            for n, r in enumerate(rows, 1)]


def to_json(rows: Sequence[Mapping[str, Any]]) -> str:
    """Return the report as a JSON list."""
    return json.dumps([{k: r[k] for k in FIELDS} for r in rows], indent=2, ensure_ascii=False)


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """Return the report as CSV; lists joined by ';', segments and trend as JSON."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for r in rows:
        writer.writerow([csv_cell(";".join(r[k]) if k in ("features", "references")
                                  else json.dumps(r[k], ensure_ascii=False)
                                  if k in ("segments", "trend")
                                  else "" if r[k] is None else r[k]) for k in FIELDS])
    return out.getvalue()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """Return a cell no spreadsheet runs as a formula: text that could start one gets a quote.

    OWASP's rule for CSV injection; numbers stay numbers (a negative one is not text).
    https://owasp.org/www-community/attacks/CSV_Injection
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """Return the report as a Markdown table."""
    head = ["#", "Issue", "Level", "Score", "CSAT", "Affected", "ARR at risk", "Trend", "Title"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md_cell(c) for c in cells) + " |" for cells in table_rows(rows)]
    return "\n".join(lines) + "\n"
