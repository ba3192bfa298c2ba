"""The store on SQLite and PostgreSQL: migrations, upserts, cursors, quarantine, aggregation."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from impactlink.config import load_settings
from impactlink.core.impact import ImpactSettings, IssueCounts, Slice, compute
from impactlink.core.matching import Catalog, Feature, Link, Matcher, link_key
from impactlink.core.models import Customer, Issue, IssueKey, Rejected, Response, Ticket
from impactlink.core.report import impact_to_dict
from impactlink.pipeline import CycleResult, Pipeline, compute_impacts, make_keyer
from impactlink.sources.base import Batch
from impactlink.store import aggregate, records, reuse, state
from impactlink.store.engine import current_revision, head_revision, upgrade

AS_OF = datetime(2026, 6, 30, tzinfo=UTC)
CATALOG = Catalog([Feature("checkout", ("checkout", "payments"), ("area/checkout",)),
                   Feature("search", ("search",), ("area/search",))])
KEYER = make_keyer(CATALOG)


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_second_upgrade_does_nothing(engine: Engine) -> None:
    assert current_revision(engine) == head_revision(engine)
    assert upgrade(engine) is False


def test_same_record_twice_is_stored_once_and_a_change_updates_in_place(engine: Engine) -> None:
    t = Ticket("desk", "1", AS_OF - timedelta(days=1), tags=("checkout",), status="open")
    records.save_batch(engine, "desk", Batch(tickets=[t]), KEYER)
    records.save_batch(engine, "desk", Batch(tickets=[t]), KEYER)
    with engine.connect() as conn:
        first = conn.execute(select(records.TICKETS)).one()
    assert _count(engine, records.TICKETS) == 1
    changed = Ticket("desk", "1", t.created_at, tags=("search",), status="solved")
    records.save_batch(engine, "desk", Batch(tickets=[changed, changed]), KEYER)
    with engine.connect() as conn:
        row = conn.execute(select(records.TICKETS)).one()
    assert (row.id, row.status, row.link_key) == (first.id, "solved", "f:search")
    assert first.link_key == "f:checkout"


def test_cursor_is_saved_with_its_batch(engine: Engine) -> None:
    records.save_batch(engine, "desk", Batch(cursor='{"page": 2}'), KEYER)
    assert records.load_cursor(engine, "desk") == '{"page": 2}'
    records.save_batch(engine, "desk", Batch(cursor=None), KEYER)
    assert records.load_cursor(engine, "desk") == '{"page": 2}'
    records.reset_cursor(engine, "desk", None)
    assert records.load_cursor(engine, "desk") is None


def test_quarantine_keeps_each_rejection_once(engine: Engine) -> None:
    bad = Rejected("survey", "csat.csv:7", "score '9' is outside the 1-5 scale", "R7,9")
    records.save_batch(engine, "survey", Batch(rejected=[bad]), KEYER, run_id=1)
    records.save_batch(engine, "survey", Batch(rejected=[bad]), KEYER, run_id=2)
    with engine.connect() as conn:
        rows = state.quarantined(conn)
        assert state.quarantine_counts(conn, 1) == {"survey": 1}
    assert [(r["location"], r["reason"]) for r in rows] == [(bad.location, bad.reason)]


def test_deleted_tickets_and_late_references(engine: Engine) -> None:
    tickets = [Ticket("desk", str(n), AS_OF - timedelta(days=1), tags=("search",))
               for n in range(3)]
    records.save_batch(engine, "desk", Batch(tickets=tickets), KEYER)
    records.save_batch(engine, "desk", Batch(deleted_tickets=["0"],
                                             ticket_refs=[("1", ("SHOP-7",))]), KEYER)
    with engine.connect() as conn:
        rows = {r.external_id: r for r in conn.execute(select(records.TICKETS))}
    assert sorted(rows) == ["1", "2"]
    assert (rows["1"].refs, rows["1"].link_key) == ("SHOP-7", "f:search|r:SHOP-7")


def test_relink_follows_a_changed_catalog(engine: Engine) -> None:
    t = Ticket("desk", "1", AS_OF, tags=("payments",))
    records.save_batch(engine, "desk", Batch(tickets=[t]), KEYER)
    assert records.relink(engine, KEYER, CATALOG.fingerprint) == 0  # first time: records it
    wider = Catalog([Feature("payments", ("payments",))])
    assert records.relink(engine, make_keyer(wider), wider.fingerprint) == 1
    with engine.connect() as conn:
        assert conn.execute(select(records.TICKETS.c.link_key)).scalar() == "f:payments"
    assert records.relink(engine, make_keyer(wider), wider.fingerprint) == 0


def test_window_edges_are_half_open(engine: Engine) -> None:
    start = AS_OF - timedelta(days=90)
    rs = [Response("s", "at-start", start, score=1, satisfied=False, tags=("checkout",)),
          Response("s", "at-end", AS_OF, score=1, satisfied=False, tags=("checkout",)),
          Response("s", "after", AS_OF + timedelta(seconds=1), score=1, satisfied=False,
                   tags=("checkout",))]
    records.save_batch(engine, "s", Batch(responses=rs), KEYER)
    window = aggregate.Window(AS_OF, 90)
    with engine.connect() as conn:
        slices = list(aggregate.response_slices(conn, window))
        pop = aggregate.population(conn, window)
    current = [s for s in slices if not s.previous]
    previous = [s for s in slices if s.previous]
    assert sum(s.responses for s in current) == 1  # at-end only
    assert sum(s.responses for s in previous) == 1  # at-start belongs to the previous window
    assert (pop.responses, pop.dissatisfied, pop.customers) == (1, 1, 1)


def _random_records(rng: random.Random, refs: list[tuple[str, ...]] | None = None
                    ) -> tuple[list[Ticket], list[Response], list[Customer]]:
    tags = [("checkout",), ("search",), ("checkout", "search"), ("payments",), ("other",), ()]
    refs = refs or [(), (), (), ("acme/shop#1",), ("#2",)]
    customers = [f"c{n}" for n in range(12)]

    def at() -> datetime:
        return AS_OF - timedelta(hours=rng.randint(0, 24 * 200))

    tickets = [Ticket("desk", f"t{n}", at(), customer_id=rng.choice([*customers, None]),
                      requester_id=rng.choice(["u1", "u2", None]), tags=rng.choice(tags),
                      refs=rng.choice(refs),
                      segments=(("plan", rng.choice(["free", "pro"])),))
               for n in range(60)]
    responses = []
    for n in range(150):
        offered = rng.random() < 0.2
        score = None if offered else rng.randint(1, 5)
        ticket = rng.choice(tickets) if rng.random() < 0.2 else None
        responses.append(Response(
            "survey", f"r{n}", at(), "offered" if offered else "answered", score,
            None if score is None else score >= 4, customer_id=rng.choice([*customers, None]),
            tags=() if ticket else rng.choice(tags), refs=rng.choice(refs),
            ticket_source="desk" if ticket else None,
            ticket_id=ticket.external_id if ticket else None,
            segments=(("plan", rng.choice(["free", "pro"])), ("platform", "web"))))
    accounts = [Customer("crm", c, plan=rng.choice(["pro", "enterprise"]),
                         arr=rng.choice([None, 1000.0, 5000.0])) for c in customers]
    return tickets, responses, accounts


def _reference_slices(tickets: list[Ticket], responses: list[Response],
                      window: aggregate.Window) -> list[Slice]:
    """The grouping the SQL does, written plainly over the records."""
    from impactlink.core.models import customer_key

    by_id = {(t.source, t.external_id): t for t in tickets}
    counts: Counter[tuple[object, ...]] = Counter()
    for r in responses:
        if not window.previous_start < r.submitted_at <= window.end:
            continue
        own = KEYER(r.tags, r.refs)
        ticket = by_id.get((r.ticket_source or "", r.ticket_id or ""))
        tk = KEYER(ticket.tags, ticket.refs) if ticket else ""
        key = records.merge_keys(own, tk)
        if not key:
            continue
        # A response without an account or segments of its own takes its ticket's.
        account = r.customer_id or (ticket.customer_id if ticket else None)
        segments = r.segments or (ticket.segments if ticket else ())
        group = (key, customer_key("csat", r.source, r.external_id, account, r.respondent_id),
                 r.submitted_at <= window.start, tuple(sorted(segments)))
        counts[(*group, "n")] += r.status == "answered"
        counts[(*group, "s")] += bool(r.status == "answered" and r.satisfied)
        counts[(*group, "o")] += r.status == "offered"
    groups = {g[:4] for g in counts}
    out = [Slice(k, c, p, s, counts[(k, c, p, s, "n")], counts[(k, c, p, s, "s")],
                 counts[(k, c, p, s, "o")]) for k, c, p, s in groups]
    tcounts: Counter[tuple[object, ...]] = Counter()
    for t in tickets:
        key = KEYER(t.tags, t.refs)
        if key and window.start < t.created_at <= window.end:
            tcounts[(key, customer_key("ticket", t.source, t.external_id, t.customer_id,
                                       t.requester_id), tuple(sorted(t.segments)))] += 1
    out += [Slice(k, c, False, s, tickets=n) for (k, c, s), n in tcounts.items()]  # type: ignore[misc]
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_aggregation_matches_the_plain_computation(engine: Engine, seed: int) -> None:
    tickets, responses, accounts = _random_records(random.Random(seed))
    records.save_batch(engine, "desk", Batch(tickets=tickets), KEYER)
    records.save_batch(engine, "survey", Batch(responses=responses), KEYER)
    records.save_batch(engine, "crm", Batch(customers=accounts), KEYER)
    window = aggregate.Window(AS_OF, 90)
    with engine.connect() as conn:
        sql = [*aggregate.response_slices(conn, window), *aggregate.ticket_slices(conn, window, {})]
        customers = aggregate.customer_info(conn)
        pop = aggregate.population(conn, window)
    ref = _reference_slices(tickets, responses, window)
    assert Counter(sql) == Counter(ref)

    issues = [Issue(IssueKey("acme/shop#1"), labels=("area/checkout",)),
              Issue(IssueKey("acme/shop#2"), labels=("area/search",)),
              Issue(IssueKey("acme/shop#3"), labels=("area/checkout", "area/search"))]
    matcher = Matcher(issues, CATALOG, default_repo="acme/shop")
    settings = ImpactSettings(weight_by="arr", segment_weights={"enterprise": 2.0})
    assert compute(sql, matcher, CATALOG, customers, pop, settings) == \
        compute(ref, matcher, CATALOG, customers, pop, settings)
    known = [a.arr for a in accounts if a.arr is not None]
    assert pop.mean_arr == pytest.approx(sum(known) / len(known))
    rated = {t.external_id: t.customer_id for t in tickets}
    in_window = {r.customer_id or rated.get(r.ticket_id or "") or r.respondent_id
                 or r.external_id for r in responses
                 if window.start < r.submitted_at <= window.end}
    in_window |= {t.customer_id or t.requester_id or t.external_id for t in tickets
                  if window.start < t.created_at <= window.end}
    assert pop.customers == len(in_window)


def test_issues_links_impacts_journal_and_runs(engine: Engine) -> None:
    issue = Issue(IssueKey("acme/shop#1"), "Broken", "u", "open", ("area/checkout",))
    state.sync_issues(engine, "github", [issue], {issue.key: ("checkout",)})
    state.sync_issues(engine, "github", [], {})
    with engine.connect() as conn:
        assert [i.state for i in state.load_issues(conn)] == ["closed"]
    matcher = Matcher([issue], CATALOG)
    key = link_key(["checkout"], [])
    assert state.save_links(engine, [(key, link) for link in matcher.links(key)]) == 1
    with engine.connect() as conn:
        assert state.link_keys(conn, "acme/shop#1") == {key: "feature checkout"}
    state.save_impacts(engine, AS_OF, {"acme/shop#1": {"score": 2.5, "level": "high"}})
    with engine.connect() as conn:
        assert state.load_impacts(conn) == {"acme/shop#1": {"score": 2.5, "level": "high"}}
    journal = state.StoreJournal(engine)
    journal.record("acme/shop#1", "label", "abc")
    assert state.StoreJournal(engine).last("acme/shop#1", "label") == "abc"
    run_id = state.start_run(engine, AS_OF, dry_run=False)
    state.finish_run(engine, run_id, "ok", {"writes": 3})
    with engine.connect() as conn:
        runs = state.recent_runs(conn)
    assert (runs[0]["status"], runs[0]["summary"]) == ("ok", {"writes": 3})
    assert json.loads(json.dumps(runs[0]["summary"])) == {"writes": 3}


def _sql_and_slices(engine: Engine, issues: list[Issue], weight_by: str, attribution: str
                    ) -> tuple[dict[IssueKey, IssueCounts], dict[IssueKey, IssueCounts],
                               list[tuple[str, Link]], list[Slice]]:
    """Count the stored records per issue in SQL, and plainly from their slices."""
    from impactlink.core.impact import count, tally
    from impactlink.store.counts import issue_counts

    matcher = Matcher(issues, CATALOG, default_repo="acme/shop", attribution=attribution)
    settings = ImpactSettings(weight_by=weight_by, feature_attribution=attribution,
                              segment_weights={"enterprise": 2.0})
    window = aggregate.Window(AS_OF, 90)
    multipliers = {"desk": 3.0}
    with engine.begin() as conn:
        pop = aggregate.population(conn, window)
        customers = aggregate.customer_info(conn)
        slices = [*aggregate.response_slices(conn, window),
                  *aggregate.ticket_slices(conn, window, multipliers)]
        sql, links = issue_counts(conn, window, matcher, settings, mean_arr=pop.mean_arr,
                                  multipliers=multipliers)
    expected = {k: count(t, customers, settings, pop.mean_arr)
                for k, t in tally(slices, matcher).items() if t.customers}
    return sql, expected, links, slices


def _assert_same_counts(sql: dict[IssueKey, IssueCounts],
                        expected: dict[IssueKey, IssueCounts]) -> None:
    for key, want in expected.items():
        got = sql[key]
        assert got.weighted_share == pytest.approx(want.weighted_share)
        assert got.arr == pytest.approx(want.arr)
        assert got.observed_scaled == pytest.approx(want.observed_scaled)
        assert sorted(got.segments) == sorted(want.segments)
        same = ("responses", "satisfied", "offered", "tickets", "previous_responses",
                "previous_satisfied", "observed", "full_share_customers", "features",
                "references")
        assert {f: getattr(got, f) for f in same} == {f: getattr(want, f) for f in same}


@pytest.mark.parametrize("seed", [4, 5])
@pytest.mark.parametrize("weight_by, attribution", [("none", "shared"), ("arr", "full")])
def test_sql_counts_match_the_slices_path(engine: Engine, seed: int, weight_by: str,
                                          attribution: str) -> None:
    tickets, responses, accounts = _random_records(random.Random(seed))
    records.save_batch(engine, "desk", Batch(tickets=tickets), KEYER)
    records.save_batch(engine, "survey", Batch(responses=responses), KEYER)
    records.save_batch(engine, "crm", Batch(customers=accounts), KEYER)
    issues = [Issue(IssueKey("acme/shop#1"), labels=("area/checkout",)),
              Issue(IssueKey("acme/shop#2"), labels=("area/search",)),
              Issue(IssueKey("acme/shop#3"), labels=("area/checkout", "area/search"))]
    sql, expected, links, slices = _sql_and_slices(engine, issues, weight_by, attribution)
    assert sql.keys() == expected.keys() and expected
    _assert_same_counts(sql, expected)
    assert {k for k, _ in links} == {s.link_key for s in slices}


def test_a_response_inherits_its_tickets_key_whichever_arrives_first(engine: Engine) -> None:
    response = Response("survey", "r1", AS_OF, score=2, satisfied=False, tags=("search",),
                        ticket_source="desk", ticket_id="t1")
    records.save_batch(engine, "survey", Batch(responses=[response]), KEYER)
    ticket = Ticket("desk", "t1", AS_OF, tags=("payments",), refs=("SHOP-1",))
    records.save_batch(engine, "desk", Batch(tickets=[ticket]), KEYER)

    def key() -> str:
        with engine.connect() as conn:
            return str(conn.execute(select(records.RESPONSES.c.link_key)).scalar_one())

    assert key() == "f:checkout|f:search|r:SHOP-1"
    records.save_batch(engine, "desk", Batch(tickets=[Ticket("desk", "t1", AS_OF)]), KEYER)
    assert key() == "f:search"
    records.save_batch(engine, "desk", Batch(ticket_refs=[("t1", ("SHOP-2",))]), KEYER)
    assert key() == "f:search|r:SHOP-2"
    records.save_batch(engine, "desk", Batch(deleted_tickets=["t1"]), KEYER)
    assert key() == "f:search"
    records.save_batch(engine, "survey", Batch(responses=[response]), KEYER)
    assert key() == "f:search"


def test_relink_keeps_inherited_keys(engine: Engine) -> None:
    records.save_batch(engine, "desk", Batch(tickets=[Ticket("desk", "t1", AS_OF,
                                                             tags=("payments",))]), KEYER)
    records.save_batch(engine, "survey", Batch(responses=[Response(
        "survey", "r1", AS_OF, score=5, satisfied=True, tags=("search",),
        ticket_source="desk", ticket_id="t1")]), KEYER)
    wider = Catalog([Feature("payments", ("payments",)), Feature("search", ("search",))])
    assert records.relink(engine, make_keyer(wider), wider.fingerprint) == 2
    with engine.connect() as conn:
        row = conn.execute(select(records.RESPONSES)).one()
    assert (row.own_key, row.link_key) == ("f:search", "f:payments|f:search")


@pytest.mark.parametrize("seed", [6, 7])
@pytest.mark.parametrize("whole_table", [True, False])
def test_sql_counts_match_when_issues_share_features(engine: Engine, seed: int,
                                                     whole_table: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Issues with the same features share their customers; references still count apart."""

    # Whether the window is read through the time index or by reading the whole table.
    monkeypatch.setattr(aggregate, "_WHOLE_TABLE_SHARE", 0.0 if whole_table else 1.0)
    refs = [(), (), ("acme/shop#4",), ("#5",), ("#1",), ("acme/shop#6", "#4"), ("#7",)]
    tickets, responses, accounts = _random_records(random.Random(seed), refs)
    records.save_batch(engine, "desk", Batch(tickets=tickets), KEYER)
    records.save_batch(engine, "survey", Batch(responses=responses), KEYER)
    records.save_batch(engine, "crm", Batch(customers=accounts), KEYER)
    labels = {1: ("area/checkout",), 2: ("area/search",), 3: ("area/checkout", "area/search"),
              4: ("area/checkout",), 5: ("area/search",), 6: ("area/checkout",), 7: ()}
    issues = [Issue(IssueKey(f"acme/shop#{n}"), labels=ls) for n, ls in labels.items()]
    for weight_by, attribution in [("none", "shared"), ("arr", "full")]:
        sql, expected, _, _ = _sql_and_slices(engine, issues, weight_by, attribution)
        assert sql.keys() == expected.keys() and len(expected) == 7
        _assert_same_counts(sql, expected)


