"""Bounded tracker traffic: references capped, batched and cached; Jira retried and paced.

Customer text can name any number of issues. Each cycle reads at most
``max_referenced_issues`` of them, the most referenced first, many to a request; one found
closed or missing is not read again until ``referenced_revalidate_hours`` pass; a failing
read is recorded and the cycle goes on. The operator's JQL cannot reach past ``projects``.
"""

from __future__ import annotations

import itertools
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine

from fakes import github_builders as gh
from fakes import jira_builders as jb
from fakes.cycle import github_table, seed_github, write_config, write_data
from fakes.github_server import FakeGithub
from fakes.jira_fixtures import jira_cloud, jira_dc
from fakes.jira_jql import Clause, Node, parse
from fakes.jira_server import FakeJira
from impactlink.config import GithubTrackerConfig, JiraTrackerConfig, load_settings
from impactlink.pipeline import Pipeline
from impactlink.registry import build_catalog
from impactlink.store import refcache
from impactlink.store.records import RESPONSES, TICKETS
from impactlink.trackers.github import GithubTracker
from impactlink.trackers.jira import JiraTracker
from impactlink.trackers.jira_jql import check_narrowing
from impactlink.trackers.references import Referenced
from impactlink.writeback import MemoryJournal

pytest_plugins = ["fakes.github_fixtures"]
__all__ = ["jira_cloud", "jira_dc"]

HOUR = 3600.0


def _graphql_numbers(fake: FakeGithub) -> list[list[int]]:
    """Return the issue numbers each GraphQL query asked for, in order."""
    return [[int(n) for n in re.findall(r"\bi(\d+): issue", str(r.body["query"]))]
            for r in fake.requests if r.graphql]


# -- GitHub --------------------------------------------------------------------------------

def test_github_reads_the_most_referenced_first_within_the_cap_fifty_to_a_query(
        github_fake: FakeGithub, tmp_path: Path) -> None:
    gh.seed_shop(github_fake)  # 1-3 labelled, 4 a pull request, 5 unlabelled
    for n in range(10, 130):
        github_fake.add_issue("acme/shop", n, labels=("docs",))
    counts = {f"#{n}": n for n in range(10, 130)} | {"#4": 1000, "acme/shop#1": 999,
                                                     "other/repo#3": 5000, "SHOP-1": 5000}
    refs = Referenced(counts)

    issues = gh.make_tracker(github_fake, tmp_path, max_referenced_issues=60).fetch_issues(refs)

    asked = _graphql_numbers(github_fake)
    assert [len(batch) for batch in asked] == [50, 10]
    assert asked[0][:3] == [4, 129, 128]  # most referenced first; #1 is listed already
    keys = {i.key for i in issues}
    assert {"acme/shop#129", "acme/shop#71"} <= keys and "acme/shop#70" not in keys
    assert "acme/shop#4" not in keys  # a pull request is no issue
    assert not [r for r in github_fake.requests if re.fullmatch(r".*/issues/\d+", r.path)]
    assert refs.problems == []


def test_github_closed_and_missing_references_wait_for_revalidation(
        github_fake: FakeGithub, tmp_path: Path, engine: Engine) -> None:
    gh.seed_shop(github_fake)
    github_fake.add_issue("acme/shop", 8, labels=("docs",), state="closed")
    github_fake.add_issue("acme/shop", 9, labels=("docs",))
    clock = gh.Clock()
    tracker = gh.make_tracker(github_fake, tmp_path, clock=clock, referenced_revalidate_hours=24)
    cache = refcache.StoreRefCache(engine, "github")

    def cycle() -> set[str]:
        refs = Referenced({"#8": 3, "#9": 2, "#99": 1}, cache)
        return {i.key for i in tracker.fetch_issues(refs)}

    assert "acme/shop#9" in cycle()
    clock.now += HOUR
    assert "acme/shop#9" in cycle()
    github_fake.issue("acme/shop", 8)["state"] = "open"  # reopened meanwhile
    clock.now += 24 * HOUR
    assert "acme/shop#8" in cycle()
    clock.now += HOUR
    cycle()

    assert _graphql_numbers(github_fake) == [[8, 9, 99], [9], [8, 9, 99], [8, 9]]


def test_github_a_failing_reference_read_is_recorded_and_the_listing_goes_on(
        github_fake: FakeGithub, tmp_path: Path) -> None:
    gh.seed_shop(github_fake)
    github_fake.add_issue("acme/shop", 10, labels=("docs",))
    github_fake.inject("POST", r"^/graphql$", 502, {"message": "Server Error"}, times=4)
    refs = Referenced({"#10": 1})

    issues = gh.make_tracker(github_fake, tmp_path).fetch_issues(refs)

    assert [i.key for i in issues] == ["acme/shop#1", "acme/shop#2", "acme/shop#3"]
    [problem] = refs.problems
    assert "acme/shop#10" in problem and "502" in problem


