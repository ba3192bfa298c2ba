"""The managed tracker comment, rendered from an Impact; redaction and neutralising of quotes.

Rendering is pure and deterministic (no clock, sorted inputs), so the comment's fingerprint
changes only when a figure does, and ``--dry-run`` can print exactly what would be written.
The comment is fenced by a hidden marker, as python/bedevere fences what it owns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from impactlink.core.models import Impact
from impactlink.core.redact import BIDI, redact, strip_invisible

__all__ = ["GITHUB_LIMIT", "MARKER", "ZW", "end_marker", "fence", "neutralize", "quote_block",
           "redact", "render_comment", "render_text", "seal", "splice"]

MARKER = "<!-- impactlink:customer-impact -->"
ZW = "\u200b"
"""Zero-width space: breaks a mention or reference without changing what a reader sees."""
GITHUB_LIMIT = 65_536
"""NOTE: GitHub refuses a comment body over 65,536 characters.
https://docs.github.com/en/rest/issues/comments#create-an-issue-comment"""
_SHORTENED = "… (shortened to fit the tracker's limit)"

_QUOTE_LIMIT = 280
_SEGMENTS_SHOWN = 3

_SCHEME = re.compile(r"(?i)(\w)(://)")
_WWW = re.compile(r"(?i)\b(www)\.")
_MENTION = re.compile(r"@")
_HASHREF = re.compile(r"#(?=\d)")
_GH_REF = re.compile(r"(?i)\b(gh)-(?=\d)")
_LINE_START = re.compile(r"^(\s*)([#>+\-=*]|\d+[.)])", re.MULTILINE)
_INLINE = re.compile(r"([\\`*_~\[\]()!|{}])")


def end_marker(marker: str) -> str:
    """Return the closing fence that matches an opening marker."""
    return marker.replace("<!-- ", "<!-- /", 1) if marker.startswith("<!-- ") else f"/{marker}"


