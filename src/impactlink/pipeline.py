"""One cycle, step by step: sync sources → sync issues → match → compute → write back."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from impactlink.config import Settings
from impactlink.core.impact import ImpactSettings, impacts_from_counts
from impactlink.core.matching import Catalog, Matcher, link_key
from impactlink.core.models import Impact, IssueKey
from impactlink.core.render import redact
from impactlink.core.report import impact_to_dict
from impactlink.errors import ConfigError, ImpactlinkError, SourceError, TrackerError
from impactlink.registry import build_catalog, build_source, build_tracker, default_repo
from impactlink.sources.base import Source
from impactlink.store import aggregate, counts, records, refcache, reuse, state
from impactlink.store.engine import open_store, upgrade
from impactlink.store.lock import writer_lock
from impactlink.trackers.base import Change, Tracker, Write
from impactlink.trackers.references import Referenced
from impactlink.writeback import STOP_REQUESTED, WriteSummary, write_back

log = logging.getLogger(__name__)


@dataclass
class SourceResult:
    """What one source did this cycle."""

    ingested: int = 0
    quarantined: int = 0
    repaired: int = 0
    deleted: int = 0
    error: str | None = None


@dataclass
class CycleResult:
    """What a cycle did, for the summary, the run record and the exit code."""

    run_id: int
    as_of: datetime
    dry_run: bool
    sources: dict[str, SourceResult] = field(default_factory=dict)
    issues: int = 0
    matched: int = 0
    links: int = 0
    """Evidence records attributed by the last compute."""
    scored: int = 0
    """Of those, the records whose text was scored (the others reused stored matches)."""
    impacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    previous: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: WriteSummary = field(default_factory=WriteSummary)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    stopped: bool = False
    """Stopped at a safe point (shutdown or a lost writer lease); the next cycle resumes."""

    @property
    def ok(self) -> bool:
        return not self.errors

    def changed(self) -> list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]:
        """Return (issue, before, after) for each issue whose figures differ from the last
        compute's, by score (what the tracker holds is the plan's business: ``plan``)."""
        out = []
        for key in set(self.impacts) | set(self.previous):
            before, after = self.previous.get(key), self.impacts.get(key)
            if _headline(before) != _headline(after):
                out.append((key, before, after))
        return sorted(out, key=lambda c: (-(c[2] or {}).get("score", 0.0), c[0]))

    def plan(self) -> list[PlannedIssue]:
        """Return the issues with writes planned (the tracker holds something else), by score."""
        grouped: dict[str, list[Write]] = {}
        for key, write in self.writes.planned:
            grouped.setdefault(key, []).append(write)
        planned = [PlannedIssue(key, self.impacts.get(key), tuple(writes))
                   for key, writes in grouped.items()]
        return sorted(planned, key=lambda p: (-p.score, p.issue))

    def summary(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(), "dry_run": self.dry_run,
            "sources": {n: vars(r) for n, r in self.sources.items()},
            "issues": self.issues, "issues_matched": self.matched, "links": self.links,
            "text_scored": self.scored,
            "changes": len(self.changed()), "issues_planned": len(self.plan()),
            "writes": self.writes.written,
            "writes_planned": len(self.writes.planned), "writes_failed": len(self.writes.failed),
            "writes_stopped": self.writes.stopped, "steps": self.steps, "errors": self.errors,
            "stopped": self.stopped,
        }


@dataclass(frozen=True)
class PlannedIssue:
    """One issue of the plan: the figures it should show (None: cleared) and its writes."""

    issue: str
    figures: dict[str, Any] | None
    writes: tuple[Write, ...]

    @property
    def score(self) -> float:
        return float((self.figures or {}).get("score") or 0.0)

    @property
    def level(self) -> str:
        """Return the level the issue should show, "cleared" when its impact goes."""
        level = (self.figures or {}).get("level")
        return "cleared" if self.figures is None or level in (None, "none") else str(level)

    @property
    def held_level(self) -> str | None:
        """Return the level the tracker shows now, when its label was read back."""
        return next((w.held for w in self.writes if w.target == "label" and w.held), None)


class _Stopped(Exception):
    """A stop was asked for; raised at a safe point between steps or batches."""


def _headline(figures: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if figures is None:
        return None
    return tuple(figures.get(k) for k in ("score", "level", "csat", "csat_low", "csat_high",
                                          "affected", "affected_low", "affected_high",
                                          "arr_at_risk", "responses", "tickets",
                                          "named_customers", "attributed_customers",
                                          "linked_affected"))


def impact_settings(settings: Settings) -> ImpactSettings:
    """Return the core's view of ``[impact]``."""
    cfg = settings.impact
    return ImpactSettings(
        window_days=cfg.window_days, prior_strength=cfg.prior_strength,
        min_responses=cfg.min_responses, feature_attribution=cfg.feature_attribution,
        text_attribution=cfg.text_attribution, text_weight=cfg.text_weight,
        text_candidates=cfg.text_candidates, weight_by=cfg.weight_by,
        segment_weights=dict(cfg.segment_weights),
        level_shares=cfg.level_shares.model_dump(), customer_base=cfg.customer_base)


