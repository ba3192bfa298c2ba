"""Issue #10, item 1 in a whole cycle: one failing source never stops the others, the issue
sync, the compute or the write-back; the summary counts what was quarantined and repaired."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from impactlink.config import parse_settings
from impactlink.pipeline import Pipeline
from impactlink.registry import build_source
from impactlink.sources.base import Batch, Source
from test_pipeline_sources import jira_export

AS_OF = datetime(2024, 3, 31, tzinfo=UTC)
PII = "jane.doe@acme.test 4111 1111 1111 1111"


def settings(tmp_path: Path, *sources: dict[str, Any]) -> Any:
    jira_export(tmp_path, ("SHOP-1", "Checkout fails", ["checkout"], []))
    return parse_settings({
        "store": {"url": f"sqlite:///{tmp_path / 'store.db'}"},
        "features": {"checkout": {"tags": ["checkout"], "labels": ["checkout"]}},
        "sources": list(sources), "tracker": {"type": "file", "path": "issues.json"}},
        tmp_path)


def survey(tmp_path: Path, name: str = "survey", **extra: Any) -> dict[str, Any]:
    (tmp_path / f"{name}.csv").write_bytes(
        b"id,submitted_at,score,comment,tags\n"
        b"r1,2024-03-01,1,slow caf\xe9,checkout\n"   # repaired: U+FFFD
        b"r2,2024-03-02,2,broken,checkout\n"
        b"r3,9999-12-31T23:59:59-01:00,1,edge,checkout\n")  # quarantined
    return {"name": name, "type": "csv", "kind": "csat", "path": f"{name}.csv", **extra}


class Exploding:
    """A source whose second batch fails as a bug would, quoting customer data."""

    def __init__(self, name: str) -> None:
        self.name = name

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        yield Batch(cursor='{"page": 1}')
        raise KeyError(PII)

    def check(self) -> list[str]:
        return []


def test_an_unexpected_failure_is_that_sources_error_and_the_cycle_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = settings(tmp_path, {"name": "boom", "type": "csv", "kind": "tickets",
                                 "path": "none.csv"}, survey(tmp_path))

    def factory(source: Any, base_dir: Path) -> Source:
        return Exploding(source.name) if source.name == "boom" else build_source(source, base_dir)

    caplog.set_level(logging.DEBUG, logger="impactlink")
    result = Pipeline(config).run(AS_OF, source_factory=factory)
    boom, good = result.sources["boom"], result.sources["survey"]
    assert boom.error is not None and boom.error.startswith("unexpected KeyError at ")
    assert (good.ingested, good.quarantined, good.repaired, good.error) == (2, 1, 1, None)
    assert {"ingest", "issues", "compute", "write"} <= set(result.steps)
    assert result.issues == 1 and "SHOP-1" in result.impacts
    everything = "\n".join([str(result.summary()), *(r.getMessage() for r in caplog.records)])
    assert PII not in everything
    assert result.summary()["sources"]["survey"]["repaired"] == 1