def neutralize(text: str) -> str:
    """Make untrusted text inert in GitHub markdown: no mention, link, image, reference or HTML."""
    # Invisible characters go first: the only zero-width ones left are those added below.
    text = strip_invisible(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _INLINE.sub(r"\\\1", text)
    text = _LINE_START.sub(_escape_line_start, text)
    text = _MENTION.sub("@" + ZW, text)
    text = _HASHREF.sub("#" + ZW, text)
    text = _GH_REF.sub(lambda m: f"{m.group(1)}{ZW}-", text)
    text = _SCHEME.sub(lambda m: f"{m.group(1)}{ZW}{m.group(2)}", text)
    return _WWW.sub(lambda m: f"{m.group(1)}{ZW}.", text)


def _escape_line_start(m: re.Match[str]) -> str:
    indent, mark = m.group(1), m.group(2)
    if mark[0].isdigit():
        return f"{indent}{mark[:-1]}\\{mark[-1]}"
    return f"{indent}\\{mark}"


def quote_block(texts: Sequence[str]) -> str:
    """Render customer comments as one inert blockquote each, one line, redacted and shortened."""
    blocks: list[str] = []
    for raw in texts:
        flat = redact(raw)  # folded: one line, no invisible characters
        if not flat:
            continue
        if len(flat) > _QUOTE_LIMIT:
            flat = flat[: _QUOTE_LIMIT - 1].rstrip() + "…"
        blocks.append("> " + neutralize(flat))
    return "\n>\n".join(blocks)


def _num(value: float, digits: int = 1) -> str:
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _csat(impact: Impact) -> str:
    if impact.csat is None:
        return f"no responses (n = {impact.responses})"
    return (f"{_num(impact.csat)} % (95 % interval {_num(impact.csat_low or 0.0)}–"
            f"{_num(impact.csat_high or 0.0)} %, n = {impact.responses}, "
            f"{impact.dissatisfied} dissatisfied)")


def _affected(impact: Impact) -> str:
    spread = (f"{impact.affected_low:,}–{impact.affected_high:,}"
              if impact.affected_low != impact.affected_high else f"{impact.affected:,}")
    return (f"{impact.affected:,} (range {spread}; method: {impact.method}; "
            f"{impact.customers_observed:,} observed)")


def _trend(impact: Impact) -> str:
    t = impact.trend
    if t.delta is None:
        return "not enough responses in both windows to compare"
    sign = "+" if t.delta > 0 else ("−" if t.delta < 0 else "±")
    verdict = "significant" if t.significant else "not significant"
    p = f", p = {t.p_value:.3f}" if t.p_value is not None else ""
    return (f"{sign}{_num(abs(t.delta))} points vs the previous window "
            f"({_num(t.previous_csat or 0.0)} %, n = {t.previous_responses}; {verdict}{p})")


def _segments(impact: Impact) -> list[str]:
    lines = []
    for seg in impact.segments[:_SEGMENTS_SHOWN]:
        csat = f"CSAT {_num(seg.csat)} %" if seg.csat is not None else "no responses"
        lines.append(f"- {_code(seg.name)} = {_code(seg.value)}: {csat} (n = {seg.responses}), "
                     f"{seg.customers_observed:,} customers")
    return lines


def _plain(text: str) -> str:
    """Return a value for plain text: one line, no control characters."""
    return " ".join("".join(c for c in text if c.isprintable()).split())


def _code(text: str) -> str:
    """Return text as an inline code span, where GitHub neither links nor mentions."""
    clean = " ".join(text.replace("`", "'").split())
    return f"`{clean}`"


def _inputs(explanation: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = explanation.get(key)
    return value if isinstance(value, Mapping) else {}


def _how(impact: Impact) -> list[str]:
    pain = _inputs(impact.explanation, "pain")
    reach = _inputs(impact.explanation, "reach")
    lines = [f"score = reach × pain = {_num(impact.reach, 2)} × {_num(impact.pain, 4)} "
             f"= {_num(impact.score)}"]
    if pain:
        lines.append(f"- pain = (d + α · p₀) / (n + α) with d = {pain.get('d')}, "
                     f"n = {pain.get('n')}, α = {pain.get('alpha')}, p₀ = {_fmt(pain.get('p0'))} "
                     f"(dissatisfied share of all {pain.get('population_responses')} responses)")
    if reach:
        lines.append(f"- reach = weighted share sum {_fmt(reach.get('weighted_share_sum'))} × "
                     f"affected {reach.get('affected')} / observed "
                     f"{reach.get('customers_observed')} (attribution: {reach.get('attribution')}, "
                     f"weight: {reach.get('weight_by')}; {reach.get('full_share_customers')} "
                     f"of them counted in full)")
    level = _inputs(impact.explanation, "level")
    if level:
        lines.append(f"- level {impact.level}: relative to a customer base of "
                     f"{level.get('customer_base')}")
    return lines


def _fmt(value: object) -> str:
    return _num(value, 4) if isinstance(value, float) else str(value)


_CLEARED = ("No linked customer records remain in the window: impactlink has cleared "
            "this issue's Customer Impact.")


def _arr(impact: Impact) -> str:
    """Return ARR at risk, or say it is unknown when no observed customer's ARR is known."""
    linked = _inputs(impact.explanation, "linked")
    if linked.get("arr_customers") == 0:
        return "unknown (no ARR known for these customers)"
    return _num(impact.arr_at_risk, 2)


def _customers(impact: Impact) -> str:
    return (f"{impact.customers_observed:,} observed: {impact.named_customers:,} named this "
            f"issue, {_num(impact.attributed_customers, 2)} attributed to it by their text")


def _context(impact: Impact, code: Callable[[str], str]) -> str:
    """Return the feature-wide figures: "checkout overall: 185 affected, 51.7 % CSAT"."""
    csat = "no CSAT" if impact.csat is None else f"{_num(impact.csat)} % CSAT"
    where = "/".join(code(f) for f in impact.features) or "its references"
    arr = ("" if _inputs(impact.explanation, "linked").get("arr_customers") == 0
           else f", ARR {_num(impact.linked_arr, 0)}")
    return f"{where} overall: {impact.linked_affected:,} affected, {csat}{arr}"


def _figures(impact: Impact, code: Callable[[str], str] = str) -> list[tuple[str, str]]:
    """Return the headline figures as (label, value), shared by both renderings."""
    return [("CSAT", _csat(impact)), ("Affected customers", _affected(impact)),
            ("ARR at risk", _arr(impact)), ("Customers", _customers(impact)),
            ("Context", _context(impact, code)), ("Tickets", f"{impact.tickets:,}"),
            ("Trend", _trend(impact))]


def _matches(impact: Impact, code: Callable[[str], str]) -> list[str]:
    """Return the suggested links by record source and id (never their text)."""
    return [f"- {code(x.record)} ({x.kind}): attribution {_num(100 * x.attribution)} %, "
            f"matching {', '.join(code(w) for w in x.words[:8]) or '–'}"
            for x in impact.suggested_links[:5]]


def _linked(impact: Impact, code: Callable[[str], str]) -> list[str]:
    return ([f"feature {code(f)}" for f in impact.features]
            + [f"reference {code(r)}" for r in impact.references])


def render_comment(impact: Impact | None, quotes: Sequence[str], *, marker: str = MARKER) -> str:
    """Render the managed comment: the figures, why the issue is linked, and how it was scored."""
    lines = [marker, "### Customer Impact"]
    if impact is None or impact.level == "none":
        lines += ["", _CLEARED]
    else:
        lines += ["", f"**{impact.level.capitalize()}** — score {_num(impact.score)}", "",
                  "| | |", "|---|---|",
                  *[f"| {k} | {v} |" for k, v in _figures(impact, _code)]]
        segments = _segments(impact)
        if segments:
            lines += ["", "**Leading segments**", *segments]
        linked = _linked(impact, _code)
        if linked:
            lines += ["", "**Linked by** " + ", ".join(linked)]
        suggested = _matches(impact, _code)
        if suggested:
            lines += ["", "**Suggested links** (their text matches this issue; add the "
                      "reference to confirm)", *suggested]
        lines += ["", "<details><summary>How the score was made</summary>", "", *_how(impact),
                  "", "</details>"]
        block = quote_block(quotes)
        if block:
            lines += ["", "**What customers said** (redacted)", "", block]
    lines += ["", "<sub>Maintained by impactlink; edits inside this comment are overwritten.</sub>",
              end_marker(marker)]
    return "\n".join(lines)


def render_text(impact: Impact | None, quotes: Sequence[str], *, marker: str = MARKER) -> str:
    """Render the managed comment as plain text, for trackers that show it uninterpreted.

    Jira takes it as ADF text nodes or a {noformat} block, where nothing is markup, so the
    quotes need redacting but no escaping (an @ or a #12 there is only text).
    """
    lines = [marker, "Customer Impact"]
    if impact is None or impact.level == "none":
        lines += ["", _CLEARED]
    else:
        lines += ["", f"{impact.level.capitalize()} — score {_num(impact.score)}", "",
                  *[f"{k}: {v}" for k, v in _figures(impact)]]
        segments = [line.replace("`", "") for line in _segments(impact)]
        if segments:
            lines += ["", "Leading segments:", *segments]
        linked = _linked(impact, str)
        if linked:
            lines += ["", "Linked by " + ", ".join(linked)]
        suggested = _matches(impact, _plain)
        if suggested:
            lines += ["", "Suggested links (their text matches this issue; add the reference "
                      "to confirm):", *suggested]
        lines += ["", "How the score was made:", *_how(impact)]
        said = [" ".join(redact(q).split()) for q in quotes]
        said = [s if len(s) <= _QUOTE_LIMIT else s[: _QUOTE_LIMIT - 1].rstrip() + "…"
                for s in said if s]
        if said:
            lines += ["", "What customers said (redacted):", *[f"“{s}”" for s in said]]
    lines += ["", "Maintained by impactlink; edits to this comment are overwritten."]
    return "\n".join(lines)


def splice(existing: str, rendered: str, *, marker: str = MARKER) -> str:
    """Return existing text with its fenced part replaced by rendered (fence included)."""
    span = fence(existing, marker)
    if span is None:
        return rendered
    return existing[:span[0]] + rendered + existing[span[1]:]


def fence(text: str, marker: str = MARKER) -> tuple[int, int] | None:
    """Return where the fenced part of text starts and ends, or None when it has none.

    A fence counts only in the exact form written, alone on its line; seal() keeps the
    marker's name out of everything between the two, so the first closing fence is ours.
    A fence left unclosed runs to the end of the text.
    """
    start = _line_at(text, marker, 0)
    if start < 0:
        return None
    close = end_marker(marker)
    end = _line_at(text, close, start + len(marker))
    return start, len(text) if end < 0 else end + len(close)


def _line_at(text: str, line: str, start: int) -> int:
    """Return where line stands alone on a line of text (LF or CRLF), from start; else -1."""
    at = text.find(line, start)
    while at >= 0:
        after = at + len(line)
        if (at == 0 or text[at - 1] == "\n") and (after == len(text) or text[after] in "\r\n"):
            return at
        at = text.find(line, at + 1)
    return -1


def seal(body: str, marker: str = MARKER, *, limit: int = GITHUB_LIMIT) -> str:
    """Return a rendered body whose fence no value inside can forge, within limit characters.

    Between the opening marker and the closing one (when there is one), the marker's name
    is broken with a zero-width space wherever a rendered value (segment value, feature
    name, quote) carries it, and bidi controls are dropped. A body over the limit is
    shortened at a line end, keeping both fences.
    """
    close = end_marker(marker)
    inner = body.removeprefix(marker).removeprefix("\n")
    tail = ""
    if inner.endswith(close):
        inner, tail = inner[: -len(close)].removesuffix("\n"), "\n" + close
    name = marker.removeprefix("<!--").removesuffix("-->").strip()
    inner = "".join(c for c in inner if c not in BIDI).replace(name, name[0] + ZW + name[1:])
    room = limit - len(marker) - 1 - len(tail)
    if len(inner) > room:
        inner = _shorten(inner, room)
    return f"{marker}\n{inner}{tail}"


def _shorten(text: str, room: int) -> str:
    """Cut text at a line end to fit room with the note that says so, closing a details."""
    keep = text[: max(0, room - len(_SHORTENED) - 20)]
    keep = keep[: keep.rfind("\n")] if "\n" in keep else keep
    if keep.count("<details>") > keep.count("</details>"):
        keep += "\n\n</details>"
    return f"{keep}\n\n{_SHORTENED}"
