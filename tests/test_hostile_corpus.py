"""Issue #10's hostile-input corpus (tests/hostile/corpus) against every source kind.

Each kind is read by the six file kinds (CSV and JSONL of csat, tickets, customers) and served
by the four vendors, as tests/hostile/harness.py describes; then everything that was kept is
stored, on SQLite and PostgreSQL, without the store refusing a record.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from hostile.harness import Try, kinds, run_kind
from impactlink.sources.base import Batch
from impactlink.store import records
from impactlink.store.records import QUARANTINE

KINDS = kinds()


@pytest.fixture(scope="module")
def tried(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Try]]:
    """Every kind against every source kind it applies to, run once for the module."""
    base = tmp_path_factory.mktemp("hostile")
    return {kind: run_kind(kind, base) for kind in KINDS}


def test_the_corpus_has_at_least_sixty_kinds_each_in_its_own_file() -> None:
    assert len(KINDS) >= 60
    assert len(set(KINDS)) == len(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_kind_is_quarantined_repaired_or_refused_by_rule(
        tried: dict[str, list[Try]], kind: str) -> None:
    attempts = tried[kind]
    assert attempts, f"{kind} applies to no source kind"
    crashes = [f"{a.source}/{a.role}: {a.crash}" for a in attempts if a.crash]
    assert not crashes, crashes
    wrong = [f"{a.source}/{a.role}: {a.got} where {a.expected} ({a.detail})"
             for a in attempts if not a.ok]
    assert not wrong, wrong


def test_counts_kinds_tried_crashes_and_wrong_accepts(tried: dict[str, list[Try]],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    attempts = [a for group in tried.values() for a in group]
    crashes = sum(1 for a in attempts if a.crash)
    wrong_accepts = sum(1 for a in attempts if a.wrong_accept)
    sources = {a.source for a in attempts}
    with capsys.disabled():
        print(f"\nhostile corpus: {len(tried)} kinds, {len(attempts)} tries over "
              f"{len(sources)} source kinds; crashes {crashes}, wrong accepts {wrong_accepts}")
    assert sources == {"csv_csat", "csv_tickets", "csv_customers", "jsonl_csat",
                       "jsonl_tickets", "jsonl_customers", "zendesk", "intercom", "freshdesk",
                       "delighted"}
    assert (crashes, wrong_accepts) == (0, 0)


def _kept(tried: dict[str, list[Try]]) -> Iterator[tuple[str, Batch]]:
    """Yield one batch per source kind holding all it kept of the corpus (upserts merge ids)."""
    merged: dict[str, Batch] = {}
    for attempt in (a for group in tried.values() for a in group):
        into = merged.setdefault(attempt.source, Batch())
        for batch in attempt.batches:
            into.tickets += batch.tickets
            into.responses += batch.responses
            into.customers += batch.customers
    yield from merged.items()


def test_everything_kept_is_stored_without_a_refusal(tried: dict[str, list[Try]],
                                                     engine: Engine) -> None:
    for source, batch in _kept(tried):
        stored = len(batch)
        assert records.save_batch(engine, source, batch, lambda tags, refs: "") == 0
        assert len(batch) == stored  # the store's screen found nothing left to refuse
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(QUARANTINE)).scalar() == 0


def test_corpus_files_are_small(tried: dict[str, list[Try]]) -> None:
    del tried
    corpus = Path(__file__).parent / "hostile" / "corpus"
    assert max(p.stat().st_size for p in corpus.glob("*.json")) < 20_000
