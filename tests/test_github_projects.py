"""Customer Impact as Projects v2 number fields, through GraphQL checked against GitHub's schema."""

from __future__ import annotations

from pathlib import Path

from fakes.github_builders import impact, make_tracker, run_cycle, seed_shop
from fakes.github_server import FakeGithub
from impactlink.writeback import MemoryJournal

pytest_plugins = ["fakes.github_fixtures"]

FIELDS = {"Customer Impact": "NUMBER", "CSAT": "NUMBER", "Affected Customers": "NUMBER"}
PROJECT = {"owner": "acme", "number": 3}


def _mutations(fake: FakeGithub) -> list[str]:
    return [r.body["query"] for r in fake.writes() if r.graphql]


def test_first_run_sets_the_fields_in_one_mutation_per_issue(github_fake: FakeGithub,
                                                             tmp_path: Path) -> None:
    seed_shop(github_fake, issues=2)
    project = github_fake.add_project("acme", 3, fields=FIELDS)
    tracker = make_tracker(github_fake, tmp_path, project=PROJECT)

    summary = run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1"),
                                  "acme/shop#2": impact("acme/shop#2", csat=None)},
                        MemoryJournal())

    assert summary.written == 6 and not summary.failed
    assert project.values_of("I_acme/shop#1") == {
        "Customer Impact": 12.3, "CSAT": 62.5, "Affected Customers": 37.0}
    assert project.values_of("I_acme/shop#2") == {"Customer Impact": 12.3,
                                                  "Affected Customers": 37.0}
    mutations = _mutations(github_fake)
    assert len(mutations) == 4  # per issue: add the item, then one aliased mutation
    assert mutations[1].count("updateProjectV2ItemFieldValue") == 3
    assert mutations[3].count("updateProjectV2ItemFieldValue") == 2
    assert mutations[3].count("clearProjectV2ItemFieldValue") == 1


def test_second_run_sends_no_graphql_write(github_fake: FakeGithub, tmp_path: Path) -> None:
    seed_shop(github_fake, issues=2)
    github_fake.add_project("acme", 3, fields=FIELDS)
    tracker = make_tracker(github_fake, tmp_path, project=PROJECT)
    journal = MemoryJournal()
    impacts = {"acme/shop#1": impact("acme/shop#1"), "acme/shop#2": impact("acme/shop#2")}
    run_cycle(tracker, impacts, journal)
    github_fake.reset_log()

    summary = run_cycle(tracker, impacts, journal)

    assert summary.written == 0 and github_fake.writes() == []
    assert not any(r.graphql for r in github_fake.requests)


def test_missing_fields_are_created_as_numbers_when_allowed(github_fake: FakeGithub,
                                                            tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    project = github_fake.add_project("acme", 3, fields={"Status": "SINGLE_SELECT"})
    tracker = make_tracker(github_fake, tmp_path, project=PROJECT, create_fields=True)

    summary = run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal())

    assert not summary.failed
    kinds = {f["name"]: f["dataType"] for f in project.fields.values()}
    assert kinds == {"Status": "SINGLE_SELECT", **FIELDS}
    assert project.values_of("I_acme/shop#1") == {
        "Customer Impact": 12.3, "CSAT": 62.5, "Affected Customers": 37.0}


def test_missing_fields_without_create_fields_name_them(github_fake: FakeGithub,
                                                        tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    github_fake.add_project("acme", 3, fields={"Customer Impact": "NUMBER"})
    tracker = make_tracker(github_fake, tmp_path, project=PROJECT)

    summary = run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal())

    assert summary.written == 2
    assert len(summary.failed) == 1
    assert "no field named 'CSAT', 'Affected Customers'" in summary.failed[0]
    assert "create_fields = true" in summary.failed[0]
    assert tracker.check() == [summary.failed[0].split(" project: ", 1)[1]]


def test_a_field_of_another_type_is_refused(github_fake: FakeGithub, tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    github_fake.add_project("acme", 3, fields={**FIELDS, "CSAT": "TEXT"})
    tracker = make_tracker(github_fake, tmp_path, project=PROJECT)

    assert tracker.check() == ["acme project 3: field(s) 'CSAT' must be of type Number; "
                               "rename them or point fields at others"]


def test_lost_impact_clears_the_fields_and_keeps_the_item(github_fake: FakeGithub,
                                                          tmp_path: Path) -> None:
    seed_shop(github_fake, issues=2)
    project = github_fake.add_project("acme", 3, fields=FIELDS)
    journal = MemoryJournal()
    run_cycle(make_tracker(github_fake, tmp_path, project=PROJECT),
              {"acme/shop#1": impact("acme/shop#1")}, journal)

    fresh = make_tracker(github_fake, tmp_path, project=PROJECT)  # no cached item ids
    summary = run_cycle(fresh, {"acme/shop#1": None, "acme/shop#2": None}, journal)

    assert not summary.failed
    assert project.values_of("I_acme/shop#1") == {}
    assert project.values_of("I_acme/shop#2") is None  # never added just to be cleared
    assert not any("addProjectV2ItemById" in q for q in _mutations(github_fake)[2:])


def test_user_owned_project(github_fake: FakeGithub, tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    project = github_fake.add_project("octocat", 1, owner_type="user", fields=FIELDS)
    tracker = make_tracker(github_fake, tmp_path,
                           project={"owner": "octocat", "owner_type": "user", "number": 1})

    run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal())

    assert project.values_of("I_acme/shop#1") == {
        "Customer Impact": 12.3, "CSAT": 62.5, "Affected Customers": 37.0}


def test_an_item_removed_from_the_board_is_added_again(github_fake: FakeGithub,
                                                       tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    project = github_fake.add_project("acme", 3, fields=FIELDS)
    tracker = make_tracker(github_fake, tmp_path, project=PROJECT)
    journal = MemoryJournal()
    run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1")}, journal)
    project.items.clear()

    summary = run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1", score=20.0)}, journal)

    assert not summary.failed
    assert project.values_of("I_acme/shop#1") == {
        "Customer Impact": 20.0, "CSAT": 62.5, "Affected Customers": 37.0}