def test_github_spent_graphql_budget_leaves_the_references_to_the_next_cycle(
        github_fake: FakeGithub, tmp_path: Path) -> None:
    gh.seed_shop(github_fake)
    github_fake.inject("POST", r"^/graphql$", 200, {"errors": [
        {"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]}, times=10, headers={
        "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(gh.NOW) + 1800),
        "x-ratelimit-resource": "graphql"})
    refs = Referenced({"#5": 1})

    issues = gh.make_tracker(github_fake, tmp_path).fetch_issues(refs)

    assert len(issues) == 3 and "max_rate_limit_wait_seconds" in refs.problems[0]


def test_a_cycle_whose_reference_read_fails_still_writes_the_rest(
        github_fake: FakeGithub, tmp_path: Path) -> None:
    seed_github(github_fake)
    write_data(tmp_path)
    settings = load_settings(write_config(tmp_path, github_table(github_fake, tmp_path)))
    github_fake.inject("POST", r"^/graphql$", 502, {"message": "Server Error"}, times=4)
    assert isinstance(settings.tracker, GithubTrackerConfig)
    pipeline = Pipeline(settings, tracker=GithubTracker(
        settings.tracker, tmp_path, build_catalog(settings), sleep=gh.Sleeps()))

    result = pipeline.run(datetime(2026, 11, 21, tzinfo=UTC))

    assert [e for e in result.errors if "referenced issues not read" in e]
    assert result.issues == 6 and result.writes.written == 12
    assert github_fake.comments_of("acme/shop", 7) == []


# -- Jira ----------------------------------------------------------------------------------

@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_jira_reads_the_most_referenced_keys_first_a_hundred_to_a_request(
        flavor: str, jira_cloud: FakeJira, jira_dc: FakeJira, tmp_path: Path) -> None:
    fake = jira_cloud if flavor == "cloud" else jira_dc
    jb.seed_shop(fake)  # SHOP-1..3 by component, SHOP-4 done, SHOP-5 without a feature
    for n in range(10, 260):
        fake.add_issue(f"SHOP-{n}")
    refs = Referenced({f"SHOP-{n}": n for n in range(10, 260)} | {"OPS-1": 9999})

    issues = jb.make_tracker(fake, tmp_path, max_referenced_issues=150).fetch_issues(refs)

    keys = {i.key for i in issues}
    assert {"SHOP-259", "SHOP-110"} <= keys and "SHOP-109" not in keys and "OPS-1" not in keys
    if flavor == "cloud":
        batches = [r.body["issueIdsOrKeys"] for r in fake.requests
                   if r.path.endswith("/bulkfetch")]
    else:
        batches = [re.findall(r"SHOP-\d+", r.param("jql") or "") for r in fake.requests
                   if r.path.endswith("/search") and r.param("validateQuery") == "warn"]
    assert [len(b) for b in batches] == [100, 50]
    assert set(batches[0]) == {f"SHOP-{n}" for n in range(160, 260)}
    assert refs.problems == []


def test_jira_resolved_and_missing_keys_wait_for_revalidation(
        jira_cloud: FakeJira, tmp_path: Path, engine: Engine) -> None:
    jb.seed_shop(jira_cloud)
    now = [jb.NOW]
    tracker = JiraTracker(jb.config_for(jira_cloud, tmp_path), tmp_path, jb.CATALOG,
                          sleep=jb.Sleeps(), clock=lambda: now[0])
    cache = refcache.StoreRefCache(engine, "jira")

    def asked() -> list[str]:
        jira_cloud.reset_log()
        tracker.fetch_issues(Referenced({"SHOP-4": 3, "SHOP-5": 2, "SHOP-404": 1}, cache))
        return [k for r in jira_cloud.requests if r.path.endswith("/bulkfetch")
                for k in r.body["issueIdsOrKeys"]]

    assert asked() == ["SHOP-4", "SHOP-5", "SHOP-404"]
    now[0] += HOUR
    assert asked() == ["SHOP-5"]
    now[0] += 24 * HOUR
    assert asked() == ["SHOP-4", "SHOP-5", "SHOP-404"]


def test_jira_a_500_on_a_read_is_retried_and_on_a_write_is_not(jira_cloud: FakeJira,
                                                              tmp_path: Path) -> None:
    jb.seed_shop(jira_cloud)
    jira_cloud.inject("GET", r"search/jql$", 500, {"errorMessages": ["Internal error"]})
    jira_cloud.inject("PUT", r"issue/SHOP-1$", 500, {"errorMessages": ["Internal error"]})
    sleeps = jb.Sleeps()

    summary = jb.run_cycle(jb.make_tracker(jira_cloud, tmp_path, sleep=sleeps),
                           {k: jb.impact(k) for k in ("SHOP-1", "SHOP-2")}, MemoryJournal())

    assert sleeps == [2.0]  # the search, once
    assert summary.written == 1 and len(summary.failed) == 1 and "500" in summary.failed[0]
    assert [r.path.rsplit("/", 1)[1] for r in jira_cloud.writes()] == ["SHOP-1", "SHOP-2"]


def test_jira_a_500_on_a_read_is_retried_only_up_to_the_bound(jira_cloud: FakeJira,
                                                             tmp_path: Path) -> None:
    jb.seed_shop(jira_cloud)
    jira_cloud.inject("GET", r"search/jql$", 500, times=100)
    with pytest.raises(Exception, match="after 2 retries"):
        jb.make_tracker(jira_cloud, tmp_path, max_retries=2).fetch_issues(())
    assert len([r for r in jira_cloud.requests if r.path.endswith("/search/jql")]) == 3


def test_jira_writes_are_spaced_by_seconds_between_writes(jira_cloud: FakeJira,
                                                         tmp_path: Path) -> None:
    jb.seed_shop(jira_cloud)
    tracker = jb.make_tracker(jira_cloud, tmp_path, sleep=time.sleep, seconds_between_writes=0.1)

    jb.run_cycle(tracker, {k: jb.impact(k) for k in ("SHOP-1", "SHOP-2", "SHOP-3")},
                 MemoryJournal())

    times = [r.at for r in jira_cloud.writes()]
    assert len(times) == 3 and min(b - a for a, b in itertools.pairwise(times)) >= 0.1


def test_jira_operator_jql_narrows_within_the_projects(jira_cloud: FakeJira,
                                                       tmp_path: Path) -> None:
    jb.seed_shop(jira_cloud)
    jira_cloud.add_issue("OPS-2", components=(jb.HOSTILE_COMPONENT,))
    tracker = jb.make_tracker(jira_cloud, tmp_path, jql="issuetype = Bug OR project = OPS")

    keys = [i.key for i in tracker.fetch_issues(())]

    assert keys == ["SHOP-1", "SHOP-2", "SHOP-3"]
    [search] = [r for r in jira_cloud.requests if r.path.endswith("/search/jql")]
    where = parse(search.param("jql") or "").where
    assert isinstance(where, Node) and where.op == "and"
    assert where.children[0] == Clause("project", "in", ("SHOP",))


def test_jira_an_answer_outside_the_projects_is_left_out(jira_cloud: FakeJira,
                                                         tmp_path: Path) -> None:
    jb.seed_shop(jira_cloud)
    outside = jira_cloud._json(jira_cloud.issues["OPS-1"], ["*navigable"])
    inside = jira_cloud._json(jira_cloud.issues["SHOP-1"], ["*navigable"])
    jira_cloud.inject("GET", r"search/jql$", 200, {"issues": [inside, outside], "isLast": True})

    keys = [i.key for i in jb.make_tracker(jira_cloud, tmp_path).fetch_issues(())]

    assert keys == ["SHOP-1"]


@pytest.mark.parametrize("jql", [
    "issuetype = Bug) OR (project is not EMPTY",
    ") OR (project = OPS",
    "(issuetype = Bug",
    'summary ~ "unclosed',
    "issuetype = Bug ORDER BY created DESC",
])
def test_jql_that_could_widen_the_search_is_refused(jql: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="jql"):
        JiraTrackerConfig.model_validate({"type": "jira", "url": "https://acme.atlassian.net",
                                          "projects": ["SHOP"], "jql": jql})


@pytest.mark.parametrize("jql", [
    "issuetype = Bug",
    "issuetype = Bug AND (priority = High OR labels = urgent)",
    'summary ~ "a) OR (b"',
    "summary ~ 'it\\'s (fine'",
    'summary ~ "order by"',
])
def test_jql_that_only_narrows_is_accepted(jql: str) -> None:
    check_narrowing(jql)


# -- the store -----------------------------------------------------------------------------

def test_reference_counts_come_from_the_stored_records(engine: Engine) -> None:
    at = datetime(2026, 6, 1, tzinfo=UTC)
    tickets = [{"source": "t", "external_id": f"T{n}", "customer_key": "c", "created_at": at,
                "refs": refs} for n, refs in enumerate(["#1|#2", "#1", "", "#1|SHOP-3"])]
    responses = [{"source": "r", "external_id": f"R{n}", "customer_key": "c",
                  "submitted_at": at, "refs": refs} for n, refs in enumerate(["#2", "#2|#2"])]
    with engine.begin() as conn:
        conn.execute(TICKETS.insert(), tickets)
        conn.execute(RESPONSES.insert(), responses)
    with engine.connect() as conn:
        counts = refcache.referenced(conn)

    assert counts == {"#1": 3, "#2": 3, "SHOP-3": 1}
    assert list(Referenced(counts)) == ["#1", "#2", "SHOP-3"]


def test_store_remembers_gone_references_per_tracker_and_forgets_reopened(
        engine: Engine) -> None:
    github, jira = refcache.StoreRefCache(engine, "github"), refcache.StoreRefCache(engine, "jira")
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    github.remember({"a#1": "closed", "a#2": "missing", "a#3": "open"}, at=t0)

    assert github.gone(["a#1", "a#2", "a#3"], since=t0) == {"a#1", "a#2"}
    assert jira.gone(["a#1"], since=t0) == set()
    assert github.gone(["a#1"], since=datetime(2026, 6, 2, tzinfo=UTC)) == set()
    github.remember({"a#1": "open"}, at=t0)
    assert github.gone(["a#1", "a#2"], since=t0) == {"a#2"}
