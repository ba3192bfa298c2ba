"""Fields by name and type, edit screens, JQL escaping, the managed comment."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakes.jira_builders import (
    HOSTILE_COMPONENT,
    HOSTILE_LABEL,
    impact,
    make_tracker,
    run_cycle,
    seed_shop,
)
from fakes.jira_fixtures import jira_cloud, jira_dc
from fakes.jira_jql import parse
from fakes.jira_server import FakeJira
from impactlink.core.render import render_text
from impactlink.errors import TrackerError
from impactlink.trackers.jira_comments import MARKER, comment_body, is_managed
from impactlink.trackers.jira_jql import feature_query, keys_query, quote
from impactlink.writeback import MemoryJournal

__all__ = ["jira_cloud", "jira_dc"]


def test_field_not_on_the_edit_screen_is_a_clear_error(jira_cloud: FakeJira,
                                                       tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    jira_cloud.hide_from_screen("SHOP", "Bug", jira_cloud.field_id("CSAT"))
    summary = run_cycle(make_tracker(jira_cloud, tmp_path), {"SHOP-1": impact("SHOP-1")},
                        MemoryJournal())
    assert summary.written == 0
    [failure] = summary.failed
    assert "'CSAT'" in failure and "project SHOP" in failure and "'Bug'" in failure
    assert "Screens" in failure
    assert jira_cloud.writes() == []


def test_same_name_different_types_picks_the_number_field(jira_cloud: FakeJira,
                                                          tmp_path: Path) -> None:
    jira_cloud.add_field("CSAT", "string")
    seed_shop(jira_cloud)
    run_cycle(make_tracker(jira_cloud, tmp_path), {"SHOP-1": impact("SHOP-1")}, MemoryJournal())
    assert jira_cloud.value("SHOP-1", "CSAT") == 62.5
    text_id = jira_cloud.field_id("CSAT", "string")
    assert text_id not in jira_cloud.issues["SHOP-1"].values


@pytest.mark.parametrize("kinds, expected", [
    (("string",), "is not a number field"),
    (("number", "number"), "several number fields"),
    ((), "no field is named"),
])
def test_field_without_exactly_one_number_of_its_name_fails(
        jira_cloud: FakeJira, tmp_path: Path, kinds: tuple[str, ...], expected: str) -> None:
    seed_shop(jira_cloud)
    for kind in kinds:
        jira_cloud.add_field("Churn Risk", kind)
    tracker = make_tracker(jira_cloud, tmp_path, fields={"affected": "Churn Risk"})
    with pytest.raises(TrackerError, match=expected):
        tracker.fetch_issues(())


def test_hostile_component_and_label_names_are_quoted(jira_cloud: FakeJira,
                                                      tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    jira_cloud.add_issue("SHOP-10", labels=(HOSTILE_LABEL,))
    keys = [i.key for i in make_tracker(jira_cloud, tmp_path).fetch_issues(())]
    assert keys == ["SHOP-1", "SHOP-2", "SHOP-3", "SHOP-10"]
    [search] = [r for r in jira_cloud.requests if r.path.endswith("/search/jql")]
    query = parse(search.param("jql") or "")
    values = {c.field: c.values for c in query.where.children[2].children}  # type: ignore[union-attr]
    assert HOSTILE_COMPONENT in values["component"]
    assert HOSTILE_LABEL in values["labels"]


def test_a_pasted_quote_would_be_rejected() -> None:
    with pytest.raises(ValueError, match="Expecting"):
        parse(f'component in ("{HOSTILE_COMPONENT}")')
    assert parse(f"component in ({quote(HOSTILE_COMPONENT)})").where is not None


def test_jql_builders_escape_and_validate() -> None:
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert feature_query(["SHOP"], [], []) is None
    jql = feature_query(["SHOP"], ["x"], ["y"], "issuetype = Bug")
    assert jql is not None and parse(jql).order == (("key", False),)
    with pytest.raises(ValueError, match="not a Jira issue key"):
        keys_query(["SHOP"], ['SHOP-1") OR ("1'])


def test_managed_comment_is_found_by_its_first_line() -> None:
    text = render_text(impact("SHOP-1"), ["call me at +1 415 555 0100"], marker=MARKER)
    adf = comment_body(text, adf=True)
    wiki = comment_body(text + "{noformat}", adf=False)
    assert is_managed(adf) and is_managed(wiki)
    for markup in ("<details>", "<sub>", "**", "###", "|---|", "555 0100"):
        assert markup not in str(adf)
    assert "How the score was made" in str(adf) and "[phone]" in str(adf)
    assert wiki.count("{noformat}") == 2
    assert not is_managed("a comment quoting impactlink:customer-impact")


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_comment_posted_once_then_edited(flavor: str, jira_cloud: FakeJira, jira_dc: FakeJira,
                                         tmp_path: Path) -> None:
    fake = jira_cloud if flavor == "cloud" else jira_dc
    seed_shop(fake)
    tracker = make_tracker(fake, tmp_path, comment=True, quotes=True)
    journal = MemoryJournal()
    run_cycle(tracker, {"SHOP-1": impact("SHOP-1")}, journal, quotes=("It broke at pay",))
    run_cycle(tracker, {"SHOP-1": impact("SHOP-1", score=30.0)}, journal,
              quotes=("It broke at pay",))
    [comment] = fake.issues["SHOP-1"].comments
    assert "30" in str(comment["body"]) and "It broke at pay" in str(comment["body"])
    assert isinstance(comment["body"], dict if flavor == "cloud" else str)


def test_comment_create_that_landed_before_a_503_is_not_posted_twice(
        jira_cloud: FakeJira, tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    jira_cloud.inject("POST", r"issue/SHOP-1/comment$", 503, after=True)
    summary = run_cycle(make_tracker(jira_cloud, tmp_path, comment=True),
                        {"SHOP-1": impact("SHOP-1")}, MemoryJournal())
    assert summary.failed == [] and summary.stopped is None
    assert len(jira_cloud.issues["SHOP-1"].comments) == 1
