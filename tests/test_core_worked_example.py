"""docs/impact-model.md's worked example: its records, computed by the core, give its figures."""

from __future__ import annotations

import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from impactlink.core.impact import CustomerInfo, ImpactSettings, Population, Slice, compute
from impactlink.core.matching import Catalog, Feature, Matcher, link_key
from impactlink.core.models import Impact, Issue, IssueKey
from impactlink.core.refs import collect_refs
from impactlink.core.scales import is_satisfied, parse_score
from impactlink.core.tags import normalize_tags, split_list

DOC = Path(__file__).parents[1] / "docs" / "impact-model.md"


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
    header, _, *rows = ([c.strip() for c in line.strip("|").split("|")] for line in block(name))
    return [dict(zip(header, row, strict=True)) for row in rows]


def config() -> dict[str, Any]:
    return tomllib.loads("\n".join(block("config")))


def catalog() -> Catalog:
    return Catalog(Feature(name, tags=tuple(f.get("tags", ())), labels=tuple(f.get("labels", ())),
                           active_customers=f.get("active_customers"))
                   for name, f in config()["features"].items())


def customers() -> dict[str, CustomerInfo]:
    return {f"a:{row['customer']}": CustomerInfo(arr=float(row["ARR"]) if row["ARR"] else None,
                                                 plan=row["plan"] or None)
            for row in table("customers")}


def slices_and_population(cat: Catalog) -> tuple[list[Slice], Population]:
    """Reduce the records to slices as the store does, and count the whole window."""
    infos = customers()
    keys: dict[str, str] = {}
    counts: dict[tuple[str, str, bool, tuple[tuple[str, str], ...]], list[int]] = defaultdict(
        lambda: [0, 0, 0, 0])
    responses = dissatisfied = 0
    customers_now: set[str] = set()
    for r in table("records"):
        features = cat.features_for_tags(normalize_tags(split_list(r["tags"])))
        key = keys[r["id"]] = link_key(features, collect_refs([r["reference field"]], []))
        if r["rates"]:
            key = "|".join(k for k in (key, keys[r["rates"]]) if k)
        customer = f"a:{r['customer']}"
        previous = r["window"] == "previous"
        plan = infos[customer].plan
        c = counts[(key, customer, previous, (("plan", plan),) if plan else ())]
        satisfied = r["kind"] == "response" and is_satisfied(parse_score(r["score"], "1-5"), "1-5")
        c[0] += r["kind"] == "response"
        c[1] += satisfied
        c[2] += r["kind"] == "offered"
        c[3] += r["kind"] == "ticket"
        if not previous:
            customers_now.add(customer)
            responses += r["kind"] == "response"
            dissatisfied += r["kind"] == "response" and not satisfied
    arrs = [i.arr for i in infos.values() if i.arr is not None]
    population = Population(responses, dissatisfied, len(customers_now),
                            sum(arrs) / len(arrs) if arrs else None)
    slices = [Slice(k, cust, prev, segs, *n) for (k, cust, prev, segs), n in counts.items() if k]
    return slices, population


def impacts(customer_base: int | None) -> dict[IssueKey, Impact]:
    cat = catalog()
    issues = [Issue(IssueKey(row["issue"]), title=row["title"],
                    labels=tuple(split_list(row["labels"]))) for row in table("issues")]
    settings = ImpactSettings(customer_base=customer_base)
    matcher = Matcher(issues, cat, default_repo=config()["tracker"]["repos"][0],
                      attribution=settings.feature_attribution)
    slices, population = slices_and_population(cat)
    return compute(slices, matcher, cat, customers(), population, settings)


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


FIGURES = table("figures")
ISSUES = [name for name in FIGURES[0] if name != "figure"]


def test_the_example_has_every_issue_and_nothing_else() -> None:
    assert sorted(impacts(config()["impact"]["customer_base"])) == sorted(ISSUES)


@pytest.mark.parametrize("row", FIGURES, ids=[row["figure"] for row in FIGURES])
def test_worked_example_figure(row: dict[str, str]) -> None:
    figure = row["figure"]
    base = None if figure == "level without customer_base" else config()["impact"]["customer_base"]
    result = impacts(base)
    for issue in ISSUES:
        impact = result[IssueKey(issue)]
        if figure in ("features", "references"):
            assert actual(impact, figure) == tuple(split_list(row[issue])), issue
        elif figure == "level without customer_base":
            assert impact.level == row[issue], issue
        else:
            assert actual(impact, figure) == parse(row[issue]), issue


def test_worked_example_segments() -> None:
    result = impacts(config()["impact"]["customer_base"])
    for issue in ISSUES:
        expected = [(r["segment"], r["value"], parse(r["responses"]), parse(r["satisfied"]),
                     parse(r["csat"]), parse(r["customers_observed"]))
                    for r in table("segments") if r["issue"] == issue]
        got = [(g.name, g.value, g.responses, g.satisfied, g.csat, g.customers_observed)
               for g in result[IssueKey(issue)].segments]
        assert got == expected, issue


def test_the_worked_example_covers_every_reported_figure() -> None:
    named = {row["figure"].split(".")[0] for row in FIGURES} | {"segments"}
    reported = {f for f in Impact.__dataclass_fields__ if f not in ("issue", "title", "url",
                                                                    "explanation")}
    assert reported <= named