def test_a_key_twice_in_one_batch_keeps_the_last(engine: Engine) -> None:
    first = Ticket("desk", "1", AS_OF, tags=("checkout",), status="open")
    last = Ticket("desk", "1", AS_OF, tags=("search",), status="solved")
    records.save_batch(engine, "desk", Batch(tickets=[first, last]), KEYER)
    with engine.connect() as conn:
        rows = conn.execute(select(records.TICKETS.c.status, records.TICKETS.c.link_key)).all()
    assert [tuple(r) for r in rows] == [("solved", "f:search")]


ISSUES_JSON = [{"number": n, "title": f"Bug {n}", "state": "OPEN", "labels": [{"name": label}],
                "url": f"https://github.com/acme/shop/issues/{n}"}
               for n, label in [(1, "area/checkout"), (2, "area/checkout"), (3, "area/search")]]


def _pipeline(tmp_path: Path, store_url: str, window_days: int = 90) -> Pipeline:
    (tmp_path / "issues.json").write_text(json.dumps(ISSUES_JSON), encoding="utf-8")
    (tmp_path / "impactlink.toml").write_text(f"""
[store]
url = "{store_url}"
[impact]
window_days = {window_days}
[features.checkout]
tags = ["checkout", "payments"]
labels = ["area/checkout"]
[features.search]
tags = ["search"]
labels = ["area/search"]
[tracker]
type = "file"
path = "issues.json"
""", encoding="utf-8")
    return Pipeline(load_settings(tmp_path / "impactlink.toml"))


