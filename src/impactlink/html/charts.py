"""The report's charts as inline SVG, assembled by hand (pure: no I/O, every text escaped).

Three shapes are all the report needs: weekly proportions with intervals, weekly counts as
lines, and proportions per segment as bars. A few lines of SVG each keep the page small and
free of a plotting dependency; colours come from the page's stylesheet (classes ``c0``…).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from impactlink.core.formulas import wilson

SERIES_COLOURS = 5
"""Line series get classes c0..c4 (report.css)."""


@dataclass(frozen=True, slots=True)
class Box:
    """A chart's size and the plot area inside it."""

    width: int
    height: int
    left: int = 34
    right: int = 8
    top: int = 22
    bottom: int = 22

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom

    def x(self, fraction: float) -> float:
        return self.left + fraction * self.plot_w

    def y(self, fraction: float) -> float:
        return self.top + (1 - fraction) * self.plot_h


def _n(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _svg(box: Box, label: str, body: list[str]) -> str:
    return (f'<svg class="chart" viewBox="0 0 {box.width} {box.height}" width="{box.width}" '
            f'height="{box.height}" role="img" aria-label="{escape(label)}">'
            f"<title>{escape(label)}</title>{''.join(body)}</svg>")


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start") -> str:
    klass = f' class="{cls}"' if cls else ""
    return (f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}"{klass}>'
            f"{escape(text)}</text>")


def _percent_axis(box: Box) -> list[str]:
    out = []
    for p in (0.0, 0.5, 1.0):
        y = box.y(p)
        out.append(f'<line class="grid" x1="{box.left}" x2="{_n(box.x(1))}" '
                   f'y1="{_n(y)}" y2="{_n(y)}"/>')
        out.append(_text(box.left - 4, y + 3, f"{p * 100:.0f}%", "axis", "end"))
    return out


def _band(box: Box, x1: float, x2: float, counts: tuple[int, int], cls: str) -> list[str]:
    n, s = counts
    if n <= 0:
        return []
    lo, hi = wilson(s, n)
    p = s / n
    return [f'<rect class="{cls}" x="{_n(x1)}" width="{_n(x2 - x1)}" y="{_n(box.y(hi))}" '
            f'height="{_n(box.y(lo) - box.y(hi))}"><title>{p * 100:.1f}% '
            f"({lo * 100:.1f}–{hi * 100:.1f}), n={n}</title></rect>",
            f'<line class="{cls}-line" x1="{_n(x1)}" x2="{_n(x2)}" y1="{_n(box.y(p))}" '
            f'y2="{_n(box.y(p))}"/>']


def csat_weeks(title: str, labels: Sequence[str], responses: Sequence[int],
               satisfied: Sequence[int], previous_share: float,
               windows: tuple[tuple[int, int], tuple[int, int]], start: str = "") -> str:
    """Return weekly CSAT points with Wilson intervals; the previous window shaded.

    ``labels`` name each week by its last day, ``start`` the axis's first day;
    ``previous_share`` is the fraction of the axis (from its left) in the previous window;
    ``windows`` the (n, s) of the current and the previous window.
    """
    box = Box(340, 150)
    weeks = len(labels)
    split = box.x(previous_share)
    body = [f'<rect class="previous" x="{box.left}" y="{box.top}" width="{_n(split - box.left)}" '
            f'height="{_n(box.plot_h)}"/>', *_percent_axis(box)]
    body += _band(box, box.left, split, windows[1], "band-prev")
    body += _band(box, split, box.x(1), windows[0], "band")
    for i, (n, s) in enumerate(zip(responses, satisfied, strict=True)):
        if n <= 0:
            continue
        x = box.x((i + 0.5) / weeks)
        lo, hi = wilson(s, n)
        body.append(f'<g class="pt"><title>week to {escape(labels[i])}: {s / n * 100:.1f}% '
                    f"({lo * 100:.1f}–{hi * 100:.1f}), n={n}</title>"
                    f'<line x1="{_n(x)}" x2="{_n(x)}" y1="{_n(box.y(hi))}" y2="{_n(box.y(lo))}"/>'
                    f'<circle cx="{_n(x)}" cy="{_n(box.y(s / n))}" r="2.5"/></g>')
    body.append(_text(box.left, 14, title, "title"))
    if weeks:
        body.append(_text(box.left, box.height - 6, start or labels[0], "axis"))
        body.append(_text(split, box.height - 6, "window", "axis", "middle"))
        body.append(_text(box.x(1), box.height - 6, labels[-1], "axis", "end"))
    return _svg(box, f"CSAT per week: {title}", body)


