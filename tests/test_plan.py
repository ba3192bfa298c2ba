"""A plan that tells the truth: it compares with what the tracker holds, not the last compute."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from typer.testing import CliRunner

from fakes.github_server import FakeGithub
from fakes.jira_builders import impact, make_tracker, seed_shop
from fakes.jira_fixtures import jira_cloud
from fakes.jira_server import FakeJira
from impactlink.cli import app
from impactlink.core.render import MARKER
from impactlink.trackers.base import Change
from impactlink.writeback import MemoryJournal, write_back
from test_cli import AS_OF, example_config
from test_pipeline_github import github_config, run, shop

pytest_plugins = ["fakes.github_fixtures"]
__all__ = ["jira_cloud", "shop"]
runner = CliRunner()
WRITE = re.compile(r"^  (POST|PATCH|PUT|DELETE) (/\S+)", re.M)


def plan_of(out: str) -> str:
    """Return the plan part of a run's output: from its title to the summary."""
    return out[out.index("Plan as of"):out.index("\nSummary")]


def planned_writes(out: str) -> Counter[tuple[str, str]]:
    return Counter((m.group(1), m.group(2)) for m in WRITE.finditer(plan_of(out)))


def test_two_dry_runs_plan_the_same_and_a_real_run_sends_exactly_it(
        tmp_path: Path, shop: FakeGithub) -> None:
    config = github_config(tmp_path, shop)
    first, second = run(config, "--dry-run"), run(config, "--dry-run")
    assert shop.writes() == []
    assert plan_of(first) == plan_of(second)
    planned = planned_writes(first)
    assert planned and len(re.findall(r"│ acme/shop#\d+ ", plan_of(first))) >= 30

    shop.reset_log()
    run(config)
    sent = Counter((r.method, r.path) for r in shop.writes())
    assert sent == planned

    after = run(config, "--dry-run")
    assert "nothing to write — the tracker already holds every issue's impact" in after
    assert "┏" not in after  # a sentence, not an empty table


def test_label_creation_is_planned_once_per_repository_and_label(
        tmp_path: Path, shop: FakeGithub) -> None:
    out = run(github_config(tmp_path, shop), "--dry-run")
    created = re.findall(r"POST /repos/acme/shop/labels \{'name': '([^']+)'", out)
    assert sorted(created) == sorted(set(created))
    assert set(created) == {f"impact: {level}" for level in
                            re.findall(r"│ – → (critical|high|medium|low)\s", out)}


def test_a_label_the_repository_has_is_not_planned_for_creation(
        tmp_path: Path, shop: FakeGithub) -> None:
    for level in ("critical", "high", "medium", "low"):
        shop.add_label("acme/shop", f"impact: {level}")
    out = run(github_config(tmp_path, shop), "--dry-run")
    assert "POST /repos/acme/shop/labels " not in out
    assert re.search(r"POST /repos/acme/shop/issues/\d+/labels", out)


def test_show_bodies_prints_the_comment_of_each_planned_comment_write(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    result = runner.invoke(app, ["run", "-c", str(config), "--dry-run", "--show-bodies",
                                 "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    out = result.output
    comments = len(re.findall(r"^  gh issue comment \d+ ", out, re.M))
    bodies = re.findall(r"^── (acme/shop#\d+): the managed comment ──\n(.*?)\n<!-- /", out,
                        re.M | re.S)
    assert comments >= 30 and len(bodies) == comments
    assert all(body.startswith(MARKER) and "### Customer Impact" in body for _, body in bodies)


def test_show_bodies_goes_with_dry_run(tmp_path: Path, shop: FakeGithub) -> None:
    result = runner.invoke(app, ["run", "-c", str(github_config(tmp_path, shop)),
                                 "--show-bodies", "--as-of", AS_OF])
    assert result.exit_code == 2
    assert "--show-bodies goes with --dry-run" in result.output
    assert shop.writes() == []


def test_the_file_tracker_plans_by_hand_every_run_and_journals_nothing(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    outs = [runner.invoke(app, ["run", "-c", str(config), "--as-of", AS_OF]).output
            for _ in range(2)]
    assert plan_of(outs[0]) == plan_of(outs[1])
    assert "What to apply by hand" in outs[0]
    assert "gh issue edit 101 --repo acme/shop --add-label 'impact: critical'" in outs[0]
    assert re.search(r"writes: \d+ planned, 0 unchanged", outs[1])


def test_jira_plan_leaves_out_what_jira_already_holds(jira_cloud: FakeJira,
                                                      tmp_path: Path) -> None:
    seed_shop(jira_cloud)
    held = jira_cloud.issues["SHOP-1"].values
    for name, value in (("Customer Impact", 12.3), ("CSAT", 62.5), ("Affected Customers", 37)):
        held[jira_cloud.field_id(name)] = value
    tracker = make_tracker(jira_cloud, tmp_path)
    issues = {i.key: i for i in tracker.fetch_issues(())}
    changes = [Change(issues["SHOP-1"], impact("SHOP-1")),
               Change(issues["SHOP-2"], impact("SHOP-2", csat=70.0))]
    journal = MemoryJournal()

    plan = write_back(tracker, changes, journal, dry_run=True)
    assert [(key, w.target) for key, w in plan.planned] == [("SHOP-2", "fields")]
    assert plan.planned[0][1].requests[0].endswith(
        'fields: "Customer Impact" = 12.3, "CSAT" = 70.0, "Affected Customers" = 37.0')

    jira_cloud.reset_log()
    done = write_back(tracker, changes, journal)
    assert done.written == 1 and len(jira_cloud.writes()) == 1
    assert journal.last("SHOP-1", "fields") is not None  # held: journaled without a request
