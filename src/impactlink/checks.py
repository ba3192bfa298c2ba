"""``impactlink check``: every problem with the configuration, each with where and how to fix."""

from __future__ import annotations

from impactlink.config import FileSourceConfig, Settings
from impactlink.errors import ImpactlinkError
from impactlink.registry import build_catalog, build_source, build_tracker


def run_checks(settings: Settings) -> list[str]:
    """Return the problems found in sources, tracker and catalog; [] when all is well."""
    problems: list[str] = []
    if not settings.features:
        problems.append("features: no feature is defined — add [features.NAME] with tags and "
                        "labels, or only explicit references will link records to issues")
    source_names = {s.name for s in settings.sources}
    for n, config in enumerate(settings.sources):
        where = f"sources[{n}] (name = {config.name!r})"
        if config.ticket_source and config.ticket_source not in source_names:
            problems.append(f"{where}.ticket_source: no source named {config.ticket_source!r}")
        if isinstance(config, FileSourceConfig) and config.kind != "csat" and config.columns.get(
                "score"):
            problems.append(f"{where}.columns.score: only csat sources have a score")
        try:
            source = build_source(config, settings.base_dir)
            problems += [f"{where}: {p}" for p in source.check()]
        except ImpactlinkError as exc:
            problems.append(f"{where}: {exc}")
    try:
        tracker = build_tracker(settings, build_catalog(settings))
        problems += [f"tracker: {p}" for p in tracker.check()]
        tracker.close()
    except ImpactlinkError as exc:
        problems.append(f"tracker: {exc}")
    return problems
