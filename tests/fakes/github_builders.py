"""Builders for the GitHub tracker tests: config, tracker, seeded repos, impacts, one cycle."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fakes.github_server import FakeGithub
from impactlink.config import GithubTrackerConfig
from impactlink.core.matching import Catalog, Feature
from impactlink.core.models import Impact, IssueKey, Level, SegmentFigures, Trend
from impactlink.trackers.base import Change
from impactlink.trackers.github import GithubTracker
from impactlink.writeback import MemoryJournal, WriteSummary, write_back

CATALOG = Catalog([
    Feature("checkout", tags=("checkout",), labels=("area/checkout",)),
    Feature("search", tags=("search",), labels=("area/search",)),
])
NOW = 1_800_000_000.0
"""The injected clock: rate-limit resets in the tests are relative to it."""


class Sleeps(list[float]):
    """The injected sleep: records each wait instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def config_for(fake: FakeGithub, tmp_path: Path, **overrides: Any) -> GithubTrackerConfig:
    token = tmp_path / "github-token"
    token.write_text("ghp_test\n")
    data: dict[str, Any] = {"type": "github", "repos": ["acme/shop"], "api_url": fake.base_url,
                            "token_file": str(token), "seconds_between_writes": 0,
                            "seconds_between_requests": 0, **overrides}
    return GithubTrackerConfig.model_validate(data)


class Clock:
    """The injected clock, fixed at NOW until a test moves it."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def make_tracker(fake: FakeGithub, tmp_path: Path, *, sleep: Sleeps | None = None,
                 clock: Clock | None = None, **overrides: Any) -> GithubTracker:
    return GithubTracker(config_for(fake, tmp_path, **overrides), tmp_path, CATALOG,
                         sleep=sleep if sleep is not None else Sleeps(),
                         clock=clock if clock is not None else Clock())


def seed_shop(fake: FakeGithub, issues: int = 3, *, private: bool = True) -> None:
    """acme/shop with issues 1..n labelled area/checkout, a pull request, an unrelated issue."""
    fake.add_repo("acme/shop", private=private)
    for n in range(1, issues + 1):
        fake.add_issue("acme/shop", n, labels=("area/checkout", "bug"))
    fake.add_issue("acme/shop", issues + 1, labels=("area/checkout",), pull=True)
    fake.add_issue("acme/shop", issues + 2, labels=("docs",))


def impact(key: str, *, level: Level = "high", score: float = 12.3, csat: float | None = 62.5,
           affected: int = 37) -> Impact:
    return Impact(
        issue=IssueKey(key), title="", url="", features=("checkout",), references=(key.lower(),),
        responses=24, satisfied=15, dissatisfied=9, csat=csat, csat_low=42.7,
        csat_high=78.8, tickets=11, offered=0, customers_observed=20, named_customers=2,
        attributed_customers=20.0, linked_affected=affected, linked_affected_low=25,
        linked_affected_high=52, affected=affected, affected_low=25, affected_high=52,
        method="usage", arr_at_risk=120000.0, linked_arr=120000.0,
        segments=(SegmentFigures("plan", "enterprise", 10, 4, 40.0, 6),),
        trend=Trend(-8.0, 70.5, 30, 0.012, True), pain=0.3529, reach=34.86, score=score,
        level=level,
        explanation={"pain": {"d": 9, "n": 24, "p0": 0.2, "alpha": 10.0,
                              "population_responses": 900},
                     "reach": {"weighted_share_sum": 18.84, "affected": affected,
                               "customers_observed": 20, "attribution": "shared",
                               "weight_by": "none", "full_share_customers": 2},
                     "level": {"customer_base": 1200}})


def run_cycle(tracker: GithubTracker, impacts: Mapping[str, Impact | None],
              journal: MemoryJournal, *, dry_run: bool = False,
              quotes: tuple[str, ...] = (), references: tuple[str, ...] = ()) -> WriteSummary:
    """One cycle as the pipeline runs it: fetch issues, then write back their impact."""
    issues = tracker.fetch_issues(references)
    changes = [Change(i, impacts.get(i.key), quotes) for i in issues if i.key in impacts]
    return write_back(tracker, changes, journal, dry_run=dry_run)