def _compute(pipeline: Pipeline, as_of: datetime) -> CycleResult:
    """Run the issues and compute steps of a cycle."""
    result = CycleResult(0, as_of, dry_run=False)
    pipeline.sync_issues(result)
    pipeline.compute(result)
    return result


def _recomputed(pipeline: Pipeline, as_of: datetime) -> tuple[dict[str, dict[str, Any]], int]:
    """The figures a full compute gives, through JSON as the store keeps them, and its links."""
    impacts, links = compute_impacts(pipeline, as_of)
    figures = {k: impact_to_dict(v) for k, v in impacts.items()}
    return json.loads(json.dumps(figures)), len(links)


def test_stored_figures_are_reused_only_when_a_compute_would_give_them(
        tmp_path: Path, store_url: str) -> None:
    pipeline = _pipeline(tmp_path, store_url)
    hour, day = timedelta(hours=1), timedelta(days=1)
    edge = AS_OF - 90 * day + 2 * hour  # leaves the current window when as_of passes +2 h
    coming = AS_OF + 4 * hour  # enters the current window when as_of passes +4 h
    times = [AS_OF - day, AS_OF - 10 * day, edge, AS_OF - 120 * day, coming]
    rs = [Response("survey", f"r{n}", at, score=1 + n % 5, satisfied=n % 5 >= 3,
                   customer_id=f"c{n % 3}", tags=("checkout",)) for n, at in enumerate(times)]
    ts = [Ticket("desk", "t1", AS_OF - 5 * day, customer_id="c2", tags=("search",),
                 refs=("acme/shop#2",))]
    records.save_batch(pipeline.engine, "survey", Batch(responses=rs), pipeline.keyer)
    records.save_batch(pipeline.engine, "desk", Batch(tickets=ts), pipeline.keyer)

    def check(as_of: datetime, reused: bool) -> dict[str, dict[str, Any]]:
        result = _compute(pipeline, as_of)
        assert pipeline.reused is reused, as_of
        assert (result.impacts, result.links) == _recomputed(pipeline, as_of)
        assert result.matched == len(result.impacts) == 3
        return result.impacts

    first = check(AS_OF, reused=False)
    assert check(AS_OF, reused=True) == first
    assert check(AS_OF + hour, reused=True) == first  # no record where an edge moved
    moved = check(AS_OF + 3 * hour, reused=False)  # `edge` went to the previous window
    assert moved["acme/shop#1"]["responses"] == first["acme/shop#1"]["responses"] - 1
    assert check(AS_OF + 3 * hour, reused=True) == moved
    came = check(AS_OF + 5 * hour, reused=False)  # `coming` entered the window
    assert came["acme/shop#1"]["responses"] == moved["acme/shop#1"]["responses"] + 1

    later = AS_OF + 5 * hour
    new = Response("survey", "new", AS_OF, score=1, satisfied=False, customer_id="c9",
                   tags=("search",))
    records.save_batch(pipeline.engine, "survey", Batch(responses=[new]), pipeline.keyer)
    grown = check(later, reused=False)
    assert grown["acme/shop#3"]["responses"] == came["acme/shop#3"]["responses"] + 1
    assert check(later, reused=True) == grown

    relabelled = [*ISSUES_JSON[:2], {**ISSUES_JSON[2], "labels": [{"name": "area/checkout"}]}]
    (tmp_path / "issues.json").write_text(json.dumps(relabelled), encoding="utf-8")
    assert check(later, reused=False)["acme/shop#3"]["features"] == ["checkout"]
    assert check(later, reused=True)
    reuse.forget(pipeline.engine)  # as a crash between saving figures and their fingerprint
    check(later, reused=False)
    narrower = _pipeline(tmp_path, store_url, window_days=60)
    assert narrower.settings.impact.window_days == 60
    _compute(narrower, later)
    assert narrower.reused is False