def make_keyer(catalog: Catalog) -> records.Keyer:
    """Return the function that gives a record's link key from its tags and references."""
    cache: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}

    def keyer(tags: tuple[str, ...], refs: tuple[str, ...]) -> str:
        key = cache.get((tags, refs))
        if key is None:
            key = cache[(tags, refs)] = link_key(catalog.features_for_tags(tags), refs)
        return key

    return keyer


@contextmanager
def step(result: CycleResult, name: str) -> Iterator[dict[str, Any]]:
    """Time a step and keep its counts in the run summary."""
    started = time.perf_counter()
    counts: dict[str, Any] = {}
    try:
        yield counts
    finally:
        counts["seconds"] = round(time.perf_counter() - started, 3)
        result.steps[name] = counts
        log.info("step %s done", name, extra={"step": name, **counts})


class Pipeline:
    """The cycle around one store, catalog and tracker, built once from Settings."""

    def __init__(self, settings: Settings, engine: Engine | None = None,
                 tracker: Tracker | None = None) -> None:
        self.settings = settings
        self.engine = engine or open_store(settings.store, settings.base_dir)
        upgrade(self.engine)
        self.catalog = build_catalog(settings)
        self.keyer = make_keyer(self.catalog)
        self._tracker = tracker
        self.reused = False
        """Whether the last compute reused the stored figures."""
        self._should_stop: Callable[[], bool] = lambda: False
        self._on_write: Callable[[str, Write], None] | None = None
        self._quote_keys: dict[str, dict[str, str]] | None = None

    @property
    def tracker(self) -> Tracker:
        if self._tracker is None:
            self._tracker = build_tracker(self.settings, self.catalog)
        return self._tracker

    def run(self, as_of: datetime, *, dry_run: bool = False,
            source_factory: Callable[..., Source] = build_source,
            should_stop: Callable[[], bool] | None = None,
            on_write: Callable[[str, Write], None] | None = None) -> CycleResult:
        """Run one cycle under the store's writer lock (LockHeld when another process has it).

        A failing source or write is recorded and the rest goes on. ``should_stop`` is asked
        between steps, batches and writes; a stopped cycle is recorded as "stopped".
        """
        ttl = self.settings.schedule.lock_ttl_seconds
        with writer_lock(self.engine, ttl_seconds=ttl) as lock:
            self._should_stop = lambda: lock.lost.is_set() or bool(should_stop and should_stop())
            self._on_write = on_write
            return self._cycle(as_of, dry_run, source_factory)

    def _checkpoint(self) -> None:
        if self._should_stop():
            raise _Stopped

    def _cycle(self, as_of: datetime, dry_run: bool,
               source_factory: Callable[..., Source]) -> CycleResult:
        started = time.perf_counter()
        result = CycleResult(state.start_run(self.engine, as_of, dry_run), as_of, dry_run)
        status = "failed"
        try:
            with step(result, "relink") as counts:
                counts["records"] = records.relink(self.engine, self.keyer,
                                                   self.catalog.fingerprint)
                counts["retokenized"] = records.retokenize(self.engine)
                if counts["retokenized"]:
                    state.retokenize_issues(self.engine)
            self._checkpoint()
            with step(result, "ingest") as counts:
                self.ingest(result, source_factory)
                counts["records"] = sum(r.ingested for r in result.sources.values())
            self._checkpoint()
            with step(result, "issues") as counts:
                self.sync_issues(result)
                counts["issues"] = result.issues
            self._checkpoint()
            with step(result, "compute") as counts:
                self.compute(result)
                counts["impacts"] = len(result.impacts)
                counts["reused"] = self.reused
            self._checkpoint()
            with step(result, "write") as counts:
                self.write(result)
                counts["written"] = result.writes.written
            result.stopped = result.writes.stopped == STOP_REQUESTED
            status = "stopped" if result.stopped else "ok" if result.ok else "partial"
        except _Stopped:
            result.stopped, status = True, "stopped"
        except (ConfigError, TrackerError) as exc:
            result.errors.append(str(exc))
            raise
        finally:
            state.finish_run(self.engine, result.run_id, status, result.summary())
            log.info("cycle %s", status, extra={
                "run_id": result.run_id, "status": status, "dry_run": dry_run,
                "seconds": round(time.perf_counter() - started, 3),
                "ingested": sum(r.ingested for r in result.sources.values()),
                "quarantined": sum(r.quarantined for r in result.sources.values()),
                "issues": result.issues, "matched": result.matched,
                "written": result.writes.written, "errors": len(result.errors)})
        return result

    def ingest(self, result: CycleResult, source_factory: Callable[..., Source]) -> None:
        """Pull every enabled source; one failing, for whatever reason, does not stop the others.

        A bad record is the source's or the store's to quarantine; what still escapes is that
        source's error this cycle (its cursor stays, so the next cycle retries), logged by
        class and place only: an exception's message may quote customer data.
        """
        for config in self.settings.sources:
            if not config.enabled:
                continue
            counts = result.sources[config.name] = SourceResult()
            source: Source | None = None
            try:
                source = source_factory(config, self.settings.base_dir)
                for batch in source.batches(records.load_cursor(self.engine, config.name)):
                    refused = records.save_batch(self.engine, config.name, batch, self.keyer,
                                                 result.run_id)
                    counts.ingested += len(batch) - refused
                    counts.quarantined += len(batch.rejected) + refused
                    counts.repaired += batch.repaired
                    counts.deleted += len(batch.deleted_tickets)
                    self._checkpoint()
            except (SourceError, ConfigError) as exc:
                counts.error = str(exc)
                result.errors.append(f"source {config.name}: {exc}")
                log.error("source %s failed: %s", config.name, exc)
            except _Stopped:
                raise
            except Exception as exc:  # a bug or a hostile record: recorded with its place
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} in {frame.name}"
                counts.error = (f"unexpected {type(exc).__name__} at {where}; the next cycle "
                                f"retries from the stored cursor")
                result.errors.append(f"source {config.name}: {counts.error}")
                log.error("source %s failed: %s", config.name, counts.error)
            finally:
                close = getattr(source, "close", None)
                if close is not None:
                    close()

    def sync_issues(self, result: CycleResult) -> None:
        """Read the tracker's issues into the store."""
        with self.engine.connect() as conn:
            wanted = Referenced(refcache.referenced(conn),
                                refcache.StoreRefCache(self.engine, self.tracker.kind))
        issues = self.tracker.fetch_issues(wanted)
        state.sync_issues(self.engine, self.tracker.kind, issues,
                          {i.key: self.catalog.features_for_issue(i) for i in issues})
        result.issues = len(issues)
        result.errors.extend(wanted.problems)

    def matcher(self, issues: list[Any], texts: Mapping[IssueKey, Sequence[str]] | None = None
                ) -> Matcher:
        return Matcher(issues, self.catalog, default_repo=default_repo(self.settings),
                       attribution=self.settings.impact.feature_attribution, texts=texts)

    def compute(self, result: CycleResult, *, save: bool = True) -> None:
        """Match stored records to issues and compute every figure as of the run's time.

        The stored figures are reused when computing again would give them (store.reuse).
        """
        with self.engine.connect() as conn:
            result.previous = state.load_impacts(conn)
            inputs = reuse.fingerprint(conn, self.compute_inputs())
            self.reused = reuse.reusable(conn, inputs, result.as_of,
                                         self.settings.impact.window_days)
            if self.reused:
                result.impacts = dict(result.previous)
                result.links = reuse.stored_evidence(conn)
        if not self.reused:
            impacts, done = compute_impacts(self, result.as_of, save=save)
            result.impacts = {k: impact_to_dict(v) for k, v in impacts.items()}
            result.links = done.evidence
            result.scored = done.matched
        result.matched = len(result.impacts)
        if save and self.reused:
            # The figures stand as stored: only the time they are as of moves.
            state.touch_impacts(self.engine, result.as_of)
            reuse.remember(self.engine, inputs, result.as_of, result.links)
        elif save:
            reuse.forget(self.engine)  # a crash before remember() leaves nothing to reuse
            state.save_impacts(self.engine, result.as_of, result.impacts)
            reuse.remember(self.engine, inputs, result.as_of, result.links)

    def compute_inputs(self) -> dict[str, Any]:
        """Return what the figures depend on besides the stored records and issues."""
        return {"impact": self.settings.impact.model_dump(mode="json"),
                "features": [asdict(f) for _, f in sorted(self.catalog.features.items())],
                "multipliers": {s.name: s.complaint_multiplier for s in self.settings.sources},
                "default_repo": default_repo(self.settings)}

    def write(self, result: CycleResult) -> None:
        """Write impact the tracker does not hold (or, in a dry run, plan it).

        What the tracker holds is what was last written to each target (the store's
        journal) or what the tracker read back, never the last compute: two dry runs in a
        row plan the same writes, and a real run then sends exactly those.
        """
        journal = state.StoreJournal(self.engine)
        written = journal.issues()
        with self.engine.connect() as conn:
            issues = {i.key: i for i in state.load_issues(conn)}
        self._quote_keys = None  # the link keys of each issue, read once if quotes are on
        changes = []
        for key in sorted(set(result.impacts) | written):
            issue = issues.get(IssueKey(key))
            if issue is None or issue.state != "open":
                continue
            figures = result.impacts.get(key)
            impact = impact_from_dict(figures) if figures and figures["score"] > 0 else None
            if impact is None and key not in written:
                continue
            changes.append(Change(issue, impact, self._quotes(key, result) if impact else ()))
        try:
            result.writes = write_back(self.tracker, changes, journal, dry_run=result.dry_run,
                                       on_write=self._on_write, should_stop=self._should_stop)
        except ImpactlinkError as exc:
            result.errors.append(f"write: {exc}")
            raise
        result.errors.extend(f"write {f}" for f in result.writes.failed)

    def _quotes(self, issue: str, result: CycleResult) -> tuple[str, ...]:
        """Return up to ``impact.quotes`` recent dissatisfied comments, redacted."""
        if not getattr(self.settings.tracker, "quotes", False) or not self.settings.impact.quotes:
            return ()
        window = aggregate.Window(result.as_of, self.settings.impact.window_days)
        figures = result.impacts.get(issue, {})
        strongest = [m["record"] for m in figures.get("explanation", {}).get("matches", [])]
        with self.engine.connect() as conn:
            if self._quote_keys is None:
                matcher = self.matcher(state.load_issues(conn))
                self._quote_keys = state.linking_keys_by_issue(conn, matcher)
            texts = state.representative_comments(conn, self._quote_keys.get(issue, {}),
                                                  window.start, window.end,
                                                  self.settings.impact.quotes, strongest)
        return tuple(redact(t) for t in texts)


