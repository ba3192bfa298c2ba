"""Text attribution (IMPACT_MODEL.md, "Attribution"): BM25 within a candidate set, top k, softmax.

This is the model written out plainly, one record at a time: ``report --explain``, the
calibration and the tests use it, and the bulk path (impactlink.engine.bm25) must agree
with it. Issue texts are token lists (tf and dl count repeats); record texts are sets.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from impactlink.core.models import IssueKey
from impactlink.core.text import cap

K1 = 1.2
B = 0.75

_GITHUB_KEY = re.compile(r"^(.*)#(\d+)$")
_JIRA_KEY = re.compile(r"^(.*)-(\d+)$")


def issue_order(key: str) -> tuple[str, int, str]:
    """Return the tie-break order of an issue: (repository or project, number), smaller first."""
    m = _GITHUB_KEY.match(key) or _JIRA_KEY.match(key)
    if m is None:
        return (key, 0, key)
    return (m.group(1), int(m.group(2)), key)


@dataclass(frozen=True, slots=True)
class Match:
    """One kept candidate of a record: its BM25 score s > 0."""

    issue: IssueKey
    score: float


class CandidateSet:
    """The issues a feature-linked record may be about, indexed for BM25 (idf within the set)."""

    def __init__(self, issues: Mapping[IssueKey, Sequence[str]]) -> None:
        self.keys: tuple[IssueKey, ...] = tuple(sorted(issues, key=issue_order))
        self.m = len(self.keys)
        self._texts = {k: " ".join(issues[k]) for k in self.keys}
        self.tf: dict[IssueKey, Counter[str]] = {k: Counter(issues[k]) for k in self.keys}
        self.dl: dict[IssueKey, int] = {k: len(issues[k]) for k in self.keys}
        self.avgdl = sum(self.dl.values()) / self.m if self.m else 0.0
        df: Counter[str] = Counter()
        for counts in self.tf.values():
            df.update(counts.keys())
        self.df = df

    def idf(self, term: str) -> float:
        """Return ln(1 + (m − df + 0.5) / (df + 0.5))."""
        df = self.df.get(term, 0)
        return math.log(1 + (self.m - df + 0.5) / (df + 0.5))

    def term_score(self, term: str, issue: IssueKey) -> float:
        """Return one term's BM25 contribution to one issue (0 when the issue lacks it)."""
        tf = self.tf[issue].get(term, 0)
        if tf == 0 or self.avgdl == 0:
            return 0.0
        norm = 1 - B + B * self.dl[issue] / self.avgdl
        return self.idf(term) * tf * (K1 + 1) / (tf + K1 * norm)

    def scores(self, terms: Iterable[str]) -> dict[IssueKey, float]:
        """Return s(r, I) for every candidate I with s > 0, for a record's distinct terms."""
        if self.avgdl == 0:
            return {}
        out: dict[IssueKey, float] = {}
        for term in sorted(set(terms)):
            if term not in self.df:
                continue
            for issue in self.keys:
                s = self.term_score(term, issue)
                if s > 0:
                    out[issue] = out.get(issue, 0.0) + s
        return out

    def matches(self, terms: Iterable[str], k: int) -> tuple[Match, ...]:
        """Return the k best candidates with s > 0, ties broken by issue order."""
        scored = self.scores(terms)
        best = sorted(scored.items(), key=lambda kv: (-kv[1], issue_order(kv[0])))[:k]
        return tuple(Match(issue, s) for issue, s in best)

    def matched_words(self, terms: Iterable[str], issue: IssueKey) -> list[str]:
        """Return the record's terms that occur in one candidate's text (stems, sorted)."""
        counts = self.tf[issue]
        return sorted(t for t in set(terms) if t in counts)

    @property
    def fingerprint(self) -> str:
        """Return a hash of the set's issues and texts: stored matches are valid while it holds."""
        h = hashlib.sha256()
        for key in self.keys:
            h.update(f"{key}\0{self._texts[key]}\n".encode())
        return h.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Attribution:
    """How a feature-linked record spreads over its m candidates."""

    m: int
    base: float
    """a(r, I) of every candidate outside the kept matches: 1 / Z."""
    kept: tuple[tuple[IssueKey, float], ...] = ()
    """a(r, I) of each kept match."""

    def of(self, issue: IssueKey) -> float:
        for key, a in self.kept:
            if key == issue:
                return a
        return self.base


def attribute(matches: Sequence[Match], m: int, beta: float, *,
              mode: str = "shared", text: bool = True) -> Attribution:
    """Return a(r, ·): softmax of β·s over the candidates, s = 0 outside the kept matches."""
    if m <= 0:
        return Attribution(0, 0.0)
    if mode == "full":
        return Attribution(m, 1.0)
    if not text or beta == 0 or not matches:
        return Attribution(m, 1.0 / m)
    # Shifted by the largest exponent, so that a large β·s cannot overflow.
    top = max(0.0, max(beta * x.score for x in matches))
    exps = [(x.issue, math.exp(beta * x.score - top)) for x in matches]
    rest = math.exp(-top)
    z = sum(e for _, e in exps) + (m - len(exps)) * rest
    return Attribution(m, rest / z, tuple((key, e / z) for key, e in exps))


def issue_text(title: str, body: str) -> str:
    """Return an issue's text: its title, a space, and the counted part of its body."""
    return f"{title} {cap(body)}" if body else title
