"""The store on SQLite and PostgreSQL: migrations, upserts, cursors, quarantine, aggregation."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from impactlink.config import load_settings
from impactlink.core.impact import ImpactSettings, compute, impacts_from_counts
from impactlink.core.matching import Catalog, Feature, Matcher, link_key
from impactlink.core.models import (
    Customer,
    Impact,
    Issue,
    IssueKey,
    Rejected,
    Response,
    Ticket,
)
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
        found = list(aggregate.model_records(conn, window, {}))
        pop = aggregate.population(conn, window)
    current = [r.record for r in found if not r.previous]
    previous = [r.record for r in found if r.previous]
    assert current == ["s:at-end"]
    assert previous == ["s:at-start"]  # at-start belongs to the previous window
    assert (pop.responses, pop.dissatisfied, pop.customers) == (1, 1, 1)


def _random_records(rng: random.Random, refs: list[tuple[str, ...]] | None = None
                    ) -> tuple[list[Ticket], list[Response], list[Customer]]:
    tags = [("checkout",), ("search",), ("checkout", "search"), ("payments",), ("other",), ()]
    refs = refs or [(), (), (), ("acme/shop#1",), ("#2",)]
    customers = [f"c{n}" for n in range(12)]
    words = ["card", "declined", "payment", "crash", "search", "slow", "filter", "login",
             "timeout", "page", "blank", "export", "the", "and", "checkout", "x"]

    def text() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(0, 6)))

    def at() -> datetime:
        return AS_OF - timedelta(hours=rng.randint(0, 24 * 200))

    tickets = [Ticket("desk", f"t{n}", at(), customer_id=rng.choice([*customers, None]),
                      requester_id=rng.choice(["u1", "u2", None]), tags=rng.choice(tags),
                      refs=rng.choice(refs), subject=text(), description=text(),
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
            tags=() if ticket else rng.choice(tags), refs=rng.choice(refs), comment=text(),
            ticket_source="desk" if ticket else None,
            ticket_id=ticket.external_id if ticket else None,
            segments=(("plan", rng.choice(["free", "pro"])), ("platform", "web"))))
    accounts = [Customer("crm", c, plan=rng.choice(["pro", "enterprise"]),
                         arr=rng.choice([None, 1000.0, 5000.0])) for c in customers]
    return tickets, responses, accounts


ISSUE_TEXTS = {1: ("Card declined at checkout", "payment page says card declined"),
               2: ("Search is slow", "search results timeout with a filter"),
               3: ("Blank page after login", "checkout and search show a blank page"),
               4: ("Payment crash", "the payment page crashes"),
               5: ("Export times out", ""), 6: ("Checkout slow", "slow slow slow"), 7: ("", "")}


def _issues(labels: dict[int, tuple[str, ...]]) -> list[Issue]:
    return [Issue(IssueKey(f"acme/shop#{n}"), ISSUE_TEXTS[n][0], labels=ls,
                  body=ISSUE_TEXTS[n][1]) for n, ls in labels.items()]


def _bulk_and_pure(engine: Engine, issues: list[Issue], **impact: Any
                   ) -> tuple[dict[IssueKey, Impact], dict[IssueKey, Impact]]:
    """Compute from the store in bulk, and plainly record by record with the pure model."""
    from impactlink.store.counts import issue_counts

    state.sync_issues(engine, "github", issues, {i.key: CATALOG.features_for_issue(i)
                                                 for i in issues})
    settings = ImpactSettings(segment_weights={"enterprise": 2.0}, **impact)
    window = aggregate.Window(AS_OF, 90)
    multipliers = {"desk": 3.0}
    with engine.begin() as conn:
        matcher = Matcher(state.load_issues(conn), CATALOG, default_repo="acme/shop",
                          attribution=settings.feature_attribution,
                          texts=state.issue_terms(conn))
        pop = aggregate.population(conn, window)
        customers = aggregate.customer_info(conn)
        plain = list(aggregate.model_records(conn, window, multipliers))
        bulk = issue_counts(conn, window, matcher, settings, customers=customers,
                            mean_arr=pop.mean_arr, multipliers=multipliers)
    return (impacts_from_counts(bulk.counts, matcher, CATALOG, pop, settings),
            compute(plain, matcher, CATALOG, customers, pop, settings))


def _assert_same(bulk: dict[IssueKey, Impact], pure: dict[IssueKey, Impact]) -> None:
    assert bulk.keys() == pure.keys() and pure
    for key, want in pure.items():
        got = bulk[key]
        for name in ("responses", "satisfied", "offered", "tickets", "customers_observed",
                     "named_customers", "linked_affected", "affected", "affected_low",
                     "affected_high", "method", "level", "features", "references", "trend"):
            assert getattr(got, name) == getattr(want, name), (key, name)
        for name in ("attributed_customers", "arr_at_risk", "linked_arr", "reach", "score",
                     "pain"):
            assert getattr(got, name) == pytest.approx(getattr(want, name), abs=0.011), \
                (key, name)
        assert sorted(got.segments, key=str) == sorted(want.segments, key=str)
        assert [x.record for x in got.suggested_links] == \
            [x.record for x in want.suggested_links]
        def shown(impact: Impact) -> list[tuple[Any, ...]]:
            return [(m["record"], round(m["attribution"], 3), round(m["score"], 3), m["words"])
                    for m in impact.explanation["matches"]]  # type: ignore[attr-defined]

        assert shown(got) == shown(want)


def _store_random(engine: Engine, seed: int, refs: list[tuple[str, ...]] | None = None) -> None:
    tickets, responses, accounts = _random_records(random.Random(seed), refs)
    records.save_batch(engine, "desk", Batch(tickets=tickets), KEYER)
    records.save_batch(engine, "survey", Batch(responses=responses), KEYER)
    records.save_batch(engine, "crm", Batch(customers=accounts), KEYER)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_population_over_the_window(engine: Engine, seed: int) -> None:
    tickets, responses, accounts = _random_records(random.Random(seed))
    records.save_batch(engine, "desk", Batch(tickets=tickets), KEYER)
    records.save_batch(engine, "survey", Batch(responses=responses), KEYER)
    records.save_batch(engine, "crm", Batch(customers=accounts), KEYER)
    window = aggregate.Window(AS_OF, 90)
    with engine.connect() as conn:
        pop = aggregate.population(conn, window)
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
    matcher = Matcher([Issue(issue.key, labels=issue.labels)], CATALOG)
    key = link_key(["checkout"], [])
    records.save_batch(engine, "desk", Batch(tickets=[Ticket("desk", "1", AS_OF,
                                                             tags=("checkout",))]), KEYER)
    with engine.connect() as conn:
        assert state.linking_keys(conn, matcher, "acme/shop#1") == {key: "feature checkout"}
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


@pytest.mark.parametrize("seed", [4, 5])
@pytest.mark.parametrize("impact", [
    {}, {"weight_by": "arr"}, {"feature_attribution": "full"}, {"text_attribution": False},
    {"text_weight": 3.0, "text_candidates": 1}])
def test_bulk_counts_equal_the_pure_model(engine: Engine, seed: int,
                                          impact: dict[str, Any]) -> None:
    _store_random(engine, seed)
    issues = _issues({1: ("area/checkout",), 2: ("area/search",),
                      3: ("area/checkout", "area/search")})
    _assert_same(*_bulk_and_pure(engine, issues, **impact))


def test_stored_matches_are_reused_and_redone_when_candidates_change(engine: Engine) -> None:
    from impactlink.store.counts import issue_counts

    _store_random(engine, 8)
    issues = _issues({1: ("area/checkout",), 2: ("area/search",), 4: ("area/checkout",)})

    def scored(issues: list[Issue]) -> int:
        state.sync_issues(engine, "github", issues,
                          {i.key: CATALOG.features_for_issue(i) for i in issues})
        window = aggregate.Window(AS_OF, 90)
        with engine.begin() as conn:
            matcher = Matcher(state.load_issues(conn), CATALOG, default_repo="acme/shop",
                              texts=state.issue_terms(conn))
            return issue_counts(conn, window, matcher, ImpactSettings(), customers={},
                                mean_arr=None, multipliers={}).matched

    first = scored(issues)
    assert first > 0
    assert scored(issues) == 0  # nothing changed: no text work
    edited = [*issues[:2], Issue(issues[2].key, "Payment crash", labels=issues[2].labels,
                                 body="now it freezes")]
    again = scored(edited)  # a checkout issue changed its text: only checkout records
    assert 0 < again < first


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
def test_bulk_counts_equal_the_pure_model_when_issues_share_features_and_are_named(
        engine: Engine, seed: int, whole_table: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issues with the same features share their candidates; named records go to one issue."""

    # Whether the window is read through the time index or by reading the whole table.
    monkeypatch.setattr(aggregate, "_WHOLE_TABLE_SHARE", 0.0 if whole_table else 1.0)
    _store_random(engine, seed, [(), (), ("acme/shop#4",), ("#5",), ("#1",),
                                 ("acme/shop#6", "#4"), ("#7",)])
    issues = _issues({1: ("area/checkout",), 2: ("area/search",),
                      3: ("area/checkout", "area/search"), 4: ("area/checkout",),
                      5: ("area/search",), 6: ("area/checkout",), 7: ()})
    for impact in ({}, {"weight_by": "arr"}, {"feature_attribution": "full"}):
        bulk, pure = _bulk_and_pure(engine, issues, **impact)
        _assert_same(bulk, pure)
        assert len(pure) == 7


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
    """The figures a full compute gives, through JSON as the store keeps them, and evidence."""
    impacts, done = compute_impacts(pipeline, as_of)
    figures = {k: impact_to_dict(v) for k, v in impacts.items()}
    return json.loads(json.dumps(figures)), done.evidence


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
                 refs=("acme/shop#3",))]
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


