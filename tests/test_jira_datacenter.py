"""Jira Data Center: REST v2, Bearer personal access token, /search with startAt."""

from __future__ import annotations

from pathlib import Path

from fakes.jira_builders import impact, make_tracker, run_cycle, seed_shop
from fakes.jira_fixtures import jira_cloud, jira_dc
from fakes.jira_server import FakeJira
from impactlink.writeback import MemoryJournal

__all__ = ["jira_cloud", "jira_dc"]


def test_datacenter_auth_search_and_write(jira_dc: FakeJira, tmp_path: Path) -> None:
    seed_shop(jira_dc, issues=120)
    tracker = make_tracker(jira_dc, tmp_path, level_label=True)
    journal = MemoryJournal()
    impacts = {"SHOP-1": impact("SHOP-1"), "SHOP-120": impact("SHOP-120", level="low")}
    summary = run_cycle(tracker, impacts, journal, references=("SHOP-121", "SHOP-404"))
    assert (summary.written, summary.failed) == (4, [])
    assert tracker.client.flavor == "datacenter"
    assert jira_dc.value("SHOP-120", "Customer Impact") == 12.3
    assert "impact-low" in jira_dc.issues["SHOP-120"].labels
    assert all(r.headers["authorization"] == f"Bearer {jira_dc.token}" for r in jira_dc.requests)
    assert all("/rest/api/2/" in r.path for r in jira_dc.requests)
    searches = [r for r in jira_dc.requests if r.path.endswith("/search")]
    assert [r.param("startAt") for r in searches] == ["0", "100", "0"]
    assert [r.param("validateQuery") for r in searches] == ["strict", "strict", "warn"]
    jira_dc.reset_log()
    assert run_cycle(tracker, impacts, journal).written == 0
    assert jira_dc.writes() == []


def test_datacenter_flavor_detected_from_server_info(jira_dc: FakeJira, tmp_path: Path) -> None:
    seed_shop(jira_dc)
    tracker = make_tracker(jira_dc, tmp_path)
    assert [i.key for i in tracker.fetch_issues(())] == ["SHOP-1", "SHOP-2", "SHOP-3"]
    assert jira_dc.requests[0].path == "/jira/rest/api/2/serverInfo"


def test_cloud_search_pages_with_next_page_token(jira_cloud: FakeJira, tmp_path: Path) -> None:
    seed_shop(jira_cloud, issues=150)
    keys = [i.key for i in make_tracker(jira_cloud, tmp_path, flavor="cloud").fetch_issues(())]
    assert len(keys) == 150
    tokens = [r.param("nextPageToken") for r in jira_cloud.requests
              if r.path.endswith("/search/jql")]
    assert tokens[0] is None and tokens[1]
    assert not any(r.path.endswith("/serverInfo") for r in jira_cloud.requests)


def test_datacenter_description_in_wiki_markup_is_taken_as_is(jira_dc: FakeJira,
                                                              tmp_path: Path) -> None:
    seed_shop(jira_dc)
    wiki = "h2. Symptom\n*Apple Pay* fails on iOS, see [status|https://acme.test/status/17]"
    jira_dc.issues["SHOP-1"].description = wiki
    issues = {i.key: i for i in make_tracker(jira_dc, tmp_path).fetch_issues(())}
    assert issues["SHOP-1"].body == wiki and issues["SHOP-2"].body == ""
    searches = [r for r in jira_dc.requests if r.path.endswith("/search")]
    assert searches and all("description" in (r.param("fields") or "").split(",")
                            for r in searches)
