"""`impactlink backfill`: an HTTP source re-read from a date into the store, with its cursor."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx
from sqlalchemy import func, select
from typer.testing import CliRunner

from impactlink.cli import app
from impactlink.store import records
from impactlink.store.engine import open_engine
from test_source_intercom import T0, companies, search

runner = CliRunner()


def config(tmp_path: Path, source: str) -> Path:
    (tmp_path / "issues.json").write_text("[]")
    path = tmp_path / "impactlink.toml"
    path.write_text(f"""
[store]
url = "sqlite:///{tmp_path}/s.db"
[features.checkout]
tags = ["checkout"]
{source}
[tracker]
type = "file"
path = "issues.json"
""")
    return path


INTERCOM = """
[[sources]]
name = "intercom"
type = "intercom"
token_env = "TEST_INTERCOM_TOKEN"
"""


@respx.mock(base_url="https://api.intercom.io", assert_all_called=False)
def test_backfill_reads_from_the_date_and_keeps_the_cursor(
        respx_mock: respx.MockRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_INTERCOM_TOKEN", "tok-secret-1")
    seen: list[int] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content)["query"]["value"])
        return search(request)

    respx_mock.post("/conversations/search").mock(side_effect=recording)
    respx_mock.get(path__regex=r"/contacts/.*/companies").mock(side_effect=companies)
    path = config(tmp_path, INTERCOM)
    since = "2024-12-18T00:00:00Z"
    result = runner.invoke(app, ["backfill", "-c", str(path), "--source", "intercom",
                                 "--since", since])
    assert result.exit_code == 0, result.output
    assert "backfill intercom:" in result.output and "1 quarantined" in result.output
    assert seen[0] == 1734480000  # the epoch of --since: the search started there
    engine = open_engine(f"sqlite:///{tmp_path}/s.db")
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(records.TICKETS)).scalar_one()
    assert stored >= 3
    cursor = json.loads(records.load_cursor(engine, "intercom") or "{}")
    assert cursor["since"]["at"] == T0 + 10  # the next cycle goes on from the newest seen
    assert "tok-secret-1" not in result.output


def test_backfill_refuses_a_file_source(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("id,submitted_at,score\n")
    path = config(tmp_path, """
[[sources]]
name = "survey"
type = "csv"
kind = "csat"
path = "c.csv"
""")
    result = runner.invoke(app, ["backfill", "-c", str(path), "--source", "survey",
                                 "--since", "2026-01-01"])
    assert result.exit_code == 2
    assert "files are read whole" in result.output


def test_backfill_names_an_unknown_source(tmp_path: Path) -> None:
    result = runner.invoke(app, ["backfill", "-c", str(config(tmp_path, INTERCOM)),
                                 "--source", "zendesk", "--since", "2026-01-01"])
    assert result.exit_code == 2
    assert "no source named 'zendesk'" in result.output and "intercom" in result.output