def test_a_response_without_account_or_segments_takes_its_tickets(engine: Engine) -> None:
    rating = Response("zd", "r1", AS_OF, score=0, satisfied=False, respondent_id="u7",
                      ticket_source="zd", ticket_id="t1")
    ticket = Ticket("zd", "t1", AS_OF, customer_id="org-1", requester_id="u7",
                    segments=(("plan", "pro"),))

    def stored() -> tuple[str, str | None, str]:
        with engine.connect() as conn:
            row = conn.execute(select(records.RESPONSES)).one()
        return row.customer_key, row.customer_id, row.segments

    records.save_batch(engine, "zd", Batch(responses=[rating]), KEYER)
    assert stored() == ("p:u7", None, "{}")
    records.save_batch(engine, "zd", Batch(tickets=[ticket]), KEYER)  # the ticket comes later
    assert stored() == ("a:org-1", "org-1", '{"plan": "pro"}')
    records.save_batch(engine, "zd", Batch(responses=[rating]), KEYER)  # re-read: still holds
    assert stored() == ("a:org-1", "org-1", '{"plan": "pro"}')
    own = Response("zd", "r1", AS_OF, score=0, satisfied=False, customer_id="org-2",
                   segments=(("plan", "free"),), ticket_source="zd", ticket_id="t1")
    records.save_batch(engine, "zd", Batch(responses=[own]), KEYER)  # its own win
    assert stored() == ("a:org-2", "org-2", '{"plan": "free"}')
