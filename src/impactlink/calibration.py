"""``report --calibration``: how often text attribution finds the bug a customer named.

Labelled data (IMPACT_MODEL.md, "Calibration"): linked records in the window that name
exactly one open issue and carry one of its features. Each is attributed among the
candidates of its own features as if it named none; top-1 is right when the named issue
gets the largest attribution (ties: the issue first in issue order, as the model breaks
them), beside the even split's 1/m and the mean attribution the named issue receives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from impactlink.core.matching import parse_link_key
from impactlink.core.models import IssueKey
from impactlink.core.text import split_terms
from impactlink.engine.bm25 import match_many
from impactlink.store import aggregate, state
from impactlink.store.records import RESPONSES, TICKETS

if TYPE_CHECKING:
    from impactlink.core.matching import Matcher
    from impactlink.pipeline import Pipeline


@dataclass
class Calibration:
    """Accuracy of text attribution on one feature's labelled records (or all of them)."""

    feature: str
    labelled: int = 0
    top1: int = 0
    even: float = 0.0
    """Σ 1/m: the even split's expected top-1 hits."""
    attribution: float = 0.0
    """Σ a(r, named issue)."""

    def row(self) -> dict[str, object]:
        n = self.labelled
        return {"feature": self.feature, "labelled": n,
                "top1_accuracy": round(self.top1 / n, 4) if n else None,
                "even_split": round(self.even / n, 4) if n else None,
                "mean_attribution": round(self.attribution / n, 4) if n else None}


def _labelled(pipeline: Pipeline, matcher: Matcher, as_of: datetime
              ) -> list[tuple[frozenset[str], IssueKey, list[str]]]:
    """Return (record features, named issue, terms) of the window's labelled records."""
    window = aggregate.Window(as_of, pipeline.settings.impact.window_days)
    out = []
    with pipeline.engine.connect() as conn:
        for table, at in ((TICKETS, TICKETS.c.created_at), (RESPONSES, RESPONSES.c.submitted_at)):
            query = (select(table.c.link_key, table.c.terms)
                     .where(at > window.start, at <= window.end, table.c.link_key.like("%r:%")))
            for key, terms in conn.execute(query):
                links = matcher.links(key)
                if len(links) != 1 or not links[0].explicit:
                    continue
                features = parse_link_key(key)[0]
                named = links[0].issue
                if features & set(matcher.issue_features.get(named, ())):
                    out.append((features, named, split_terms(terms)))
    return out


def calibrate(pipeline: Pipeline, as_of: datetime) -> list[Calibration]:
    """Return the calibration per feature, then overall ("all")."""
    from impactlink.pipeline import impact_settings

    settings = impact_settings(pipeline.settings)
    with pipeline.engine.connect() as conn:
        matcher = pipeline.matcher(state.load_issues(conn), state.issue_terms(conn))
    labelled = _labelled(pipeline, matcher, as_of)
    by_features: dict[frozenset[str], list[tuple[IssueKey, list[str]]]] = {}
    for features, named, terms in labelled:
        by_features.setdefault(features, []).append((named, terms))
    per: dict[str, Calibration] = {}
    overall = Calibration("all")
    for features, group in sorted(by_features.items(), key=lambda kv: sorted(kv[0])):
        cset = matcher.candidate_set(features)
        found = match_many(cset, [t for _, t in group], settings.text_candidates)
        for (named, _), kept in zip(group, found, strict=True):
            att = settings.attribution([(cset.keys[c], s) for c, s in kept], cset.m)
            best = max(cset.keys, key=lambda k: (att.of(k), -cset.keys.index(k)))
            shared = sorted(features & set(matcher.issue_features.get(named, ())))
            for cal in (*(per.setdefault(f, Calibration(f)) for f in shared), overall):
                cal.labelled += 1
                cal.top1 += best == named
                cal.even += 1 / cset.m
                cal.attribution += att.of(named)
    return [*(per[f] for f in sorted(per)), overall]


def render(rows: list[Calibration], format: str, as_of: datetime, window_days: int) -> str:
    """Return the calibration as table text, JSON or Markdown."""
    data = [r.row() for r in rows]
    if format == "json":
        return json.dumps({"as_of": as_of.isoformat(), "window_days": window_days,
                           "calibration": data}, indent=2)

    def pct(v: object) -> str:
        return "–" if v is None else f"{100 * float(v):.1f} %"  # type: ignore[arg-type]

    head = ["feature", "labelled", "top-1 accuracy", "even split 1/m", "mean attribution"]
    body = [[str(r["feature"]), str(r["labelled"]), pct(r["top1_accuracy"]),
             pct(r["even_split"]), pct(r["mean_attribution"])] for r in data]
    intro = (f"Calibration of text attribution as of {as_of.isoformat()}, window "
             f"{window_days} days: records that name one open issue and carry its feature, "
             "attributed as if they named none.")
    if format == "markdown":
        lines = [intro, "", "| " + " | ".join(head) + " |",
                 "|" + "---|" * len(head), *("| " + " | ".join(b) + " |" for b in body)]
        return "\n".join(lines) + "\n"
    if format == "csv":
        import csv
        import io

        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(head)
        writer.writerows(body)
        return buf.getvalue()
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = [intro, "", "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    if not any(r["labelled"] for r in data):
        lines.append("no labelled records in the window: add explicit issue references to "
                     "tickets (e.g. acme/shop#12) to measure attribution")
    return "\n".join(lines) + "\n"


__all__ = ["Calibration", "calibrate", "render"]