def _nice_max(value: float) -> int:
    for step in (1, 2, 5):
        for scale in (1, 10, 100, 1000, 10000, 100000):
            if step * scale >= value:
                return step * scale
    return int(value) + 1


def weekly_lines(title: str, labels: Sequence[str],
                 series: Sequence[tuple[str, Sequence[float]]], start: str = "") -> str:
    """Return one line per series over the weeks (named by their last day), with a legend."""
    rows = (len(series) + 1) // 2
    box = Box(720, 200 + 16 * rows, left=40, bottom=26 + 16 * rows)
    top = _nice_max(max((v for _, values in series for v in values), default=0) or 1)
    body = []
    for p in (0.0, 0.5, 1.0):
        y = box.y(p)
        body.append(f'<line class="grid" x1="{box.left}" x2="{_n(box.x(1))}" '
                    f'y1="{_n(y)}" y2="{_n(y)}"/>')
        body.append(_text(box.left - 4, y + 3, _n(top * p), "axis", "end"))
    weeks = len(labels)
    for k, (name, values) in enumerate(series):
        cls = f"c{k % SERIES_COLOURS}"
        points = [(box.x((i + 0.5) / weeks), box.y(v / top)) for i, v in enumerate(values)]
        path = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
        body.append(f'<polyline class="line {cls}" points="{path}"/>')
        body += [f'<circle class="{cls}" cx="{_n(x)}" cy="{_n(y)}" r="2.5"><title>'
                 f"{escape(name)}, week to {escape(labels[i])}: {_n(values[i])}</title></circle>"
                 for i, (x, y) in enumerate(points)]
        lx, ly = box.left + (k % 2) * 340, box.top + box.plot_h + 34 + 16 * (k // 2)
        body.append(f'<rect class="{cls}" x="{lx}" y="{ly - 8}" width="10" height="10"/>')
        body.append(_text(lx + 14, ly + 1, _short(name, 52)))
    body.append(_text(box.left, 14, title, "title"))
    if weeks:
        base = box.top + box.plot_h + 14
        body.append(_text(box.left, base, start or labels[0], "axis"))
        body.append(_text(box.x(1), base, labels[-1], "axis", "end"))
    return _svg(box, title, body)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def segment_bars(title: str, segments: Sequence[tuple[str, int, int]]) -> str:
    """Return CSAT per segment value as bars with Wilson intervals: (label, n, satisfied)."""
    box = Box(520, 40 + 20 * max(len(segments), 1), left=170, right=110, top=26, bottom=14)
    body = [_text(8, 16, title, "title")]
    for p in (0.0, 0.5, 1.0):
        x = box.x(p)
        body.append(f'<line class="grid" x1="{_n(x)}" x2="{_n(x)}" y1="{box.top - 4}" '
                    f'y2="{_n(box.top + box.plot_h)}"/>')
    if not segments:
        body.append(_text(box.left, box.top + 14, "no segment values in the window", "axis"))
    for i, (label, n, s) in enumerate(segments):
        y = box.top + 20 * i
        body.append(_text(box.left - 6, y + 12, _short(label, 28), "", "end"))
        if n <= 0:
            body.append(_text(box.left, y + 12, "no answers", "axis"))
            continue
        lo, hi = wilson(s, n)
        body.append(f'<g class="seg"><title>{escape(label)}: {s / n * 100:.1f}% '
                    f"({lo * 100:.1f}–{hi * 100:.1f}), n={n}</title>"
                    f'<rect x="{box.left}" y="{y + 3}" width="{_n(box.plot_w * s / n)}" '
                    f'height="12"/><line x1="{_n(box.x(lo))}" x2="{_n(box.x(hi))}" '
                    f'y1="{y + 9}" y2="{y + 9}"/></g>')
        body.append(_text(box.x(1) + 6, y + 12, f"{s / n * 100:.1f}%  n={n}", "axis"))
    return _svg(box, title, body)
