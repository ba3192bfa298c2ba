"""docs/impact-model.md's worked examples: their records, computed by the core, give their figures.

The first example has no text (every feature-linked record splits evenly); the second
computes one attribution by hand over three candidates and the figures that follow.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from impactlink.core.attribution import CandidateSet, attribute, issue_text
from impactlink.core.impact import (
    CustomerInfo,
    ImpactSettings,
    LinkedRecord,
    Population,
    compute,
)
from impactlink.core.matching import Catalog, Feature, Matcher, link_key
from impactlink.core.models import Impact, Issue, IssueKey
from impactlink.core.refs import collect_refs
from impactlink.core.scales import is_satisfied, parse_score
from impactlink.core.tags import normalize_tags, split_list
from impactlink.core.text import cap, tokenizer

DOC = Path(__file__).parents[1] / "docs" / "impact-model.md"
SOURCE = "zendesk"  # every record of the examples comes from one source


def block(name: str) -> list[str]:
    """Return the lines of the table or fenced block that follows ``<!-- example:NAME -->``."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"<!-- example:{name} -->") + 1
    if lines[start].startswith("```"):
        end = lines.index("```", start + 1)
        return lines[start + 1:end]
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return lines[start:end]


def table(name: str) -> list[dict[str, str]]:
    header, _, *rows = ([c.strip() for c in line.strip().strip("|").split("|")]
                        for line in block(name))
    return [dict(zip(header, row, strict=True)) for row in rows]


