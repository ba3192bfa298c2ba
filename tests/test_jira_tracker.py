"""The Jira tracker against a fake Jira Cloud: read, write the fields, idempotency."""

from __future__ import annotations

from pathlib import Path

from fakes.jira_builders import HOSTILE_COMPONENT, impact, make_tracker, run_cycle, seed_shop
from fakes.jira_fixtures import jira_cloud, jira_dc
from fakes.jira_server import FakeJira
from impactlink.writeback import MemoryJournal

__all__ = ["jira_cloud", "jira_dc"]


def test_first_run_writes_fields_second_run_writes_nothing(jira_cloud: FakeJira,
                                                            tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    tracker = make_tracker(jira_cloud, tmp_path)
    journal = MemoryJournal()
    impacts = {"SHOP-1": impact("SHOP-1"), "SHOP-2": impact("SHOP-2", score=3.0, csat=80.0,
                                                            affected=4, level="low")}
    first = run_cycle(tracker, impacts, journal)
    assert (first.written, first.failed) == (2, [])
    assert jira_cloud.value("SHOP-1", "Customer Impact") == 12.3
    assert jira_cloud.value("SHOP-1", "CSAT") == 62.5
    assert jira_cloud.value("SHOP-1", "Affected Customers") == 37
    assert jira_cloud.value("SHOP-2", "Customer Impact") == 3.0
    assert [r.param("notifyUsers") for r in jira_cloud.writes()] == ["false", "false"]
    jira_cloud.reset_log()
    second = run_cycle(tracker, impacts, journal)
    assert (second.written, second.skipped) == (0, 2)
    assert jira_cloud.writes() == []


def test_fetch_reads_feature_issues_and_references(jira_cloud: FakeJira, tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    issues = make_tracker(jira_cloud, tmp_path).fetch_issues(["SHOP-5", "SHOP-99", "OPS-1",
                                                              "acme/shop#3", "SHOP-4"])
    assert [i.key for i in issues] == ["SHOP-1", "SHOP-2", "SHOP-3", "SHOP-5"]
    first = issues[0]
    assert first.components == (HOSTILE_COMPONENT,)
    assert first.labels == ("bug",)
    assert first.url == f"{jira_cloud.url}/browse/SHOP-1"
    assert first.state == "open"
    assert [r.path.rsplit("/", 1)[-1] for r in jira_cloud.requests
            if "search" in r.path or "bulkfetch" in r.path] == ["jql", "bulkfetch"]


def test_one_changed_impact_changes_exactly_one_issue(jira_cloud: FakeJira,
                                                      tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    tracker = make_tracker(jira_cloud, tmp_path)
    journal = MemoryJournal()
    impacts = {k: impact(k) for k in ("SHOP-1", "SHOP-2", "SHOP-3")}
    run_cycle(tracker, impacts, journal)
    jira_cloud.reset_log()
    impacts["SHOP-2"] = impact("SHOP-2", score=20.0)
    summary = run_cycle(tracker, impacts, journal)
    assert summary.written == 1
    writes = jira_cloud.writes()
    assert [(w.path.rsplit("/", 1)[-1], w.body) for w in writes] == [
        ("SHOP-2", {"fields": {jira_cloud.field_id("Customer Impact"): 20.0}})]


def test_lost_impact_clears_the_fields(jira_cloud: FakeJira, tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    tracker = make_tracker(jira_cloud, tmp_path)
    journal = MemoryJournal()
    run_cycle(tracker, {"SHOP-1": impact("SHOP-1")}, journal)
    summary = run_cycle(tracker, {"SHOP-1": None}, journal)
    assert summary.written == 1
    assert [jira_cloud.value("SHOP-1", n) for n in ("Customer Impact", "CSAT",
                                                    "Affected Customers")] == [None] * 3


def test_level_label_added_and_replaced_keeping_other_labels(jira_cloud: FakeJira,
                                                             tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    jira_cloud.issues["SHOP-1"].labels.append("impact-low")
    tracker = make_tracker(jira_cloud, tmp_path, level_label=True)
    journal = MemoryJournal()
    run_cycle(tracker, {"SHOP-1": impact("SHOP-1", level="critical")}, journal)
    assert jira_cloud.issues["SHOP-1"].labels == ["bug", "impact-critical"]
    run_cycle(tracker, {"SHOP-1": None}, journal)
    assert jira_cloud.issues["SHOP-1"].labels == ["bug"]


def test_rerun_after_a_crash_before_the_journal_writes_nothing_twice(jira_cloud: FakeJira,
                                                                     tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    impacts = {"SHOP-1": impact("SHOP-1")}
    run_cycle(make_tracker(jira_cloud, tmp_path, comment=True), impacts, MemoryJournal())
    jira_cloud.reset_log()
    # the journal was lost (killed before it was committed): a fresh process runs again
    summary = run_cycle(make_tracker(jira_cloud, tmp_path, comment=True), impacts,
                        MemoryJournal())
    assert summary.failed == []
    assert jira_cloud.writes() == []
    assert len(jira_cloud.issues["SHOP-1"].comments) == 1


def test_notify_users_refused_without_admin_falls_back(jira_cloud: FakeJira,
                                                       tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    jira_cloud.admin = False
    tracker = make_tracker(jira_cloud, tmp_path)
    summary = run_cycle(tracker, {"SHOP-1": impact("SHOP-1"), "SHOP-2": impact("SHOP-2")},
                        MemoryJournal())
    assert (summary.written, summary.failed) == (2, [])
    assert [(w.status, w.param("notifyUsers")) for w in jira_cloud.writes()] == [
        (400, "false"), (204, None), (204, None)]
    assert jira_cloud.value("SHOP-2", "CSAT") == 62.5


def test_config_parses_and_registry_builds_the_jira_tracker(jira_cloud: FakeJira,
                                                            tmp_path: Path) -> None:
    from impactlink.config import parse_settings
    from impactlink.registry import build_catalog, build_tracker
    from impactlink.trackers.jira import JiraTracker

    settings = parse_settings({"tracker": {"type": "jira", "url": jira_cloud.url,
                                           "projects": ["SHOP"], "email_env": "JIRA_EMAIL",
                                           "token_env": "JIRA_TOKEN", "level_label": True}},
                              tmp_path)
    tracker = build_tracker(settings, build_catalog(settings))
    assert isinstance(tracker, JiraTracker) and tracker.kind == "jira"
    tracker.close()


def test_config_refuses_labels_with_spaces_and_bad_project_keys(tmp_path: Path) -> None:
    import pytest

    from impactlink.config import parse_settings
    from impactlink.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        parse_settings({"tracker": {"type": "jira", "url": "https://x.atlassian.net",
                                    "projects": ["shop"], "token_env": "T",
                                    "level_labels": {"high": "impact high"}}}, tmp_path)
    text = "\n".join(info.value.problems)
    assert "tracker.projects" in text and "cannot be empty or contain spaces" in text


ADF = {"type": "doc", "version": 1, "content": [
    {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Symptom"}]},
    {"type": "paragraph", "content": [
        {"type": "text", "text": "Apple Pay "}, {"type": "text", "text": "fails",
                                                 "marks": [{"type": "strong"}]},
        {"type": "text", "text": " on iOS"}, {"type": "hardBreak"},
        {"type": "text", "text": "since 4.2, says "},
        {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d4ef5", "text": "@Ana"}},
        {"type": "text", "text": " "}, {"type": "emoji", "attrs": {"shortName": ":frown:",
                                                                  "text": "🙁"}}]},
    {"type": "bulletList", "content": [
        {"type": "listItem", "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": "see "},
            {"type": "inlineCard", "attrs": {"url": "https://acme.test/status/17"}}]}]},
        {"type": "listItem", "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": "checkout only"}]}]}]}]}


def test_cloud_description_in_adf_reaches_the_issue_as_plain_text(jira_cloud: FakeJira,
                                                                  tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    jira_cloud.issues["SHOP-1"].description = ADF
    jira_cloud.add_issue("SHOP-7", labels=("other",), description={
        "type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": "Referenced only"}]}]})
    tracker = make_tracker(jira_cloud, tmp_path)
    issues = {i.key: i for i in tracker.fetch_issues(["SHOP-7"])}
    assert issues["SHOP-1"].body == ("Symptom\nApple Pay fails on iOS\nsince 4.2, says @Ana 🙁\n"
                                     "see https://acme.test/status/17\ncheckout only")
    assert issues["SHOP-2"].body == ""  # Jira gives null for an empty description
    assert issues["SHOP-7"].body == "Referenced only"
    asked = [[v for k, v in r.query if k == "fields"] or r.body["fields"]
             for r in jira_cloud.requests if r.path.endswith(("/search/jql", "/bulkfetch"))]
    assert len(asked) == 2 and all("description" in fields for fields in asked)
    jira_cloud.issues["SHOP-1"].description = {"type": "doc", "version": 1, "content": []}
    assert {i.key: i for i in tracker.fetch_issues(())}["SHOP-1"].body == ""

