"""Guard rails for a first dataset: each hint appears when its cause does, and only then."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from impactlink.cli import app
from impactlink.config import load_settings
from impactlink.registry import build_source, default_repo
from impactlink.terminal import ingest_progress
from test_cli import AS_OF, ROOT, example_config

runner = CliRunner()
ISSUES = f'"{ROOT}/examples/issues.json"'


def run(config: Path, *extra: str) -> str:
    result = runner.invoke(app, ["run", "-c", str(config), "--as-of", AS_OF, *extra])
    assert result.exit_code == 0, result.output
    return result.output


def hints(out: str) -> list[str]:
    return [line.removeprefix("hint: ") for line in out.splitlines() if line.startswith("hint: ")]


def with_issues(tmp_path: Path, change: dict[str, object] | None = None,
                drop: str | None = None, **replace: str) -> Path:
    """The example configuration on a copy of the issue export, each issue changed."""
    issues = json.loads((ROOT / "examples/issues.json").read_text(encoding="utf-8"))
    for issue in issues:
        issue.update(change or {})
        issue.pop(drop or "", None)
    path = tmp_path / "issues.json"
    path.write_text(json.dumps(issues), encoding="utf-8")
    return example_config(tmp_path, **{ISSUES: f'"{path}"', **replace})


def test_the_bundled_example_needs_no_hint(tmp_path: Path) -> None:
    assert hints(run(example_config(tmp_path), "--dry-run")) == []


def test_every_issue_on_one_level_suggests_customer_base(tmp_path: Path) -> None:
    config = example_config(tmp_path, **{
        "level_shares = { critical = 0.02, high = 0.005, medium = 0.001 }":
        "level_shares = { critical = 0.00001, high = 0.00001, medium = 0.00001 }"})
    [hint] = hints(run(config, "--dry-run"))
    assert hint.startswith("every one of the 37 issues with impact is critical")
    assert "set [impact] customer_base to your number of active customers" in hint


def test_arr_is_unknown_not_zero_without_a_customers_source(tmp_path: Path) -> None:
    config = example_config(tmp_path, **{'name = "accounts"': 'name = "accounts"\nenabled = false'})
    out = run(config)
    assert re.search(r"│\s+unknown │", out)
    assert any(h.startswith("ARR at risk is unknown: no customers source gives ARR")
               for h in hints(out))
    table = runner.invoke(app, ["report", "-c", str(config)])
    assert table.exit_code == 0 and "│     unknown │" in table.output
    rows = json.loads(runner.invoke(app, ["report", "-c", str(config), "-f", "json"]).output)
    assert {(r["arr_at_risk"], r["linked_arr"]) for r in rows} == {(None, None)}
    explained = runner.invoke(app, ["report", "-c", str(config), "--explain", "#101"]).output
    assert "ARR at risk unknown: no customers source gives ARR" in explained


def us_dates(tmp_path: Path) -> Path:
    """The example survey with US dates (11/21/2026 13:45)."""
    rows = list(csv.reader(io.StringIO((ROOT / "examples/csat.csv").read_text())))
    for row in rows[1:]:
        with contextlib.suppress(ValueError):  # the example's bad row stays bad
            row[1] = datetime.fromisoformat(row[1]).strftime("%m/%d/%Y %H:%M")
    path = tmp_path / "csat-us.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def test_time_format_reads_us_dates_and_names_itself_when_a_time_does_not_match(
        tmp_path: Path) -> None:
    survey = us_dates(tmp_path)
    config = example_config(tmp_path, **{
        f'"{ROOT}/examples/csat.csv"': f'"{survey}"\ntime_format = "%m/%d/%Y %H:%M"'})
    out = run(config)
    assert "source survey-export: 3600 ingested, 3 quarantined" in out
    quarantined = runner.invoke(app, ["report", "-c", str(config), "--quarantine", "-f",
                                      "json"]).output
    assert "submitted_at 'yesterday' does not match time_format '%m/%d/%Y %H:%M'" in quarantined


def test_a_time_format_that_is_none_is_refused_by_name(tmp_path: Path) -> None:
    config = example_config(tmp_path, **{
        f'"{ROOT}/examples/csat.csv"': f'"{ROOT}/examples/csat.csv"\ntime_format = "%Y-%Q"'})
    result = runner.invoke(app, ["check", "-c", str(config)])
    assert result.exit_code == 2
    assert "sources[2] (name = 'survey-export').time_format: time_format '%Y-%Q' is not a " \
        "strptime format" in result.output


def test_an_export_without_state_is_warned_about(tmp_path: Path) -> None:
    out = run(with_issues(tmp_path, drop="state"), "--dry-run")
    assert ("tracker.path: 40 of 40 exported issues have no state, so each is taken as open"
            in "\n".join(hints(out)))


def test_issues_without_any_catalog_feature_are_warned_about(tmp_path: Path) -> None:
    out = run(with_issues(tmp_path, {"labels": [{"name": "bug"}]}), "--dry-run")
    assert ("[tracker]: none of the 37 open issues carries labels of the feature catalog, so "
            "only explicit references link records to them" in "\n".join(hints(out)))
    assert "(the issues carry: bug)" in "\n".join(hints(out))


def second_tickets_source(tmp_path: Path) -> str:
    tickets = tmp_path / "more-tickets.jsonl"
    tickets.write_text(json.dumps({"id": "X-1", "created_at": "2026-11-01T00:00:00Z",
                                   "customer_id": "acct-0001", "subject": "slow"}) + "\n")
    return (f'[[sources]]\nname = "more-tickets"\ntype = "jsonl"\nkind = "tickets"\n'
            f'path = "{tickets}"\n\n# HTTP sources')


def test_ticket_ids_without_ticket_source_are_warned_about(tmp_path: Path) -> None:
    config = example_config(tmp_path, **{'ticket_source = "support-tickets"': "",
                                         "# HTTP sources": second_tickets_source(tmp_path)})
    [hint] = [h for h in hints(run(config, "--dry-run")) if "ticket_id" in h]
    assert hint.startswith("[[sources]] survey-export: ") and "no ticket_source is set" in hint
    assert "(tickets sources: support-tickets, more-tickets)" in hint


def test_the_one_tickets_source_is_the_default_ticket_source(tmp_path: Path) -> None:
    config = example_config(tmp_path, **{'ticket_source = "support-tickets"': ""})
    assert load_settings(config).source("survey-export").ticket_source == "support-tickets"
    assert load_settings(config).source("accounts").ticket_source is None
    assert hints(run(config, "--dry-run")) == []


def test_default_repo_is_inferred_from_an_export_naming_one_repository(tmp_path: Path) -> None:
    config = example_config(tmp_path, **{'default_repo = "acme/shop"': ""})
    assert default_repo(load_settings(config)) == "acme/shop"
    assert hints(run(config, "--dry-run")) == []


def test_bare_references_without_a_default_repo_are_warned_about(tmp_path: Path) -> None:
    issues = json.loads((ROOT / "examples/issues.json").read_text(encoding="utf-8"))
    issues[0]["url"] = "https://github.com/acme/web/issues/1"
    export = tmp_path / "issues.json"
    export.write_text(json.dumps(issues), encoding="utf-8")
    config = example_config(tmp_path, **{'default_repo = "acme/shop"': "", ISSUES: f'"{export}"'})
    assert default_repo(load_settings(config)) is None
    found = [h for h in hints(run(config, "--dry-run")) if "bare issue number" in h]
    assert found and "set default_repo = \"OWNER/REPO\"" in found[0]


def test_ingest_progress_is_quiet_off_a_terminal(tmp_path: Path) -> None:
    out = run(example_config(tmp_path), "--dry-run")
    assert "ingest survey-export" not in out


@pytest.mark.parametrize("terminal", [True, False])
def test_ingest_progress_shows_each_source_on_a_terminal(tmp_path: Path, terminal: bool) -> None:
    settings = load_settings(example_config(tmp_path))
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with ingest_progress(console, build_source, enabled=terminal) as factory:
        source = factory(settings.source("survey-export"), settings.base_dir)
        assert sum(len(b) for b in source.batches(None)) == 3600
    assert ("ingest survey-export" in screen.getvalue()) is terminal