def compute_impacts(pipeline: Pipeline, as_of: datetime, *, save: bool = False
                    ) -> tuple[dict[IssueKey, Impact], counts.Counted]:
    """Return every issue's impact as of a time, and what the compute did.

    ``save`` keeps the text matches scored on the way (a report recomputes without it).
    """
    window = aggregate.Window(as_of, pipeline.settings.impact.window_days)
    multipliers = {s.name: s.complaint_multiplier for s in pipeline.settings.sources}
    settings = impact_settings(pipeline.settings)
    with pipeline.engine.begin() as conn:
        matcher = pipeline.matcher(state.load_issues(conn), state.issue_terms(conn))
        ranges = aggregate.Ranges.of(conn, window)
        population = aggregate.population(conn, window, ranges)
        done = counts.issue_counts(conn, window, matcher, settings,
                                   customers=aggregate.customer_info(conn),
                                   mean_arr=population.mean_arr, multipliers=multipliers,
                                   save=save, ranges=ranges)
    impacts = impacts_from_counts(done.counts, matcher, pipeline.catalog, population, settings)
    return impacts, done


def impact_from_dict(figures: dict[str, Any]) -> Impact:
    """Rebuild an Impact from its report dict (as stored)."""
    from impactlink.core.models import SegmentFigures, SuggestedLink, Trend

    data = dict(figures)
    data["suggested_links"] = tuple(SuggestedLink(**{**x, "words": tuple(x["words"])})
                                    for x in data.get("suggested_links", ()))
    data["features"] = tuple(data["features"])
    data["references"] = tuple(data["references"])
    data["segments"] = tuple(SegmentFigures(**s) for s in data["segments"])
    data["trend"] = Trend(**data["trend"])
    data.setdefault("explanation", {})
    return Impact(**data)


__all__ = ["CycleResult", "Pipeline", "PlannedIssue", "SourceResult", "Write",
           "compute_impacts"]
