"""Builders for the Jira tracker tests: config, tracker, a seeded site, impacts, one cycle."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fakes.jira_server import FakeJira
from impactlink.config import JiraTrackerConfig
from impactlink.core.matching import Catalog, Feature
from impactlink.core.models import Impact, IssueKey, Level, SegmentFigures, Trend
from impactlink.trackers.base import Change
from impactlink.trackers.jira import JiraTracker
from impactlink.writeback import MemoryJournal, WriteSummary, write_back

HOSTILE_COMPONENT = 'Checkout "New", v2)'
HOSTILE_LABEL = 'pay\\ments"OR"x'
CATALOG = Catalog([
    Feature("checkout", tags=("checkout",), labels=("area-checkout",),
            components=(HOSTILE_COMPONENT,)),
    Feature("search", tags=("search",), labels=(HOSTILE_LABEL,), components=("Search",)),
])
FIELDS = ("Customer Impact", "CSAT", "Affected Customers")
NOW = 1_800_000_000.0


class Sleeps(list[float]):
    """The injected sleep: records each wait instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def config_for(fake: FakeJira, tmp_path: Path, **overrides: Any) -> JiraTrackerConfig:
    token = tmp_path / "jira-token"
    token.write_text(fake.token + "\n")
    data: dict[str, Any] = {"type": "jira", "url": fake.url, "projects": ["SHOP"],
                            "token_file": str(token), "seconds_between_writes": 0}
    if fake.flavor == "cloud":
        email = tmp_path / "jira-email"
        email.write_text(fake.email + "\n")
        data["email_file"] = str(email)
    data.update(overrides)
    return JiraTrackerConfig.model_validate(data)


def make_tracker(fake: FakeJira, tmp_path: Path, *, sleep: Sleeps | None = None,
                 catalog: Catalog = CATALOG, **overrides: Any) -> JiraTracker:
    return JiraTracker(config_for(fake, tmp_path, **overrides), tmp_path, catalog,
                       sleep=sleep if sleep is not None else Sleeps(), clock=lambda: NOW)


def seed_shop(fake: FakeJira, issues: int = 3) -> None:
    """SHOP with issues 1..n on the hostile checkout component, a done one, unrelated ones."""
    for name in FIELDS:
        fake.add_field(name)
    fake.add_project("SHOP", ("Search", "Backend"))
    fake.add_project("OPS", ("Backend",))
    for n in range(1, issues + 1):
        fake.add_issue(f"SHOP-{n}", components=(HOSTILE_COMPONENT,), labels=("bug",))
    fake.add_issue(f"SHOP-{issues + 1}", components=(HOSTILE_COMPONENT,), category="done")
    fake.add_issue(f"SHOP-{issues + 2}", components=("Backend",))
    fake.add_issue("OPS-1", components=("Backend",))


def impact(key: str, *, level: Level = "high", score: float = 12.3, csat: float | None = 62.5,
           affected: int = 37) -> Impact:
    return Impact(
        issue=IssueKey(key), title="", url="", features=("checkout",), references=(key,),
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
                     "level": {"customer_base": 1200}})


def run_cycle(tracker: JiraTracker, impacts: Mapping[str, Impact | None],
              journal: MemoryJournal, *, quotes: tuple[str, ...] = (),
              references: tuple[str, ...] = ()) -> WriteSummary:
    """One cycle as the pipeline runs it: fetch issues, then write back their impact."""
    issues = tracker.fetch_issues(references)
    changes = [Change(i, impacts.get(i.key), quotes) for i in issues if i.key in impacts]
    return write_back(tracker, changes, journal)
