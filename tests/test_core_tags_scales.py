"""Tag normalisation and survey scales."""

from __future__ import annotations

import pytest

from impactlink.core.models import Scale
from impactlink.core.scales import is_satisfied, parse_score
from impactlink.core.tags import normalize_tag, normalize_tags, split_list


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("checkout", "checkout"),
        ("Checkout", "checkout"),
        ("  CHECKOUT\t", "checkout"),
        ("check-out", "check-out"),
        ("check_out", "check-out"),
        ("check out", "check-out"),
        (" Check_Out ", "check-out"),
        ("check - _ out", "check-out"),
        ("-checkout_", "checkout"),
        ("Straße", "strasse"),
        ("", ""),
        (" _- ", ""),
    ],
)
def test_normalize_tag_folds_case_space_and_separators(tag: str, expected: str) -> None:
    assert normalize_tag(tag) == expected


def test_checkout_and_check_out_stay_different_tags() -> None:
    assert normalize_tag("checkout") != normalize_tag("check out")


def test_normalize_tags_drops_empties_and_duplicates_and_sorts() -> None:
    assert normalize_tags(["Search", "check_out", "check-out", " ", "billing"]) == (
        "billing", "check-out", "search")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("a;b", ["a", "b"]), ("a, b ,", ["a", "b"]), (" a ; ;b,c", ["a", "b", "c"]), ("", [])],
)
def test_split_list_splits_on_semicolon_and_comma(cell: str, expected: list[str]) -> None:
    assert split_list(cell) == expected


@pytest.mark.parametrize(
    ("scale", "raw", "score", "satisfied"),
    [
        ("1-5", "5", 5.0, True),
        ("1-5", 4, 4.0, True),
        ("1-5", "3", 3.0, False),
        ("1-5", 1, 1.0, False),
        ("1-5", " 4.0 ", 4.0, True),
        ("1-7", 6, 6.0, True),
        ("1-7", 5, 5.0, False),
        ("1-10", 8, 8.0, True),
        ("1-10", 7, 7.0, False),
        ("0-10", 9, 9.0, True),
        ("0-10", 8, 8.0, False),
        ("0-10", 0, 0.0, False),
        ("good/bad", "good", 1.0, True),
        ("good/bad", " Bad ", 0.0, False),
        ("good/bad", "1", 1.0, True),
        ("thumbs", "up", 1.0, True),
        ("thumbs", "Thumbs Down", 0.0, False),
        ("thumbs", "\U0001f44d", 1.0, True),
        ("thumbs", "-1", 0.0, False),
        ("thumbs", 1, 1.0, True),
    ],
)
def test_scores_parse_and_reach_satisfied_min(scale: Scale, raw: str | float, score: float,
                                              satisfied: bool) -> None:
    assert parse_score(raw, scale) == score
    assert is_satisfied(score, scale) is satisfied


@pytest.mark.parametrize(
    ("scale", "raw", "message"),
    [
        ("1-5", "0", "outside the 1-5 scale"),
        ("1-5", 6, "outside the 1-5 scale"),
        ("1-7", 7.5, "outside"),
        ("1-10", 0, "outside"),
        ("0-10", 11, "outside"),
        ("0-10", -1, "outside"),
        ("1-5", "nan", "not a number"),
        ("1-5", "great", "not a number"),
        ("1-5", True, "not a number"),
        ("good/bad", "meh", "not one of"),
        ("thumbs", "sideways", "not one of"),
        ("thumbs", 2, "outside"),
    ],
)
def test_scores_outside_their_scale_are_rejected(scale: Scale, raw: str | float,
                                                 message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_score(raw, scale)