class Example:
    """One worked example of the page: ``prefix`` names its blocks (``""`` or ``attribution-``)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.config: dict[str, Any] = tomllib.loads("\n".join(block(f"{prefix}config")))
        self.catalog = Catalog(
            Feature(name, tags=tuple(f.get("tags", ())), labels=tuple(f.get("labels", ())),
                    active_customers=f.get("active_customers"))
            for name, f in self.config["features"].items())
        self.customers = {
            f"a:{row['customer']}": CustomerInfo(arr=float(row["ARR"]) if row["ARR"] else None,
                                                 plan=row.get("plan") or None)
            for row in table(f"{prefix}customers")}
        self.issues = [Issue(IssueKey(row["issue"]), title=row["title"],
                             labels=tuple(split_list(row["labels"])), body=row.get("body", ""))
                       for row in table(f"{prefix}issues")]
        self.texts = {i.key: tokenizer().tokens(issue_text(i.title, i.body)) for i in self.issues}

    def settings(self, customer_base: int | None) -> ImpactSettings:
        impact = {k: v for k, v in self.config.get("impact", {}).items() if k != "customer_base"}
        return ImpactSettings(customer_base=customer_base, **impact)

    def records(self) -> tuple[list[LinkedRecord], Population]:
        """Turn the records table into linked records as the store does; count the window."""
        keys: dict[str, str] = {}
        terms: dict[str, set[str]] = {}
        out: list[LinkedRecord] = []
        responses = dissatisfied = 0
        customers_now: set[str] = set()
        for r in table(f"{self.prefix}records"):
            subject, text = r.get("subject", ""), r.get("text", "")
            features = self.catalog.features_for_tags(normalize_tags(split_list(r["tags"])))
            refs = collect_refs([r["reference field"]], [subject, text])
            key = keys[r["id"]] = link_key(features, refs)
            own = terms[r["id"]] = set(tokenizer().terms(
                f"{subject} {cap(text)}" if r["kind"] == "ticket" else text))
            if r["rates"]:
                key = "|".join(k for k in (key, keys[r["rates"]]) if k)
                own |= terms[r["rates"]]
            customer = f"a:{r['customer']}"
            previous = r.get("window", "now") == "previous"
            plan = self.customers[customer].plan
            satisfied = (is_satisfied(parse_score(r["score"], "1-5"), "1-5")
                         if r["kind"] == "response" else None)
            if key:
                out.append(LinkedRecord(
                    "ticket" if r["kind"] == "ticket" else "csat", f"{SOURCE}:{r['id']}",
                    customer, key, previous,
                    {"ticket": "ticket", "response": "answered"}.get(r["kind"], "offered"),
                    satisfied, tuple(sorted(own)), (("plan", plan),) if plan else ()))
            if not previous:
                customers_now.add(customer)
                responses += r["kind"] == "response"
                dissatisfied += r["kind"] == "response" and not satisfied
        arrs = [i.arr for i in self.customers.values() if i.arr is not None]
        return out, Population(responses, dissatisfied, len(customers_now),
                               sum(arrs) / len(arrs) if arrs else None)

    def matcher(self) -> Matcher:
        return Matcher(self.issues, self.catalog, default_repo=self.config["tracker"]["repos"][0],
                       texts=self.texts)

    def impacts(self, customer_base: int | None) -> dict[IssueKey, Impact]:
        records, population = self.records()
        return compute(records, self.matcher(), self.catalog, self.customers, population,
                       self.settings(customer_base))

    @property
    def base(self) -> int | None:
        base: int | None = self.config.get("impact", {}).get("customer_base")
        return base


EXAMPLES = {"no text": Example(""), "attribution": Example("attribution-")}


def parse(cell: str) -> object:
    if cell in ("—", ""):
        return None
    if cell in ("yes", "no"):
        return cell == "yes"
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        return float(cell)
    except ValueError:
        return cell


def actual(impact: Impact, figure: str) -> object:
    value: Any = impact
    for part in figure.split("."):
        value = getattr(value, part)
    return value


SUGGESTION = re.compile(r"([\w:]+) \(([\d.]+)\)")


def figure_rows() -> list[tuple[str, dict[str, str]]]:
    return [(name, row) for name, ex in EXAMPLES.items()
            for row in table(f"{ex.prefix}figures")]


def issues_of(row: dict[str, str]) -> list[str]:
    return [name for name in row if name != "figure"]


def test_each_example_has_every_issue_and_nothing_else() -> None:
    for ex in EXAMPLES.values():
        assert sorted(ex.impacts(ex.base)) == sorted(issues_of(table(f"{ex.prefix}figures")[0]))


@pytest.mark.parametrize(("example", "row"), figure_rows(),
                         ids=[f"{name}: {row['figure']}" for name, row in figure_rows()])
def test_worked_example_figure(example: str, row: dict[str, str]) -> None:
    ex = EXAMPLES[example]
    figure = row["figure"]
    result = ex.impacts(None if figure == "level without customer_base" else ex.base)
    for issue in issues_of(row):
        impact = result[IssueKey(issue)]
        if figure in ("features", "references"):
            assert actual(impact, figure) == tuple(split_list(row[issue])), issue
        elif figure == "suggested_links":
            assert [(x.record, x.attribution) for x in impact.suggested_links] == [
                (r, float(a)) for r, a in SUGGESTION.findall(row[issue])], issue
        elif figure == "level without customer_base":
            assert impact.level == row[issue], issue
        else:
            assert actual(impact, figure) == parse(row[issue]), issue


def test_worked_example_segments() -> None:
    ex = EXAMPLES["no text"]
    result = ex.impacts(ex.base)
    for issue in issues_of(table("figures")[0]):
        expected = [(r["segment"], r["value"], parse(r["responses"]), parse(r["satisfied"]),
                     parse(r["csat"]), parse(r["customers_observed"]))
                    for r in table("segments") if r["issue"] == issue]
        got = [(g.name, g.value, g.responses, g.satisfied, g.csat, g.customers_observed)
               for g in result[IssueKey(issue)].segments]
        assert got == expected, issue


def test_the_worked_examples_cover_every_reported_figure() -> None:
    named = {row["figure"].split(".")[0] for _, row in figure_rows()} | {"segments"}
    reported = {f for f in Impact.__dataclass_fields__ if f not in ("issue", "title", "url",
                                                                    "explanation")}
    assert reported <= named


# --- the attribution computed by hand ---------------------------------------------------------

ATT = EXAMPLES["attribution"]
RECORD = "T1"


def shown(cell: str, value: float) -> None:
    """Assert that value, rounded as the cell shows it, is the cell."""
    digits = len(cell.split(".")[1]) if "." in cell else 0
    assert round(value, digits) == pytest.approx(float(cell), abs=10**-digits / 10), cell


def candidate_set() -> CandidateSet:
    return ATT.matcher().candidate_set(["checkout"])


def record_terms() -> list[str]:
    row = next(r for r in table("attribution-records") if r["id"] == RECORD)
    return tokenizer().terms(f"{row['subject']} {cap(row['text'])}")


def test_attribution_example_tokens() -> None:
    rows = {r["text"]: r for r in table("attribution-tokens")}
    for key, tokens in ATT.texts.items():
        assert rows[key]["tokens"].split() == tokens, key
        assert int(rows[key]["dl"]) == len(tokens), key
    assert rows[RECORD]["tokens"].split() == record_terms()
    assert candidate_set().keys == tuple(ATT.texts)  # the record's candidates: all three


def test_attribution_example_df_idf_and_tf() -> None:
    cs = candidate_set()
    rows = table("attribution-terms")
    assert [r["term"] for r in rows] == record_terms()
    for r in rows:
        term = r["term"]
        assert int(r["df"]) == cs.df.get(term, 0), term
        if cs.df.get(term, 0):
            shown(r["idf"], cs.idf(term))
        else:  # in no candidate's text: its idf never counts
            assert r["idf"] == "—", term
        for key in cs.keys:
            assert int(r[f"tf {key[key.index('#'):]}"]) == cs.tf[key].get(term, 0), (term, key)


def test_attribution_example_bm25_and_softmax() -> None:
    cs = candidate_set()
    settings = ATT.settings(None)
    assert (settings.text_weight, settings.text_candidates) == (1.0, 5)
    matches = cs.matches(record_terms(), settings.text_candidates)
    scores = {m.issue: m.score for m in matches}
    a = attribute(matches, cs.m, settings.text_weight)
    rows = table("attribution-scores")
    assert [r["issue"] for r in rows] == list(cs.keys)
    for r in rows:
        key = IssueKey(r["issue"])
        shown(r["dl/avgdl"], cs.dl[key] / cs.avgdl)
        shown(r["s"], scores.get(key, 0.0))
        shown(r["e^s"], math.exp(scores.get(key, 0.0)))
        shown(r["a"], a.of(key))
    assert math.fsum(a.of(k) for k in cs.keys) == pytest.approx(1.0)