def test_a_new_tokenizer_makes_every_stored_terms_anew(engine: Engine) -> None:
    ticket = Ticket("desk", "t1", AS_OF, subject="Card declined", description="at checkout")
    rating = Response("desk", "r1", AS_OF, score=1, satisfied=False, comment="still broken",
                      ticket_source="desk", ticket_id="t1")
    records.save_batch(engine, "desk", Batch(tickets=[ticket], responses=[rating]), KEYER)
    records.retokenize(engine)  # records the version in force
    with engine.begin() as conn:
        conn.execute(records.TICKETS.update().values(terms=""))
        conn.execute(records.RESPONSES.update().values(terms=""))
        conn.execute(records.MATCHES.insert().values(kind="t", record_id=1, candidates="x",
                                                     matches=""))
        records.set_meta(conn, "tokenizer", "0")  # as if stored by another tokenizer
    assert records.retokenize(engine) == 2
    with engine.connect() as conn:
        assert conn.execute(select(records.TICKETS.c.terms)).scalar_one() == \
            "card checkout declin"
        assert conn.execute(select(records.RESPONSES.c.terms)).scalar_one() == \
            "broken card checkout declin"
        assert conn.execute(select(func.count()).select_from(records.MATCHES)).scalar() == 0
    assert records.retokenize(engine) == 0  # done once per version
