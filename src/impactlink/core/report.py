"""Impact as report rows: the JSON object, CSV, Markdown and table cells (pure).

Every form states when the figures hold and over which window (``ReportContext``), and
shows ARR as unknown, not 0, when no customers source gives ARR.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from impactlink.core.models import Impact

FIELDS = ("issue", "title", "url", "features", "references", "responses", "satisfied",
          "dissatisfied", "csat", "csat_low", "csat_high", "tickets", "offered",
          "customers_observed", "named_customers", "attributed_customers", "linked_affected",
          "linked_affected_low", "linked_affected_high", "affected", "affected_low",
          "affected_high", "method", "arr_at_risk", "linked_arr", "segments", "trend", "pain",
          "reach", "score", "level", "suggested_links")
"""The report's keys, in order (shared/INTERFACE.md)."""
STAMP_FIELDS = ("as_of", "window_days")
"""Keys every JSON object and CSV row ends with: when the figures hold, over which window."""
SIGNIFICANT = "* the trend is significant (p < 0.05)"
UNKNOWN = "unknown"
_ARR = ("arr_at_risk", "linked_arr")
_TREND = ("delta", "previous_csat", "previous_responses", "p_value", "significant")


@dataclass(frozen=True, slots=True)
class ReportContext:
    """When the figures hold, over which window, and whether any customer's ARR is known."""

    as_of: datetime
    window_days: int
    arr_known: bool = True

    def heading(self) -> str:
        """Return "as of 2026-11-21 00:00 UTC, window 90 days (2026-08-23 – 2026-11-21)"."""
        start = self.as_of - timedelta(days=self.window_days)
        return (f"as of {self.as_of:%Y-%m-%d %H:%M} UTC, window {self.window_days} days "
                f"({start:%Y-%m-%d} – {self.as_of:%Y-%m-%d})")


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


def arr_text(value: Any, known: bool = True) -> str:
    """Return ARR for people: "402,018", or "unknown" when no customer's ARR is known."""
    return UNKNOWN if not known or value is None else _fmt(value)


def any_significant(rows: Sequence[Mapping[str, Any]]) -> bool:
    """Tell whether a row's trend carries the * that needs explaining."""
    return any(r["trend"]["delta"] is not None and r["trend"]["significant"] for r in rows)


def table_rows(rows: Sequence[Mapping[str, Any]], *, arr_known: bool = True,
               compact: bool = False) -> list[list[str]]:
    """Return the cells of the human table, one list per issue.

    ``compact`` drops the intervals and ranges, for a narrow terminal.
    """
    cells = []
    for n, r in enumerate(rows, 1):
        if compact:
            csat = "–" if r["csat"] is None else f"{r['csat']:.1f} %"
            affected, trend = str(r["affected"]), trend_text(r).replace(" pts", "")
        else:
            csat, affected, trend = csat_text(r), affected_text(r), trend_text(r)
        cells.append([str(n), str(r["issue"]), str(r["level"]), _fmt(r["score"]), csat,
                      affected, arr_text(r["arr_at_risk"], arr_known), trend, str(r["title"])])
    return cells


def json_rows(rows: Sequence[Mapping[str, Any]], ctx: ReportContext | None = None
              ) -> list[dict[str, Any]]:
    """Return the report's objects: FIELDS, then as_of and window_days when ctx is given."""
    out = []
    for r in rows:
        row = {k: r[k] for k in FIELDS}
        if ctx is not None:
            if not ctx.arr_known:
                row.update(dict.fromkeys(_ARR))
            row["as_of"] = ctx.as_of.isoformat().replace("+00:00", "Z")
            row["window_days"] = ctx.window_days
        out.append(row)
    return out


def to_json(rows: Sequence[Mapping[str, Any]], ctx: ReportContext | None = None) -> str:
    """Return the report as a JSON list."""
    return json.dumps(json_rows(rows, ctx), indent=2, ensure_ascii=False)


def _segment_columns(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    return sorted({(s["name"], s["value"]) for r in rows for s in r["segments"]})


def csv_header(rows: Sequence[Mapping[str, Any]], ctx: ReportContext | None = None) -> list[str]:
    """Return the flat CSV header: trend and each segment value get columns of their own."""
    head: list[str] = []
    for k in FIELDS:
        if k == "trend":
            head += [f"trend_{t}" for t in _TREND]
        elif k == "segments":
            head += [f"segment {n}={v} {m}" for n, v in _segment_columns(rows)
                     for m in ("responses", "csat", "customers")]
        else:
            head.append(k)
    return head + (list(STAMP_FIELDS) if ctx is not None else [])


def _csv_values(r: Mapping[str, Any], segments: list[tuple[str, str]],
                ctx: ReportContext | None) -> list[Any]:
    values: list[Any] = []
    for k in FIELDS:
        if k == "trend":
            values += [r["trend"].get(t) for t in _TREND]
        elif k == "segments":
            held = {(s["name"], s["value"]): s for s in r["segments"]}
            for key in segments:
                s = held.get(key)
                values += ([s["responses"], s["csat"], s["customers_observed"]] if s
                           else [None, None, None])
        elif k in ("features", "references"):
            values.append(";".join(r[k]))
        elif k == "suggested_links":
            values.append(";".join(x["record"] for x in r[k]))
        elif k in _ARR and ctx is not None and not ctx.arr_known:
            values.append(None)
        else:
            values.append(r[k])
    if ctx is not None:
        values += [ctx.as_of.isoformat().replace("+00:00", "Z"), ctx.window_days]
    return values


def to_csv(rows: Sequence[Mapping[str, Any]], ctx: ReportContext | None = None) -> str:
    """Return the report as flat CSV: lists joined by ';', no JSON in any cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_header(rows, ctx))
    segments = _segment_columns(rows)
    for r in rows:
        writer.writerow([csv_cell("" if v is None else v) for v in _csv_values(r, segments, ctx)])
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


def md_cell(text: str) -> str:
    """Return text as one Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(rows: Sequence[Mapping[str, Any]], ctx: ReportContext | None = None) -> str:
    """Return the report as a Markdown table, under a line saying when it holds."""
    head = ["#", "Issue", "Level", "Score", "CSAT", "Affected", "ARR at risk", "Trend", "Title"]
    lines = [f"**Customer Impact** {ctx.heading()}", ""] if ctx is not None else []
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    arr_known = ctx is None or ctx.arr_known
    lines += ["| " + " | ".join(md_cell(c) for c in cells) + " |"
              for cells in table_rows(rows, arr_known=arr_known)]
    if any_significant(rows):
        lines += ["", "\\" + SIGNIFICANT]
    return "\n".join(lines) + "\n"
