"""``impactlink check`` against Jira: each problem named with its fix."""

from __future__ import annotations

from pathlib import Path

import requests

from fakes.jira_builders import make_tracker, seed_shop
from fakes.jira_fixtures import jira_cloud, jira_dc
from fakes.jira_server import FakeJira
from impactlink.core.matching import Catalog, Feature

__all__ = ["jira_cloud", "jira_dc"]


def test_check_passes_on_a_ready_site(jira_cloud: FakeJira, jira_dc: FakeJira,
                                      tmp_path: Path) -> None:
    for fake in (jira_cloud, jira_dc):
        seed_shop(fake)
        assert make_tracker(fake, tmp_path, level_label=True).check() == []
    assert any(r.path.endswith("/rest/api/3/jql/parse") for r in jira_cloud.requests)


def test_check_reports_bad_credentials(jira_cloud: FakeJira, tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    tracker = make_tracker(jira_cloud, tmp_path)
    jira_cloud.token = "rotated"
    [problem] = tracker.check()
    assert "refused the credentials" in problem and "token_env" in problem


def test_check_reports_fields_screens_projects_and_jql(jira_cloud: FakeJira,
                                                       tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    jira_cloud.expect_jql_errors = True
    jira_cloud.add_field("Affected Customers", "string")
    jira_cloud.hide_from_screen("SHOP", "Bug", jira_cloud.field_id("CSAT"))
    jira_cloud.hide_from_screen("SHOP", "Bug", "labels")
    catalog = Catalog([Feature("billing", components=("Billing",))])
    problems = make_tracker(jira_cloud, tmp_path, catalog=catalog, projects=["SHOP", "NOPE"],
                            level_label=True, fields={"score": "Impact Score"}).check()
    text = "\n".join(problems)
    assert "no field is named 'Impact Score'" in text
    assert "'CSAT' (customfield_" in text and "not on the edit screen of project SHOP" in text
    assert "'Labels' (labels)" in text
    assert "project NOPE: not found" in text
    assert "the feature search is not valid JQL" in text and "'Billing'" in text
    assert len(problems) == 5


def test_check_on_datacenter_validates_jql_by_searching(jira_dc: FakeJira,
                                                        tmp_path: Path) -> None:
    seed_shop(jira_dc)
    jira_dc.expect_jql_errors = True
    problems = make_tracker(jira_dc, tmp_path, projects=["SHOP", "NOPE"]).check()
    assert len(problems) == 2
    assert problems[0].startswith("project NOPE: not found")
    assert problems[1].startswith("the feature search is not valid JQL") and "NOPE" in problems[1]


def test_cloud_old_search_is_gone_and_datacenter_has_no_v3(jira_cloud: FakeJira,
                                                           jira_dc: FakeJira) -> None:
    auth = (jira_cloud.email, jira_cloud.token)
    assert requests.get(f"{jira_cloud.url}/rest/api/3/search", auth=auth,
                        params={"jql": "project = SHOP"}, timeout=5).status_code == 410
    bearer = {"Authorization": f"Bearer {jira_dc.token}"}
    assert requests.get(f"{jira_dc.url}/rest/api/3/field", headers=bearer,
                        timeout=5).status_code == 404
    assert requests.get(f"{jira_dc.url}/rest/api/2/field", auth=auth,
                        timeout=5).status_code == 401
