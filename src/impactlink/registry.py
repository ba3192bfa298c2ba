"""Build the configured sources and tracker (imported lazily: each pulls its own client)."""

from __future__ import annotations

from pathlib import Path

from impactlink.config import (
    DelightedSourceConfig,
    FileSourceConfig,
    FileTrackerConfig,
    FreshdeskSourceConfig,
    GithubTrackerConfig,
    IntercomSourceConfig,
    JiraTrackerConfig,
    Settings,
    SourceConfig,
    ZendeskSourceConfig,
)
from impactlink.core.matching import Catalog, Feature
from impactlink.sources.base import Source
from impactlink.trackers.base import Tracker


def build_catalog(settings: Settings) -> Catalog:
    """Return the feature catalog of the configuration."""
    return Catalog(Feature(name, tuple(f.tags), tuple(f.labels), tuple(f.components),
                           f.active_customers) for name, f in settings.features.items())


def build_source(config: SourceConfig, base_dir: Path) -> Source:
    """Return the source a [[sources]] entry describes."""
    if isinstance(config, FileSourceConfig):
        from impactlink.sources.files import FileSource

        return FileSource(config, base_dir)
    if isinstance(config, ZendeskSourceConfig):
        from impactlink.sources.zendesk import ZendeskSource

        return ZendeskSource(config, base_dir)
    if isinstance(config, IntercomSourceConfig):
        from impactlink.sources.intercom import IntercomSource

        return IntercomSource(config, base_dir)
    if isinstance(config, FreshdeskSourceConfig):
        from impactlink.sources.freshdesk import FreshdeskSource

        return FreshdeskSource(config, base_dir)
    assert isinstance(config, DelightedSourceConfig)
    from impactlink.sources.delighted import DelightedSource

    return DelightedSource(config, base_dir)


def build_tracker(settings: Settings, catalog: Catalog) -> Tracker:
    """Return the configured tracker adapter."""
    config = settings.tracker
    if isinstance(config, FileTrackerConfig):
        from impactlink.trackers.files import FileTracker

        return FileTracker(config, settings.base_dir)
    if isinstance(config, JiraTrackerConfig):
        from impactlink.trackers.jira import JiraTracker

        return JiraTracker(config, settings.base_dir, catalog)
    from impactlink.trackers.github import GithubTracker

    return GithubTracker(config, settings.base_dir, catalog)


def default_repo(settings: Settings) -> str | None:
    """Return the repository a bare ``#12`` refers to (a gh export's own, when it has one)."""
    config = settings.tracker
    if isinstance(config, GithubTrackerConfig):
        return config.repos[0]
    if isinstance(config, FileTrackerConfig):
        from impactlink.trackers.files import export_repo

        return config.default_repo or export_repo(settings.resolve(config.path))
    return None
