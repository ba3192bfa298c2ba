"""A full cycle killed with SIGKILL anywhere, then run again, ends as an uninterrupted run does.

Each case runs `impactlink run` (file sources → fake GitHub, or → fake Jira Cloud) in a
child process, kills it at one point, runs the cycle again and compares the tracker and
the store with a run that was never interrupted: no duplicate comment, no lost record,
no write missing or repeated in what the tracker shows.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fakes import crash
from fakes.cycle import (
    AS_OF,
    github_state,
    github_table,
    jira_state,
    jira_table,
    seed_github,
    seed_jira,
    store_state,
    write_config,
    write_data,
)
from fakes.faults import Gate
from fakes.github_server import FakeGithub
from fakes.jira_server import FakeJira

GITHUB_WRITES = 14
"""Journaled writes of the scenario on GitHub: a label and a comment on each of 7 issues."""
JIRA_WRITES = 14
"""On Jira: the fields and the comment of each of 7 issues."""


@dataclass
class World:
    """One scenario: its directory, configuration and fake tracker."""

    kind: str
    root: Path
    config: Path
    fake: FakeGithub | FakeJira
    zygote: crash.Zygote

    def tracker_state(self) -> dict[str, Any]:
        if isinstance(self.fake, FakeGithub):
            return github_state(self.fake)
        return jira_state(self.fake)

    def comments(self) -> int:
        if isinstance(self.fake, FakeGithub):
            return len(self.fake.comments)
        return sum(len(i.comments) for i in self.fake.issues.values())

    def store(self) -> dict[str, Any]:
        place = self.fake.base_url if isinstance(self.fake, FakeGithub) else self.fake.url
        return store_state(self.root / "store.db", {str(self.root): "<root>",
                                                    place: "<tracker>"})

    def run(self) -> None:
        """Run one cycle in a child process, to its end."""
        log = self.root / "child.log"
        self.fake.reset_log()
        self.zygote.start(self.config, AS_OF, log)
        assert self.zygote.wait() == 0, log.read_text()

    def crash(self, point: str | None, nth: int = 1, gate: Gate | None = None) -> None:
        """Run one cycle in a child process and see it die by SIGKILL."""
        log = self.root / "child.log"
        self.fake.gate = gate
        try:
            pid = self.zygote.start(self.config, AS_OF, log, point, nth)
            if gate is not None:
                assert gate.held.wait(60), log.read_text()
                os.kill(pid, signal.SIGKILL)
            code = self.zygote.wait()
        finally:
            if gate is not None:
                gate.released.set()
                self.fake.gate = None
        assert code == -signal.SIGKILL, log.read_text()


@pytest.fixture(scope="module")
def zygote() -> Iterator[crash.Zygote]:
    forks = crash.Zygote()
    yield forks
    forks.close()


def _world(kind: str, root: Path, zygote: crash.Zygote) -> Iterator[World]:
    root.mkdir(parents=True, exist_ok=True)
    fake: FakeGithub | FakeJira
    if kind == "github":
        fake = FakeGithub().start()
        seed_github(fake)
        table = github_table(fake, root)
    else:
        fake = FakeJira("cloud").start()
        seed_jira(fake)
        table = jira_table(fake, root)
    write_data(root)
    try:
        yield World(kind, root, write_config(root, table), fake, zygote)
    finally:
        fake.stop()
    assert not fake.violations, fake.violations


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory,
              zygote: crash.Zygote) -> dict[str, tuple[Any, Any]]:
    """The tracker and store after one uninterrupted cycle, per tracker."""
    out = {}
    for kind in ("github", "jira"):
        for world in _world(kind, tmp_path_factory.mktemp(f"reference-{kind}"), zygote):
            world.run()
            out[kind] = (world.tracker_state(), world.store())
            world.run()
            assert world.fake.writes() == [], "a second run wrote again"
            assert (world.tracker_state(), world.store()) == out[kind]
    return out


@pytest.fixture(params=["github", "jira"])
def world(request: pytest.FixtureRequest, tmp_path: Path,
          zygote: crash.Zygote) -> Iterator[World]:
    yield from _world(str(request.param), tmp_path / "w", zygote)


def _same_as_reference(world: World, reference: dict[str, tuple[Any, Any]]) -> None:
    tracker, store = reference[world.kind]
    assert world.tracker_state() == tracker
    assert world.store() == store


def test_the_reference_run_writes_what_the_cases_count(
        reference: dict[str, tuple[Any, Any]]) -> None:
    for kind, writes in (("github", GITHUB_WRITES), ("jira", JIRA_WRITES)):
        store = reference[kind][1]
        assert len(store["written"]) == writes
        assert len(store["ticket"]) == 30 and len(store["csat_response"]) == 45
    comments = [c for issue in reference["github"][0]["issues"].values()
                for c in issue["comments"]]
    assert len(comments) == 7


@pytest.mark.parametrize(("kind", "point", "nth"), [
    ("github", "ingest", 1), ("github", "ingest", 2), ("github", "ingest", 3),
    ("github", "matches", 1), ("github", "impacts", 1), ("jira", "impacts", 1),
])
def test_killed_at_a_point_then_rerun_ends_as_an_uninterrupted_run(
        reference: dict[str, tuple[Any, Any]], tmp_path: Path, zygote: crash.Zygote,
        kind: str, point: str, nth: int) -> None:
    for world in _world(kind, tmp_path / "w", zygote):
        world.crash(point, nth)
        world.run()
        _same_as_reference(world, reference)


@pytest.mark.parametrize("after", [False, True], ids=["before-it-lands", "after-it-landed"])
def test_killed_while_a_comment_post_is_in_flight_leaves_one_comment(
        world: World, reference: dict[str, tuple[Any, Any]], after: bool) -> None:
    path = r"/issues/\d+/comments$" if world.kind == "github" else r"/issue/SHOP-\d+/comment$"
    world.crash(None, gate=Gate("POST", path, nth=2, after=after))
    assert world.comments() == (2 if after else 1)
    world.run()
    _same_as_reference(world, reference)


def test_killed_after_a_field_edit_landed_unanswered(
        reference: dict[str, tuple[Any, Any]], tmp_path: Path, zygote: crash.Zygote) -> None:
    for world in _world("jira", tmp_path / "w", zygote):
        world.crash(None, gate=Gate("PUT", r"/issue/SHOP-3$", after=True))
        world.run()
        _same_as_reference(world, reference)


def test_killed_after_every_write_in_turn_then_rerun(
        world: World, reference: dict[str, tuple[Any, Any]]) -> None:
    writes = GITHUB_WRITES if world.kind == "github" else JIRA_WRITES
    for _ in range(writes):  # each run dies right after journaling its first write
        world.crash("journal", 1)
    world.run()
    _same_as_reference(world, reference)
