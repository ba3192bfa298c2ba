"""Guard rails for a first dataset: what in the data or configuration skews the figures.

Each hint is one sentence that says what was seen and what to set; ``run`` prints them
after its summary. None of them stops a cycle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from impactlink.config import FileSourceConfig, FileTrackerConfig, JiraTrackerConfig, Settings
from impactlink.registry import default_repo
from impactlink.store import aggregate, state
from impactlink.store.records import RESPONSES

if TYPE_CHECKING:
    from impactlink.pipeline import CycleResult, Pipeline

_ONE_LEVEL_FROM = 3
"""A hint when at least this many issues have impact and all share one level."""
_TICKET_KINDS = ("zendesk", "intercom", "freshdesk")


def cycle_hints(pipeline: Pipeline, result: CycleResult) -> list[str]:
    """Return the hints after a cycle: data that skews the figures, each with its fix."""
    settings = pipeline.settings
    found = one_level(result.impacts, settings)
    with pipeline.engine.connect() as conn:
        if result.matched and not arr_known(conn):
            found.append("ARR at risk is unknown: no customers source gives ARR — add a "
                         "source with kind = \"customers\" and an arr column, or arr_field on "
                         "an HTTP source")
        found += unrated_tickets(conn, settings)
        found += bare_references(conn, settings)
        found += featureless_issues(conn, pipeline)
    found += [str(w) for w in getattr(pipeline.tracker, "warnings", ())]
    return found


def one_level(impacts: Mapping[str, Mapping[str, Any]], settings: Settings) -> list[str]:
    """Return a hint when every issue with impact lands on one level."""
    scored = [f for f in impacts.values() if float(f.get("score") or 0) > 0]
    levels = {f.get("level") for f in scored}
    if len(scored) < _ONE_LEVEL_FROM or len(levels) != 1:
        return []
    level = levels.pop()
    base = settings.impact.customer_base
    if base is None:
        seen = ((scored[0].get("explanation") or {}).get("level") or {}).get("customer_base")
        why = (f"levels are shares of the customer base, here the {seen} customers seen in the "
               f"window — set [impact] customer_base to your number of active customers")
    else:
        why = (f"levels are shares of [impact] customer_base = {base} — check it, or tune "
               f"[impact] level_shares")
    return [f"every one of the {len(scored)} issues with impact is {level}: {why}"]


def arr_known(conn: Connection) -> bool:
    """Tell whether any customer's ARR is known (else ARR at risk is unknown, not 0)."""
    return any(c.arr is not None for c in aggregate.customer_info(conn).values())


def unrated_tickets(conn: Connection, settings: Settings) -> list[str]:
    """Return a hint per source whose responses name a ticket but no ticket_source."""
    query = (select(RESPONSES.c.source, func.count())
             .where(RESPONSES.c.ticket_id.is_not(None), RESPONSES.c.ticket_id != "",
                    RESPONSES.c.ticket_source.is_(None))
             .group_by(RESPONSES.c.source))
    tickets = ", ".join(tickets_sources(settings)) or "none configured"
    return [f"[[sources]] {name}: {n} responses carry ticket_id but no ticket_source is set, so "
            f"they inherit no ticket's tags or references — set ticket_source = \"NAME\" "
            f"(tickets sources: {tickets})"
            for name, n in conn.execute(query) if n]


def tickets_sources(settings: Settings) -> list[str]:
    """Return the names of the sources that give tickets."""
    return [s.name for s in settings.sources
            if (isinstance(s, FileSourceConfig) and s.kind == "tickets")
            or s.type in _TICKET_KINDS]


def bare_references(conn: Connection, settings: Settings) -> list[str]:
    """Return a hint when records name a bare #N that no default repository resolves."""
    if not isinstance(settings.tracker, FileTrackerConfig) or default_repo(settings):
        return []
    bare = sorted(r for r in aggregate.referenced(conn) if r.startswith("#"))
    if not bare or not any("#" in i.key for i in state.load_issues(conn)):
        return []  # a Jira export: a bare #N names nothing there
    return [f"[tracker]: records reference {len(bare)} bare issue number(s) such as {bare[0]}, "
            f"but the file tracker has no default_repo and the export's URLs do not name one "
            f"repository — set default_repo = \"OWNER/REPO\""]


def featureless_issues(conn: Connection, pipeline: Pipeline) -> list[str]:
    """Return a hint when no open issue carries a label or component of the catalog."""
    issues = [i for i in state.load_issues(conn) if i.state == "open"]
    if not issues or not pipeline.catalog.features:
        return []
    if any(pipeline.catalog.features_for_issue(i) for i in issues):
        return []
    jira = isinstance(pipeline.settings.tracker, JiraTrackerConfig)
    held = Counter(n for i in issues for n in (*i.labels, *(i.components if jira else ())))
    common = ", ".join(n for n, _ in held.most_common(6)) or "none"
    what = "labels or components" if jira else "labels"
    return [f"[tracker]: none of the {len(issues)} open issues carries {what} of the feature "
            f"catalog, so only explicit references link records to them — list your {what} "
            f"in [features.NAME] (the issues carry: {common})"]
