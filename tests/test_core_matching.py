"""The feature catalog, link keys, and which open issues a key belongs to (model v2)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impactlink.core.impact import ImpactSettings, LinkedRecord, Population, compute
from impactlink.core.matching import Catalog, Feature, Matcher, link_key, parse_link_key
from impactlink.core.models import Issue, IssueKey

CATALOG = Catalog([
    Feature("checkout", tags=("Check_Out", "payments"), labels=("area/checkout",),
            components=("Checkout",), active_customers=1000),
    Feature("search", tags=("search",), labels=("area/search",), active_customers=3000),
    Feature("billing", tags=("invoice",), labels=("area/billing",)),
])

ISSUES = [
    Issue(IssueKey("acme/shop#12"), labels=("area/checkout",)),
    Issue(IssueKey("acme/shop#13"), labels=("Area/Checkout", "area/search")),
    Issue(IssueKey("acme/shop#14"), labels=("area/checkout",)),
    Issue(IssueKey("acme/shop#15"), labels=("area/search",)),
    Issue(IssueKey("acme/shop#16"), labels=("area/checkout", "area/search"), state="closed"),
    Issue(IssueKey("acme/api#12"), labels=("area/billing",)),
    Issue(IssueKey("SHOP-3"), components=("checkout",)),
]


def matcher(attribution: str = "shared", default_repo: str | None = "acme/shop") -> Matcher:
    return Matcher(ISSUES, CATALOG, default_repo=default_repo, attribution=attribution)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["check-out"], ("checkout",)),  # alias after normalising
        (["payments", "search"], ("checkout", "search")),
        (["checkout"], ("checkout",)),  # the feature's own name is an alias
        (["invoice"], ("billing",)),
        (["other"], ()),
    ],
)
def test_catalog_maps_normalised_tags_to_features(tags: list[str],
                                                  expected: tuple[str, ...]) -> None:
    assert CATALOG.features_for_tags(tags) == expected


@pytest.mark.parametrize(
    ("issue", "expected"),
    [
        (Issue(IssueKey("x#1"), labels=("AREA/CHECKOUT",)), ("checkout",)),
        (Issue(IssueKey("x#1"), labels=("area/search", "area/checkout")), ("checkout", "search")),
        (Issue(IssueKey("X-1"), components=("Checkout ",)), ("checkout",)),
        (Issue(IssueKey("x#1"), labels=("checkout",)), ()),  # a tag is not a label
    ],
)
def test_catalog_maps_labels_and_components_to_features(issue: Issue,
                                                        expected: tuple[str, ...]) -> None:
    assert CATALOG.features_for_issue(issue) == expected


def test_link_key_is_sorted_and_parses_back_even_when_concatenated() -> None:
    key = link_key(["search", "checkout"], ["SHOP-3", "#12"])
    assert key == "f:checkout|f:search|r:#12|r:SHOP-3"
    assert link_key([], []) == ""
    features, refs = parse_link_key(key + "|" + link_key(["billing"], ["#12"]))
    assert features == {"checkout", "search", "billing"}
    assert refs == {"#12", "SHOP-3"}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        # feature checkout is on #12, #13, #14 and SHOP-3 (the closed #16 does not count)
        ("f:checkout", {"SHOP-3": (), "acme/shop#12": (), "acme/shop#13": (),
                        "acme/shop#14": ()}),
        ("f:search", {"acme/shop#13": (), "acme/shop#15": ()}),
        ("f:checkout|f:search", {"SHOP-3": (), "acme/shop#12": (), "acme/shop#13": (),
                                 "acme/shop#14": (), "acme/shop#15": ()}),
        ("f:billing", {"acme/api#12": ()}),
        ("r:acme/shop#15", {"acme/shop#15": ("acme/shop#15",)}),
        ("r:#15", {"acme/shop#15": ("#15",)}),  # bare number resolved in the default repository
        ("r:#12", {"acme/shop#12": ("#12",)}),  # not acme/api#12
        ("r:SHOP-3", {"SHOP-3": ("SHOP-3",)}),
        ("r:acme/shop#16", {}),  # closed: the reference is ignored, and nothing else links
        ("r:#99|r:OPS-1|f:unknown", {}),
        ("", {}),
        # A record that names an open issue belongs to it alone, not to its feature's others.
        ("f:search|r:acme/shop#13", {"acme/shop#13": ("acme/shop#13",)}),
        ("f:checkout|r:#12", {"acme/shop#12": ("#12",)}),
        ("f:checkout|r:#12|r:SHOP-3", {"SHOP-3": ("SHOP-3",), "acme/shop#12": ("#12",)}),
        # A reference to a closed issue is ignored: the record falls back to its features.
        ("f:search|r:acme/shop#16", {"acme/shop#13": (), "acme/shop#15": ()}),
    ],
)
def test_matcher_links_named_issues_only_else_candidates(key: str,
                                                        expected: dict[str, tuple[str, ...]]
                                                        ) -> None:
    assert {link.issue: link.references for link in matcher().links(key)} == expected


def test_candidates_come_in_issue_order() -> None:
    assert matcher().candidates(["checkout"]) == ("SHOP-3", "acme/shop#12", "acme/shop#13",
                                                  "acme/shop#14")


def test_bare_number_is_unresolved_without_default_repo() -> None:
    assert matcher(default_repo=None).links("r:#12") == ()
    assert [lk.issue for lk in matcher(default_repo="Acme/Shop").links("r:#12")] == ["acme/shop#12"]


def test_closed_issues_are_not_counted_in_n_f() -> None:
    m = matcher()
    assert m.issues_per_feature == {"billing": 1, "checkout": 4, "search": 2}
    assert "acme/shop#16" not in m.issues


def test_link_records_why() -> None:
    (link,) = [lk for lk in matcher().links("f:checkout|f:search|r:#13")
               if lk.issue == "acme/shop#13"]
    assert link.features == ("checkout", "search")
    assert link.references == ("#13",)
    assert link.explicit
    assert link.reasons == "references #13; feature checkout; feature search"


@pytest.mark.parametrize(
    ("issue", "expected"),
    [("acme/shop#13", 3000), ("acme/shop#12", 1000), ("acme/api#12", None), ("nope#1", None)],
)
def test_active_customers_is_the_largest_u_over_the_issue_features(issue: str,
                                                                   expected: int | None) -> None:
    assert matcher().active_customers(IssueKey(issue), CATALOG.features) == expected


def _compute(records: list[LinkedRecord]) -> dict[IssueKey, object]:
    m = matcher()
    return dict(compute(records, m, CATALOG, {}, Population(10, 5, 10), ImpactSettings()))


def test_issue_with_two_features_counts_a_record_with_both_once() -> None:
    key = "f:checkout|f:search"
    records = [LinkedRecord("csat", "s:1", "a:x", key, satisfied=False),
               LinkedRecord("csat", "s:2", "a:x", key, status="offered"),
               LinkedRecord("ticket", "t:1", "a:x", key, status="ticket")]
    impact = _compute(records)[IssueKey("acme/shop#13")]
    assert (impact.responses, impact.offered, impact.tickets,  # type: ignore[attr-defined]
            impact.customers_observed) == (1, 1, 1, 1)  # type: ignore[attr-defined]


ITEMS = ["f:checkout", "f:search", "f:billing", "r:#13", "r:acme/shop#13", "r:SHOP-3",
         "r:acme/api#12"]


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(st.lists(st.sampled_from(ITEMS), min_size=1, max_size=4), min_size=1,
                   max_size=3),
    responses=st.integers(0, 5),
    tickets=st.integers(0, 3),
    offered=st.integers(0, 3),
    data=st.data(),
)
def test_a_record_never_counts_twice_for_one_issue(parts: list[list[str]], responses: int,
                                                   tickets: int, offered: int,
                                                   data: st.DataObject) -> None:
    satisfied = data.draw(st.integers(0, responses))
    key = "|".join("|".join(p) for p in parts)  # duplicated items, as the store may concatenate
    records = [LinkedRecord("csat", f"s:{i}", "a:x", key, satisfied=i < satisfied)
               for i in range(responses)]
    records += [LinkedRecord("csat", f"o:{i}", "a:x", key, status="offered")
                for i in range(offered)]
    records += [LinkedRecord("ticket", f"t:{i}", "a:x", key, status="ticket")
                for i in range(tickets)]
    for impact in _compute(records).values():
        assert (impact.responses, impact.satisfied, impact.offered,  # type: ignore[attr-defined]
                impact.tickets) == (responses, satisfied, offered, tickets)  # type: ignore[attr-defined]
        assert impact.customers_observed <= 1  # type: ignore[attr-defined]
