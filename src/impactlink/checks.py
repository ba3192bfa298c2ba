"""``impactlink check``: every problem with the configuration, each with where and how to fix."""

from __future__ import annotations

from dataclasses import dataclass, field

from impactlink.config import (
    FileSourceConfig,
    FileTrackerConfig,
    GithubTrackerConfig,
    JiraTrackerConfig,
    Settings,
    SourceConfig,
)
from impactlink.errors import ImpactlinkError
from impactlink.registry import build_catalog, build_source, build_tracker


@dataclass
class CheckReport:
    """What was checked, the problems found (each with its fix) and warnings."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def run_checks(settings: Settings) -> CheckReport:
    """Return what was checked in sources, tracker and catalog, and the problems found."""
    report = CheckReport()
    if not settings.features:
        report.problems.append("features: no feature is defined — add [features.NAME] with "
                               "tags and labels, or only explicit references will link "
                               "records to issues")
    else:
        report.checked.append(f"features: {len(settings.features)} in the catalog "
                              f"({', '.join(settings.features)})")
    source_names = {s.name for s in settings.sources}
    for n, config in enumerate(settings.sources):
        where = f"sources[{n}] (name = {config.name!r})"
        found = []
        if config.ticket_source and config.ticket_source not in source_names:
            found.append(f"{where}.ticket_source: no source named {config.ticket_source!r}")
        if isinstance(config, FileSourceConfig) and config.kind != "csat" and config.columns.get(
                "score"):
            found.append(f"{where}.columns.score: only csat sources have a score")
        try:
            source = build_source(config, settings.base_dir)
            found += [_under(where, p, config.name) for p in source.check()]
        except ImpactlinkError as exc:
            found.append(_under(where, str(exc), config.name))
        report.problems += found
        if not found and config.enabled:
            report.checked.append(f"source {config.name}: {_source_checked(config)}")
    try:
        tracker = build_tracker(settings, build_catalog(settings))
        found = [_under("tracker", p) for p in tracker.check()]
        report.warnings += [str(w) for w in getattr(tracker, "warnings", ())]
        tracker.close()
    except ImpactlinkError as exc:
        found = [_under("tracker", str(exc))]
    report.problems += found
    if not found:
        report.checked.append(f"tracker ({settings.tracker.type}): {_tracker_checked(settings)}")
    return report


def _under(where: str, problem: str, source: str | None = None) -> str:
    """Return the problem placed under where, unless it names its place already."""
    head = where.split(" ")[0]
    if problem.startswith((f"{head}:", f"{head}.", f"{head}[", f"{where}")):
        return problem
    if source is not None:  # a source's own message may start "source 'NAME': "
        problem = problem.removeprefix(f"source {source!r}: ").removeprefix(f"{source}: ")
    return f"{where}: {problem}"


def _source_checked(config: SourceConfig) -> str:
    if isinstance(config, FileSourceConfig):
        extra = f", ticket_source {config.ticket_source}" if config.ticket_source else ""
        return f"{config.type} {config.kind} file {config.path} readable, its columns found{extra}"
    return f"{config.type}: credentials and access (one request)"


def _tracker_checked(settings: Settings) -> str:
    config = settings.tracker
    if isinstance(config, FileTrackerConfig):
        return f"export {config.path} readable and parsed"
    if isinstance(config, GithubTrackerConfig):
        project = ", the project and its fields" if config.project else ""
        return (f"token, repositories {', '.join(config.repos)} (access, write permission, "
                f"labels){project}")
    assert isinstance(config, JiraTrackerConfig)
    return (f"auth, projects {', '.join(config.projects)}, number fields on the edit screens, "
            f"the JQL")
