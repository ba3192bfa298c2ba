"""Explicit issue references: which text names which issue, in canonical form."""

from __future__ import annotations

import pytest

from impactlink.core.refs import collect_refs, find_refs, github_issue_key, parse_ref_field


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", set()),
        ("see #12", set()),  # a bare number is too ambiguous in free text
        ("#12", set()),
        ("broken again, acme/shop#12", {"acme/shop#12"}),
        ("Acme/Shop#12", {"acme/shop#12"}),
        ("acme/shop.js#7", {"acme/shop.js#7"}),
        ("x acme/shop#012 y", {"acme/shop#12"}),
        ("https://github.com/Acme/Shop/issues/12", {"acme/shop#12"}),
        ("https://github.com/acme/shop/issues/12#issuecomment-99", {"acme/shop#12"}),
        ("https://ghe.example.com/acme/shop/issues/7", {"acme/shop#7"}),
        ("https://ghe.example.com:8443/acme/shop/issues/7", {"acme/shop#7"}),
        ("http://github.internal/team/app/issues/3.", {"team/app#3"}),
        ("https://github.com/acme/shop/pull/12", set()),
        ("fixed in SHOP-3, and OPS-12.", {"SHOP-3", "OPS-12"}),
        ("SHOP_UI-4", {"SHOP_UI-4"}),
        ("SHOP-0", set()),
        ("shop-3", set()),
        ("https://acme.atlassian.net/browse/SHOP-3", {"SHOP-3"}),
        ("https://jira.example.com/jira/browse/SHOP-3?focusedId=1", {"SHOP-3"}),
        ("https://jira.example.com/secure/RapidBoard.jspa?rapidView=1&selectedIssue=SHOP-3",
         {"SHOP-3"}),
        ("https://acme.atlassian.net/jira/software/projects/SHOP/boards/1?selectedIssue=SHOP-9",
         {"SHOP-9"}),
        ("https://acme.atlassian.net/jira/software/c/projects/SHOP/issues/SHOP-5", {"SHOP-5"}),
        ("both https://github.com/acme/shop/issues/1 and SHOP-2", {"acme/shop#1", "SHOP-2"}),
        ("a#12 &#12; path/to#", set()),
    ],
)
def test_find_refs_names_only_unambiguous_references(text: str, expected: set[str]) -> None:
    assert find_refs(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#12", {"#12"}),
        ("#012", {"#12"}),
        ("see #12 and #13", {"#12", "#13"}),
        ("acme/shop#12", {"acme/shop#12"}),
        ("acme/shop#12 and #13", {"acme/shop#12", "#13"}),
        ("https://github.com/acme/shop/issues/12 and #5", {"acme/shop#12", "#5"}),
        ("https://github.com/acme/shop/issues/12", {"acme/shop#12"}),
        ("SHOP-3", {"SHOP-3"}),
        ("page#12", set()),
        ("", set()),
    ],
)
def test_reference_field_also_accepts_bare_numbers(value: str, expected: set[str]) -> None:
    assert parse_ref_field(value) == expected


def test_collect_refs_reads_bare_numbers_only_from_reference_fields() -> None:
    refs = collect_refs(["#12", "SHOP-3"], ["see #13 and acme/x#1", "", "OPS-2"])
    assert refs == ("#12", "OPS-2", "SHOP-3", "acme/x#1")


@pytest.mark.parametrize(
    ("repo", "number", "expected"),
    [("acme/shop", 12, "acme/shop#12"), ("Acme/Shop", 3, "acme/shop#3")],
)
def test_github_issue_key_is_canonical(repo: str, number: int, expected: str) -> None:
    assert github_issue_key(repo, number) == expected
    assert find_refs(expected) == {expected}
