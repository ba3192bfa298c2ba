"""Every figure of Customer Impact against hand computation (IMPACT_MODEL.md, version 2)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from impactlink.core.impact import (
    CustomerInfo,
    ImpactSettings,
    LinkedRecord,
    Population,
    compute,
    csat_percent,
    estimate_affected,
    level_for,
    overall_dissatisfaction,
    pain,
    round_half_up,
    trend,
    two_proportion_p_value,
    wilson,
)
from impactlink.core.matching import Catalog, Feature, Matcher
from impactlink.core.models import Impact, Issue, IssueKey, SegmentFigures
from impactlink.core.text import tokenizer

SHARES = {"critical": 0.02, "high": 0.005, "medium": 0.001}
K = "f:checkout"  # the link key most scenarios use


def catalog(checkout_u: int | None = None, search_u: int | None = None) -> Catalog:
    return Catalog([
        Feature("checkout", tags=("payments",), labels=("area/checkout",),
                active_customers=checkout_u),
        Feature("search", labels=("area/search",), active_customers=search_u),
    ])


ONE_ISSUE = (Issue(IssueKey("acme/shop#1"), labels=("area/checkout",)),)


def run(records: Sequence[LinkedRecord], *, issues: Sequence[Issue] = ONE_ISSUE,
        cat: Catalog | None = None, customers: Mapping[str, CustomerInfo] | None = None,
        population: Population | None = None, texts: Mapping[str, str] | None = None,
        **impact: Any) -> dict[IssueKey, Impact]:
    cat = cat or catalog()
    s = ImpactSettings(**impact)
    m = Matcher(issues, cat, default_repo="acme/shop", attribution=s.feature_attribution,
                texts={IssueKey(k): tokenizer().tokens(t) for k, t in (texts or {}).items()})
    return compute(records, m, cat, customers or {}, population or Population(10, 5, 10), s)


def one(records: Sequence[LinkedRecord], **kwargs: Any) -> Impact:
    return run(records, **kwargs)[IssueKey("acme/shop#1")]


def explained(impact: Impact, *path: str | int) -> Any:
    """Return an input the explanation carries (the figures behind the figures)."""
    value: Any = impact.explanation
    for part in path:
        value = value[part]
    return value


_ids = itertools.count(1)


def _record(kind: str, status: str, satisfied: bool | None, customer: str, key: str,
            text: str, kw: dict[str, Any]) -> LinkedRecord:
    record = kw.pop("record", None) or f"src:{kind[0]}{next(_ids)}"
    return LinkedRecord(kind, record, customer, key, status=status,  # type: ignore[arg-type]
                        satisfied=satisfied, terms=tuple(tokenizer().terms(text)), **kw)


def sat(customer: str, key: str = K, text: str = "", **kw: Any) -> LinkedRecord:
    return _record("csat", "answered", True, customer, key, text, kw)


def dis(customer: str, key: str = K, text: str = "", **kw: Any) -> LinkedRecord:
    return _record("csat", "answered", False, customer, key, text, kw)


def ticket(customer: str, key: str = K, text: str = "", **kw: Any) -> LinkedRecord:
    return _record("ticket", "ticket", None, customer, key, text, kw)


def offered(customer: str, key: str = K, n: int = 1, **kw: Any) -> list[LinkedRecord]:
    return [_record("csat", "offered", None, customer, key, "", dict(kw)) for _ in range(n)]


# --- CSAT and its interval -------------------------------------------------------------------

@pytest.mark.parametrize(
    ("s", "n", "low", "high"),
    [
        (8, 10, 49.0, 94.3),
        (0, 10, 0.0, 27.8),
        (10, 10, 72.2, 100.0),
        (5, 10, 23.7, 76.3),
        (3, 6, 18.8, 81.2),
        (1, 1, 20.7, 100.0),
        (0, 1, 0.0, 79.3),
    ],
)
def test_wilson_interval_in_percent(s: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson(s, n)
    assert (round_half_up(100 * lo, 1), round_half_up(100 * hi, 1)) == (low, high)


def test_wilson_by_hand_for_8_of_10() -> None:
    z, n, p = 1.96, 10, 0.8
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(centre - half, abs=2e-4)
    assert hi == pytest.approx(centre + half, abs=2e-4)


def test_wilson_without_responses_is_the_whole_range() -> None:
    assert wilson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("s", "n", "expected"),
    [
        (8, 10, 80.0),
        (2, 3, 66.7),
        (1, 3, 33.3),
        (1, 6, 16.7),
        (1, 8, 12.5),
        (1, 16, 6.3),  # 6.25 rounds half up, not to even
        (3, 16, 18.8),
        (7, 2000, 0.4),  # 0.35 is 0.34999... as a float; by hand it is 0.4
        (0, 4, 0.0),
        (0, 0, None),
    ],
)
def test_csat_is_percent_to_one_decimal(s: int, n: int, expected: float | None) -> None:
    assert csat_percent(s, n) == expected


def test_issue_csat_and_interval_for_8_of_10() -> None:
    records = [sat(f"a:{i}") for i in range(8)] + [dis("a:8"), dis("a:9")]
    impact = one(records)
    assert (impact.responses, impact.satisfied, impact.dissatisfied) == (10, 8, 2)
    assert (impact.csat, impact.csat_low, impact.csat_high) == (80.0, 49.0, 94.3)


def test_issue_without_responses_has_no_csat() -> None:
    impact = one([ticket("a:x")])
    assert (impact.responses, impact.csat, impact.csat_low, impact.csat_high) == (
        0, None, None, None)


# --- customers observed ----------------------------------------------------------------------

def test_customers_observed_counts_tickets_and_dissatisfied_responses_only() -> None:
    records = [
        sat("a:happy"),
        dis("a:unhappy"),
        ticket("a:ticket"),
        *offered("a:silent"),
        sat("a:both"), ticket("a:both"),
        dis("a:twice"), dis("a:twice", key="f:checkout|r:#1"),
        dis("a:before", previous=True),
        sat("a:mixed"), dis("a:mixed"),
    ]
    impact = one(records)
    assert impact.customers_observed == 5  # unhappy, ticket, both, twice, mixed
    assert (impact.responses, impact.satisfied, impact.tickets, impact.offered) == (7, 3, 2, 1)


# --- the affected estimate -------------------------------------------------------------------

@pytest.mark.parametrize(
    ("observed", "n", "d", "o", "u", "expected"),
    [
        (3, 0, 0, 0, None, (3, 3, 3, "observed")),
        (2.5, 0, 0, 0, None, (3, 3, 3, "observed")),  # rounded half up
        # survey: 4 + 0.4 · 20 = 12; Wilson(4/10) = 0.1682..0.6873 → 4 + 3.36, 4 + 13.75
        (4, 10, 4, 20, None, (12, 7, 18, "survey")),
        (2, 0, 0, 5, None, (2, 2, 2, "observed")),  # offered but no responses
        # usage: max(3, 0.2 · 1000); Wilson(2/10) = 0.0567..0.5098
        (3, 10, 2, 0, 1000, (200, 57, 510, "usage")),
        (3, 10, 2, 20, 1000, (200, 57, 510, "usage")),  # usage wins over survey
        (5, 10, 1, 0, 10, (5, 5, 5, "usage")),  # observed beats p̂ · U, in the range too
        (1, 10, 0, 0, 1000, (1, 1, 278, "usage")),  # d = 0: upper bound 0.2775 · 1000
        (3, 0, 0, 4, 1000, (3, 3, 3, "observed")),  # U known but n = 0
    ],
)
def test_estimate_affected_by_method(observed: float, n: int, d: int, o: int, u: int | None,
                                     expected: tuple[int, int, int, str]) -> None:
    est = estimate_affected(observed, n, d, o, u)
    assert (est.affected, est.low, est.high, est.method) == expected


def test_usage_takes_the_largest_u_over_the_issue_features() -> None:
    issues = (Issue(IssueKey("acme/shop#1"), labels=("area/checkout", "area/search")),)
    records = [dis("a:0"), dis("a:1")] + [sat(f"a:{i}") for i in range(2, 10)]
    impact = one(records, issues=issues, cat=catalog(checkout_u=1000, search_u=3000))
    assert (impact.method, impact.linked_affected, impact.linked_affected_low,
            impact.linked_affected_high) == ("usage", 600, 170, 1530)
    # the only candidate: share 1, so affected is the linked estimate
    assert (impact.affected, impact.affected_low, impact.affected_high) == (600, 170, 1530)


def test_survey_counts_offered_surveys_linked_in_the_window() -> None:
    records = [dis("a:0"), dis("a:1"), dis("a:2"), dis("a:3")]
    records += [sat(f"a:{i}") for i in range(4, 10)]
    records += [*offered("a:o", n=15), *offered("a:p", n=5),
                *offered("a:q", n=7, previous=True)]
    impact = one(records)
    assert impact.offered == 20
    assert (impact.method, impact.affected, impact.affected_low, impact.affected_high) == (
        "survey", 12, 7, 18)


def test_complaint_multiplier_scales_ticket_only_customers_in_the_estimate() -> None:
    records = [
        ticket("a:t1", multiplier=3.0),
        ticket("a:t2", multiplier=2.0), ticket("a:t2", key="r:#1", multiplier=3.0),
        ticket("a:td", multiplier=3.0), dis("a:td"),  # also dissatisfied: counted once
        ticket("a:ts", multiplier=3.0), sat("a:ts"),  # a satisfied answer leaves it ticket-only
        dis("a:d"),
    ]
    impact = one(records, population=Population(0, 0, 10))
    assert impact.customers_observed == 5
    assert (impact.method, impact.linked_affected, impact.linked_affected_low,
            impact.linked_affected_high) == ("observed", 3 + 3 + 1 + 3 + 1, 11, 11)
    assert (impact.affected, impact.affected_low, impact.affected_high) == (11, 11, 11)
    # reach = 11 · Σ share (5 · 1) / 5 = 11; pain = (2 + 10 · 0.5) / (3 + 10)
    assert impact.reach == 11.0
    assert impact.score == round_half_up(11 * 7 / 13, 1) == 5.9


# --- ARR at risk and segments ----------------------------------------------------------------

def test_arr_at_risk_sums_known_arr_of_observed_affected_customers() -> None:
    customers = {
        "a:big": CustomerInfo(arr=1000.0),
        "a:small": CustomerInfo(arr=250.5),
        "a:happy": CustomerInfo(arr=500.0),
        "a:unknown": CustomerInfo(arr=None, plan="pro"),
        "a:old": CustomerInfo(arr=700.0),
    }
    records = [dis("a:big"), ticket("a:small"), sat("a:happy"), *offered("a:happy"),
               ticket("a:unknown"), ticket("a:ghost"), dis("a:old", previous=True)]
    impact = one(records, customers=customers)
    # 1000 + 250.5, rounded half up to a whole unit; the only candidate: every share is 1
    assert (impact.arr_at_risk, impact.linked_arr) == (1251.0, 1251.0)
    # with a second checkout bug each customer's share is 1/2: 625.25 → 625
    shared = run(records, issues=SHARED[:2], customers=customers)[IssueKey("acme/shop#1")]
    assert (shared.arr_at_risk, shared.linked_arr) == (625.0, 1251.0)


def test_arr_at_risk_weighs_each_arr_by_the_customers_share() -> None:
    customers = {"a:named": CustomerInfo(arr=900.0), "a:card": CustomerInfo(arr=3000.0),
                 "a:vague": CustomerInfo(arr=600.0)}
    records = [dis("a:named", key="r:#1"),
               ticket("a:card", text="My card payment is declined"),
               ticket("a:vague", text="Something is off")]
    impacts = run(records, issues=SHARED[:2], customers=customers,
                  texts={"acme/shop#1": "Card payment declined", "acme/shop#2": "Coupon ignored"})
    # a:card within {#1, #2}: "card", "payment", "declin" occur once in #1 only: df 1,
    # idf = ln(1 + 1.5 / 1.5) = ln 2; dl 3, avgdl (3 + 2) / 2 = 2.5, norm 0.25 + 0.75 · 1.2 = 1.15;
    # each term 0.693147 · 2.2 / (1 + 1.38) = 0.640724, s = 1.922173 for #1 and 0 for #2;
    # a = e^s / (e^s + e^0) = 0.872381 for #1, 0.127619 for #2. a:vague matches nothing: 1/2.
    first, second = impacts[IssueKey("acme/shop#1")], impacts[IssueKey("acme/shop#2")]
    # 900 + 3000 · 0.872381 + 600 · 0.5 = 3817.14
    assert (first.arr_at_risk, first.linked_arr) == (3817.0, 4500.0)
    # 3000 · 0.127619 + 600 · 0.5 = 682.86; a:named named #1 alone
    assert (second.arr_at_risk, second.linked_arr) == (683.0, 3600.0)


def test_segments_have_their_own_n_csat_and_customers_observed() -> None:
    pro_ios = (("plan", "pro"), ("platform", "ios"))
    enterprise = (("plan", "enterprise"),)
    records = [
        dis("a:a", segments=pro_ios),
        sat("a:b", segments=(("plan", "pro"), ("platform", "android"))),
        ticket("a:c", segments=(("plan", "enterprise"), ("platform", "ios"))),
        sat("a:d", segments=enterprise), dis("a:d", segments=enterprise),
        dis("a:e", previous=True, segments=(("plan", "pro"),)),
    ]
    assert one(records).segments == (
        SegmentFigures("plan", "enterprise", 2, 1, 50.0, 2),
        SegmentFigures("platform", "ios", 1, 0, 0.0, 2),
        SegmentFigures("plan", "pro", 2, 1, 50.0, 1),
        SegmentFigures("platform", "android", 1, 1, 100.0, 0),
    )


# --- trend -----------------------------------------------------------------------------------

def test_two_proportion_p_value_by_hand() -> None:
    # 2/10 now vs 8/10 before: pooled 0.5, se = √(0.25 · 0.2) = 0.22361, z = −0.6 / se = −2.6833;
    # two-sided p = 2 · (1 − Φ(2.6833)) = 2 · 0.003645 = 0.00729 (normal table).
    assert two_proportion_p_value(2, 10, 8, 10) == pytest.approx(0.00729, abs=5e-5)
    # 6/10 vs 4/10: z = 0.2 / 0.22361 = 0.8944, p = 2 · (1 − 0.81446) = 0.3711.
    assert two_proportion_p_value(6, 10, 4, 10) == pytest.approx(0.3711, abs=5e-5)


@pytest.mark.parametrize(
    ("n", "s", "n_prev", "s_prev", "expected"),
    [
        (10, 2, 10, 8, (-60.0, 80.0, 0.0073, True)),
        (10, 6, 10, 4, (20.0, 40.0, 0.3711, False)),
        (6, 3, 5, 4, (-30.0, 80.0, 0.3031, False)),
        # unrounded proportions: 33.33 − 66.67 = −33.3 (the rounded csats would give −33.4)
        (6, 2, 6, 4, (-33.3, 66.7, 0.2482, False)),
        (5, 5, 5, 5, (0.0, 100.0, 1.0, False)),  # no variance: nothing to test
        (4, 0, 10, 8, (None, 80.0, None, False)),  # too few responses now
        (10, 2, 4, 4, (None, 100.0, None, False)),  # too few before
        (10, 2, 0, 0, (None, None, None, False)),
    ],
)
def test_trend_needs_min_responses_in_both_windows(
        n: int, s: int, n_prev: int, s_prev: int,
        expected: tuple[float | None, float | None, float | None, bool]) -> None:
    t = trend(n, s, n_prev, s_prev, 5)
    assert (t.delta, t.previous_csat, t.p_value, t.significant) == expected
    assert t.previous_responses == n_prev


def test_issue_trend_compares_with_the_previous_window() -> None:
    now = [dis(f"a:{i}") for i in range(8)] + [sat("a:8"), sat("a:9")]
    before = [sat(f"a:{i}", previous=True) for i in range(8)]
    before += [dis("a:8", previous=True), dis("a:9", previous=True)]
    impact = one(now + before)
    assert impact.trend.delta == -60.0
    assert impact.trend.significant
    assert impact.trend.previous_responses == 10
    assert impact.responses == 10  # the previous window is not counted now


# --- pain ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("d", "n", "p0", "alpha", "expected"),
    [
        (5, 10, 0.2, 10, 0.35),  # (5 + 10 · 0.2) / (10 + 10)
        (0, 0, 0.2, 10, 0.2),  # n = 0 → p0
        (3, 3, 0.5, 10, 8 / 13),
        (0, 5, 0.5, 10, 5 / 15),
        (1, 2, 0.4, 0, 0.5),  # no prior: d / n
        (0, 0, 0.3, 0, 0.3),
    ],
)
def test_pain_pulls_small_samples_toward_p0(d: int, n: int, p0: float, alpha: float,
                                            expected: float) -> None:
    assert pain(d, n, p0, alpha) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("population", "p0"),
    [(Population(100, 20, 50), 0.2), (Population(0, 0, 5), 0.5), (Population(3, 3, 3), 1.0)],
)
def test_p0_is_the_dissatisfied_share_over_all_responses(population: Population,
                                                          p0: float) -> None:
    assert overall_dissatisfaction(population) == p0
    assert one([ticket("a:x")], population=population).pain == p0  # n = 0 → pain = p0


def test_pain_of_an_issue_is_shown_to_four_decimals() -> None:
    impact = one([dis("a:x"), sat("a:y"), sat("a:z")], population=Population(30, 9, 10))
    assert impact.pain == 0.3077  # (1 + 10 · 0.3) / (3 + 10) = 0.307692...


# --- matching, share and reach ---------------------------------------------------------------

SHARED = (
    Issue(IssueKey("acme/shop#1"), labels=("area/checkout",)),
    Issue(IssueKey("acme/shop#2"), labels=("area/checkout", "area/search")),
    Issue(IssueKey("acme/shop#3"), labels=("area/checkout",)),
    Issue(IssueKey("acme/shop#4"), labels=("area/checkout",), state="closed"),
)
SHARED_RECORDS = [
    dis("a:x"),  # checkout: candidates #1, #2, #3 (the closed #4 is none): 1/3 each
    # the candidates of checkout and search together are still #1, #2, #3: 1/3 each
    ticket("a:y", key="f:checkout|f:search"),
    # z's satisfied answer names #2: it links to #2 alone but is no evidence, so z's share
    # comes from its ticket only
    ticket("a:z"), sat("a:z", key="r:#2"),
    sat("a:w"),  # not affected: no share counted
    ticket("a:v"), sat("a:v", key="r:#2", previous=True),  # names #2 only before the window
]


@pytest.mark.parametrize(
    ("issue", "attribution", "affected", "reach", "pain_", "score"),
    [
        # #2: shares 4 · 1/3; O = A = 4; affected = 4 · (4/3) / 4 = 1.33 → 1; n = 3, d = 1
        ("acme/shop#2", "shared", 1, 1.33, 6 / 13, 0.6),  # 1.333 · 0.4615 = 0.615
        # #1: shares 4 · 1/3; n = 2 (x, w), d = 1
        ("acme/shop#1", "shared", 1, 1.33, 0.5, 0.7),
        ("acme/shop#2", "full", 4, 4.0, 6 / 13, 1.8),
        ("acme/shop#1", "full", 4, 4.0, 0.5, 2.0),
    ],
)
def test_share_splits_a_feature_among_its_open_issues(issue: str, attribution: str,
                                                      affected: int, reach: float,
                                                      pain_: float, score: float) -> None:
    impact = run(SHARED_RECORDS, issues=SHARED,
                 feature_attribution=attribution)[IssueKey(issue)]
    assert impact.customers_observed == impact.linked_affected == 4
    assert impact.named_customers == 0
    assert impact.attributed_customers == (1.33 if attribution == "shared" else 4.0)
    assert impact.affected == affected
    assert impact.reach == reach
    assert impact.pain == round_half_up(pain_, 4)
    assert impact.score == score


def test_a_record_naming_one_bug_is_not_linked_to_the_other_bugs_of_its_feature() -> None:
    impacts = run([dis("a:x", key="f:checkout|r:#1"), ticket("a:y", key="f:checkout|r:#2")],
                  issues=SHARED)
    assert set(impacts) == {"acme/shop#1", "acme/shop#2"}
    first, second = impacts[IssueKey("acme/shop#1")], impacts[IssueKey("acme/shop#2")]
    assert (first.responses, first.tickets, first.customers_observed) == (1, 0, 1)
    assert (second.responses, second.tickets, second.customers_observed) == (0, 1, 1)
    assert (first.named_customers, first.attributed_customers, first.affected) == (1, 1.0, 1)
    assert (first.references, first.features) == (("#1",), ("checkout",))


def test_a_reference_to_no_open_issue_is_ignored() -> None:
    # #4 is closed: the record is linked by its feature, as if the reference were not there
    impacts = run([dis("a:x", key="f:checkout|r:acme/shop#4")], issues=SHARED)
    assert set(impacts) == {"acme/shop#1", "acme/shop#2", "acme/shop#3"}
    assert {i.attributed_customers for i in impacts.values()} == {0.33}
    assert all(i.references == () for i in impacts.values())


def test_explicit_reference_links_and_shares_fully_without_a_feature() -> None:
    issues = (*SHARED, Issue(IssueKey("SHOP-7")))
    impacts = run([dis("a:x", key="r:SHOP-7"), ticket("a:y", key="r:acme/shop#3")],
                  issues=issues)
    assert impacts[IssueKey("SHOP-7")].reach == 1.0
    assert impacts[IssueKey("SHOP-7")].references == ("SHOP-7",)
    assert impacts[IssueKey("acme/shop#3")].reach == 1.0
    assert set(impacts) == {"SHOP-7", "acme/shop#3"}


def test_a_record_naming_two_bugs_belongs_to_both_fully() -> None:
    impacts = run([ticket("a:x", key="f:checkout|r:#1|r:acme/shop#3")], issues=SHARED)
    assert set(impacts) == {"acme/shop#1", "acme/shop#3"}
    assert all((i.named_customers, i.attributed_customers) == (1, 1.0)
               for i in impacts.values())


THREE_TEXTS = {
    "acme/shop#1": "Card payment declined at checkout",
    "acme/shop#2": "Coupon code rejected",
    "acme/shop#3": "Checkout page slow on mobile",
}


def test_share_is_the_largest_attribution_over_the_customers_evidence() -> None:
    card = ticket("a:x", text="My card was declined")
    vague = ticket("a:x", text="Cannot place my order")  # matches nothing: 1/3 each
    impacts = run([card, vague], issues=SHARED, texts=THREE_TEXTS)
    alone = run([card], issues=SHARED, texts=THREE_TEXTS)
    first = impacts[IssueKey("acme/shop#1")]
    # "card", "declin" in #1 only: max(a(card, #1), 1/3) = a(card, #1)
    assert first.attributed_customers == alone[IssueKey("acme/shop#1")].attributed_customers
    assert first.attributed_customers > 0.5
    # for #2 and #3 the vague ticket's 1/3 beats the card ticket's small attribution
    for key in ("acme/shop#2", "acme/shop#3"):
        assert alone[IssueKey(key)].attributed_customers < 0.33
        assert impacts[IssueKey(key)].attributed_customers == 0.33
    assert [i.customers_observed for i in impacts.values()] == [1, 1, 1]


def test_a_satisfied_answer_changes_no_share() -> None:
    base = [ticket("a:x", text="Cannot place my order"), dis("a:y", text="Checkout broke")]
    praise = sat("a:x", text="The card payment was declined but support fixed it")
    before = run(base, issues=SHARED, texts=THREE_TEXTS)
    after = run([*base, praise], issues=SHARED, texts=THREE_TEXTS)
    assert set(before) == set(after)
    for key, impact in after.items():
        b = before[key]
        assert (impact.customers_observed, impact.attributed_customers, impact.named_customers,
                impact.arr_at_risk) == (b.customers_observed, b.attributed_customers,
                                        b.named_customers, b.arr_at_risk)
        assert explained(impact, "reach", "weighted_share_sum") == (
            explained(b, "reach", "weighted_share_sum"))
        assert (impact.responses, impact.satisfied) == (b.responses + 1, b.satisfied + 1)
    # even when it names the bug
    named = run([*base, sat("a:x", key="r:#1")], issues=SHARED, texts=THREE_TEXTS)
    assert named[IssueKey("acme/shop#1")].attributed_customers == (
        before[IssueKey("acme/shop#1")].attributed_customers)
    assert named[IssueKey("acme/shop#1")].named_customers == 0


def test_affected_is_the_linked_estimate_times_the_attributed_share() -> None:
    # #1 and #2 share checkout. Customers: n1 names #1 (share 1); c1, c2 feature-only
    # without text (1/2); o1–o3 offered. n = 3 answers, d = 2 (n1, c1), o = 3:
    # survey A = 3 + (2/3) · 3 = 5; Wilson(2/3) = 0.2077..0.9385 → 3.62..5.82 → 4..6.
    records = [dis("a:n1", key="r:#1"), dis("a:c1"), ticket("a:c2"), sat("a:s"),
               *offered("a:o1"), *offered("a:o2"), *offered("a:o3")]
    impact = one(records, issues=SHARED[:2])
    assert (impact.method, impact.linked_affected, impact.linked_affected_low,
            impact.linked_affected_high) == ("survey", 5, 4, 6)
    assert (impact.customers_observed, impact.named_customers,
            impact.attributed_customers) == (3, 1, 2.0)
    # affected = 5 · 2 / 3 = 3.33 → 3; range 4 · 2/3 = 2.67 → 3, 6 · 2/3 = 4
    assert (impact.affected, impact.affected_low, impact.affected_high) == (3, 3, 4)
    assert impact.reach == 3.33  # A · Σ weight · share / O = 5 · 2 / 3
    other = run(records, issues=SHARED[:2])[IssueKey("acme/shop#2")]
    # #2: c1, c2 at 1/2; n = 2, d = 1, o = 3: A = 2 + 1.5 = 3.5 → 4; affected 4 · 1 / 2 = 2
    assert (other.linked_affected, other.attributed_customers, other.affected) == (4, 1.0, 2)


def test_affected_uses_the_whole_linked_estimate_and_the_unrounded_attributed_sum() -> None:
    # n1 names #1 (share 1); c0–c6 are linked by checkout alone, no text: 1/3 each over #1–#3.
    # O = 8, Σ share = 1 + 7/3 = 3.3333 (shown 3.33). usage with U = 18: p̂ = 1/1, A = 18.
    # affected = 18 · 3.3333 / 8 = 7.5 → 8; the shown 3.33 would give 7.4925 → 7.
    records = [dis("a:n1", key="r:#1")] + [ticket(f"a:c{i}") for i in range(7)]
    impact = run(records, issues=SHARED, cat=catalog(checkout_u=18))[IssueKey("acme/shop#1")]
    assert (impact.method, impact.linked_affected, impact.customers_observed) == (
        "usage", 18, 8)
    assert (impact.named_customers, impact.attributed_customers) == (1, 3.33)
    assert explained(impact, "attribution", "attributed_customers") == (
        pytest.approx(10 / 3))
    assert impact.affected == 8
    # range: Wilson(1/1) = 0.2065..1: max(8, 3.72) = 8 .. 18, scaled: 3.33 → 3 .. 7.5 → 8
    assert (impact.linked_affected_low, impact.linked_affected_high) == (8, 18)
    assert (impact.affected_low, impact.affected_high) == (3, 8)


@pytest.mark.parametrize(
    ("settings", "shares"),
    [
        ({}, "text"),
        ({"text_attribution": False}, [1 / 3, 1 / 3, 1 / 3]),
        ({"text_weight": 0.0}, [1 / 3, 1 / 3, 1 / 3]),
        ({"feature_attribution": "full"}, [1.0, 1.0, 1.0]),
        ({"feature_attribution": "full", "text_attribution": False}, [1.0, 1.0, 1.0]),
    ],
)
def test_attribution_settings(settings: dict[str, Any], shares: str | list[float]) -> None:
    records = [ticket("a:x", text="My card was declined at checkout")]
    impacts = run(records, issues=SHARED, texts=THREE_TEXTS, **settings)
    got = [explained(impacts[IssueKey(f"acme/shop#{n}")], "attribution", "attributed_customers")
           for n in (1, 2, 3)]
    if shares == "text":
        assert got[0] > 0.5 > got[2] and math.fsum(got) == pytest.approx(1.0)
    else:
        assert got == pytest.approx(shares)
    if settings.get("feature_attribution") == "full":
        assert [impacts[IssueKey(f"acme/shop#{n}")].affected for n in (1, 2, 3)] == [1, 1, 1]


def test_suggested_links_are_feature_linked_evidence_matching_the_issue() -> None:
    records = [
        ticket("a:x", text="My card was declined", record="zd:1"),  # a(#1) ≈ 0.8: suggested
        dis("a:y", text="Checkout page slow", record="csat:2"),  # best for #3
        ticket("a:z", key="r:#1", text="Card declined", record="zd:3"),  # named: no suggestion
        sat("a:w", text="Card declined", record="csat:4"),  # no evidence
        ticket("a:v", text="Card declined", previous=True, record="zd:5"),  # not now
    ]
    impacts = run(records, issues=SHARED, texts=THREE_TEXTS)
    first = impacts[IssueKey("acme/shop#1")]
    assert [x.record for x in first.suggested_links] == ["zd:1"]
    link = first.suggested_links[0]
    assert (link.kind, link.words) == ("ticket", ("card", "declin"))
    assert link.attribution >= 0.5 and link.score > 0
    matches = explained(first, "matches")
    assert [m["record"] for m in matches] == ["zd:1", "csat:2"]
    third = impacts[IssueKey("acme/shop#3")]
    assert [x.record for x in third.suggested_links] == ["csat:2"]
    assert third.suggested_links[0].words == ("checkout", "page", "slow")
    assert impacts[IssueKey("acme/shop#2")].suggested_links == ()


def test_a_suggestion_needs_an_attribution_of_at_least_one_half_before_rounding() -> None:
    # One match among three candidates: a = e^(β·s) / (e^(β·s) + 2). Choose β so that
    # e^(β·s) = 2 · 0.49998 / 0.50002: a = 0.49998, shown as 0.5 but below the threshold.
    texts = {"acme/shop#1": "Card declined", "acme/shop#2": "Coupon", "acme/shop#3": "Slow"}
    probe = run([ticket("a:x", text="card", record="zd:1")], issues=SHARED, texts=texts)
    s = explained(probe[IssueKey("acme/shop#1")], "matches", 0, "score")
    ratio = 2 * 0.49998 / 0.50002
    # the score shown is rounded to 4 decimals; recompute it exactly from BM25
    idf = math.log(1 + 2.5 / 1.5)
    exact = idf * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 2 / (4 / 3)))
    assert s == round_half_up(exact, 4)
    beta = math.log(ratio) / exact
    impact = run([ticket("a:x", text="card", record="zd:1")], issues=SHARED, texts=texts,
                 text_weight=beta)[IssueKey("acme/shop#1")]
    assert explained(impact, "matches", 0, "attribution") == 0.5
    assert impact.suggested_links == ()


def test_the_explanation_lists_the_five_strongest_matches_by_attribution() -> None:
    # the more of #1's words a ticket has, the larger its attribution to #1
    words = ["card", "declined", "payment", "checkout", "visa", "bank", "refused"]
    texts = {**THREE_TEXTS, "acme/shop#1": " ".join(words)}
    records = [ticket(f"a:{i}", text=" ".join(words[:i + 1]), record=f"zd:{i}")
               for i in range(7)]
    impact = run(records, issues=SHARED, texts=texts)[IssueKey("acme/shop#1")]
    matches = explained(impact, "matches")
    assert [m["record"] for m in matches] == [
        "zd:6", "zd:5", "zd:4", "zd:3", "zd:2"]
    assert len(impact.suggested_links) <= 5


def test_issue_order_breaks_ties_among_equal_matches() -> None:
    texts = {k: "Card declined" for k in ("acme/shop#1", "acme/shop#2", "acme/shop#3")}
    impacts = run([ticket("a:x", text="card")], issues=SHARED, texts=texts, text_candidates=2)
    got = [explained(impacts[IssueKey(f"acme/shop#{n}")], "attribution", "attributed_customers")
           for n in (1, 2, 3)]
    # idf within the set is ln(1 + 0.5 / 3.5) > 0; #1 and #2 keep their equal s, #3 gets e^0
    assert got[0] == got[1] > got[2]
    assert math.fsum(got) == pytest.approx(1.0)


WEIGHTED_CUSTOMERS = {
    "a:big": CustomerInfo(arr=3000.0, plan="enterprise"),
    "a:small": CustomerInfo(arr=1000.0, plan="starter"),
    "a:noarr": CustomerInfo(arr=None, plan="enterprise"),
}


@pytest.mark.parametrize(
    ("weight_by", "segment_weights", "reach", "score"),
    [
        ("none", {}, 4.0, 2.0),
        # ARR / mean known ARR (2000): 1.5 + 0.5 + 1 (unknown) + 1 (not in the table)
        ("arr", {}, 4.0, 2.0),
        # enterprise × 2 by the customers table's plan: 2 + 1 + 2 + 1
        ("none", {"enterprise": 2.0}, 6.0, 3.0),
        # 1.5 · 2 + 0.5 + 1 · 2 + 1 = 6.5; score 6.5 · 0.5 = 3.25 → 3.3 (half up)
        ("arr", {"enterprise": 2.0}, 6.5, 3.3),
        ("arr", {"starter": 4.0}, 5.5, 2.8),  # 1.5 + 0.5 · 4 + 1 + 1
    ],
)
def test_reach_weights_by_arr_and_segment(weight_by: str, segment_weights: dict[str, float],
                                          reach: float, score: float) -> None:
    records = [ticket("a:big"), ticket("a:small"), ticket("a:noarr"), ticket("a:stranger")]
    impact = one(records, customers=WEIGHTED_CUSTOMERS, weight_by=weight_by,
                 segment_weights=segment_weights,
                 population=Population(0, 0, 4, mean_arr=2000.0))
    assert (impact.reach, impact.score, impact.pain) == (reach, score, 0.5)
    assert impact.arr_at_risk == 4000.0


def test_reach_uses_the_rounded_affected_estimate() -> None:
    two = SHARED[:2]
    # #1: shares 1/2 each (checkout on #1 and #2); A = 2 + (2/3) · 1 = 2.67 → 3
    impact = one([dis("a:a"), dis("a:b"), sat("a:c"), *offered("a:o")], issues=two)
    assert (impact.method, impact.linked_affected, impact.customers_observed) == (
        "survey", 3, 2)
    assert impact.reach == 1.5  # 3 · (1/2 + 1/2) / 2, not 2.67 · 1 / 2
    assert impact.affected == 2  # 3 · 1 / 2 = 1.5, half up
    assert impact.score == round_half_up(1.5 * 7 / 13, 1) == 0.8


def test_score_uses_unrounded_reach_and_pain() -> None:
    # reach 3, pain (2 + 10 · 0.5) / 12 = 0.583333 (shown 0.5833); 3 · 0.583333 = 1.75 → 1.8,
    # whereas 3 · 0.5833 = 1.7499 would give 1.7
    impact = one([dis("a:a"), dis("a:b"), ticket("a:c")], population=Population(12, 6, 3))
    assert (impact.reach, impact.pain, impact.score) == (3.0, 0.5833, 1.8)


# --- levels ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("score", "base", "level"),
    [
        (20.0, 1000, "critical"),
        (19.9, 1000, "high"),
        (5.0, 1000, "high"),
        (4.9, 1000, "medium"),
        (1.0, 1000, "medium"),
        (0.9, 1000, "low"),
        (0.1, 1000, "low"),
        (0.0, 1000, "none"),
        (0.7, 35, "critical"),  # 0.02 · 35 is 0.7000000000000001 as a float
        (0.2, 35, "high"),
        (3.0, 3000, "medium"),  # 0.001 · 3000 is 3.0000000000000004 as a float
        (6000.0, 300_000, "critical"),
        (1500.0, 300_000, "high"),
        (300.0, 300_000, "medium"),
        (299.9, 300_000, "low"),
    ],
)
def test_level_is_relative_to_the_customer_base(score: float, base: int, level: str) -> None:
    assert level_for(score, base, SHARES) == level


@pytest.mark.parametrize(
    ("customers", "customer_base", "level"),
    [(100, None, "critical"), (100, 1000, "medium"), (100, 100_000, "low"), (500, None, "high")],
)
def test_level_uses_customers_in_the_window_or_customer_base(customers: int,
                                                             customer_base: int | None,
                                                             level: str) -> None:
    records = [ticket(f"a:{i}") for i in range(5)]  # reach 5, pain 0.5: score 2.5
    impact = one(records, population=Population(0, 0, customers), customer_base=customer_base)
    assert (impact.score, impact.level) == (2.5, level)


@pytest.mark.parametrize("kind", ["satisfied", "offered"])
def test_issue_with_linked_records_but_no_evidence_has_figures_and_level_none(
        kind: str) -> None:
    records = [sat("a:x"), sat("a:y")] if kind == "satisfied" else offered("a:x", n=2)
    impact = one(records)
    assert (impact.customers_observed, impact.attributed_customers, impact.linked_affected,
            impact.affected, impact.reach, impact.score) == (0, 0.0, 0, 0, 0.0, 0.0)
    assert (impact.arr_at_risk, impact.level, impact.suggested_links) == (0.0, "none", ())


# --- which issues get an impact --------------------------------------------------------------

def test_issue_with_only_previous_window_records_gets_no_impact() -> None:
    issues = (*SHARED[:1], Issue(IssueKey("SHOP-9")))
    impacts = run([dis("a:x", previous=True), ticket("a:y", key="r:SHOP-9")], issues=issues)
    assert set(impacts) == {"SHOP-9"}


def test_closed_issue_gets_no_impact_even_when_referenced() -> None:
    impacts = run([dis("a:x", key="r:acme/shop#4")], issues=SHARED)
    assert impacts == {}


def test_features_and_references_explain_the_links_in_the_window() -> None:
    impact = one([dis("a:x", key="f:checkout|r:#1"), ticket("a:y", key="r:acme/shop#1"),
                  sat("a:z", key="r:SHOP-1|f:search"),
                  dis("a:old", key="f:checkout|r:#1|r:acme/shop#1x", previous=True)])
    assert impact.features == ("checkout",)
    assert impact.references == ("#1", "acme/shop#1")
    assert impact.responses == 1


# --- rounding --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (2.5, 0, 3.0),
        (-2.5, 0, -3.0),
        (0.35, 1, 0.4),
        (6.25, 1, 6.3),
        (6.35, 1, 6.4),
        (-0.05, 1, -0.1),
        (2.675, 2, 2.68),
        (1.0005, 3, 1.001),
        (0.44445, 4, 0.4445),
        (1.7499999999999998, 1, 1.8),  # arithmetic noise around a half
        (0.04, 1, 0.0),
    ],
)
def test_round_half_up_rounds_halves_away_from_zero(value: float, digits: int,
                                                    expected: float) -> None:
    assert round_half_up(value, digits) == expected
