"""The feature catalog, link keys, and which open issues a key belongs to, with shares."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impactlink.core.impact import Slice, tally
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
        ("f:checkout", {"SHOP-3": 0.25, "acme/shop#12": 0.25, "acme/shop#13": 0.25,
                        "acme/shop#14": 0.25}),
        # search is on #13 and #15: #13 takes the larger of 1/4 and 1/2
        ("f:search", {"acme/shop#13": 0.5, "acme/shop#15": 0.5}),
        ("f:checkout|f:search", {"SHOP-3": 0.25, "acme/shop#12": 0.25, "acme/shop#13": 0.5,
                                 "acme/shop#14": 0.25, "acme/shop#15": 0.5}),
        ("f:billing", {"acme/api#12": 1.0}),
        ("r:acme/shop#15", {"acme/shop#15": 1.0}),
        ("r:#15", {"acme/shop#15": 1.0}),  # bare number resolved in the default repository
        ("r:#12", {"acme/shop#12": 1.0}),  # not acme/api#12
        ("r:SHOP-3", {"SHOP-3": 1.0}),
        ("r:acme/shop#16", {}),  # closed
        ("r:#99|r:OPS-1|f:unknown", {}),
        ("", {}),
        ("f:search|r:acme/shop#13", {"acme/shop#13": 1.0, "acme/shop#15": 0.5}),
        ("f:checkout|r:#12", {"SHOP-3": 0.25, "acme/shop#12": 1.0, "acme/shop#13": 0.25,
                              "acme/shop#14": 0.25}),
    ],
)
def test_matcher_links_open_issues_with_shares(key: str, expected: dict[str, float]) -> None:
    assert {link.issue: link.share for link in matcher().links(key)} == expected


def test_full_attribution_gives_every_link_share_one() -> None:
    links = matcher(attribution="full").links("f:checkout|f:search")
    assert {link.share for link in links} == {1.0}
    assert len(links) == 5


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


def test_issue_with_two_features_counts_a_record_with_both_once() -> None:
    slices = [Slice("f:checkout|f:search|r:#13", "a:x", responses=1, tickets=1, offered=1)]
    t = tally(slices, matcher())[IssueKey("acme/shop#13")]
    assert (t.n, t.s, t.o, t.t, len(t.customers)) == (1, 0, 1, 1, 1)
    assert t.customers["a:x"].share == 1.0


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
def test_a_slice_never_counts_twice_for_one_issue(parts: list[list[str]], responses: int,
                                                  tickets: int, offered: int,
                                                  data: st.DataObject) -> None:
    satisfied = data.draw(st.integers(0, responses))
    key = "|".join("|".join(p) for p in parts)  # duplicated items, as the store may concatenate
    sl = Slice(key, "a:x", responses=responses, satisfied=satisfied, tickets=tickets,
               offered=offered)
    for t in tally([sl], matcher()).values():
        assert (t.n, t.s, t.o, t.t) == (responses, satisfied, offered, tickets)
        assert len(t.customers) == 1
