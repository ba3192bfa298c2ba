"""Every papercut of the command line, each with the test that fails when it comes back."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from impactlink.cli import app
from impactlink.core.report import SIGNIFICANT
from impactlink.errors import ConfigError
from impactlink.explain import resolve_issue
from test_cli import AS_OF, ROOT, example_config

runner = CliRunner()
COMMANDS = (["run"], ["report"], ["check"], ["backfill"], ["serve"], ["status"],
            ["db", "upgrade"], [])


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled example after one run: a store the report commands read."""
    path = example_config(tmp_path_factory.mktemp("papercuts"))
    code, out = invoke("run", "-c", str(path), "--as-of", AS_OF)
    assert code == 0, out
    return path


def test_version_alone_prints_the_version() -> None:
    code, out = invoke("--version")
    assert code == 0 and re.fullmatch(r"impactlink \d+\.\d+\.\d+\S*\n", out)


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_is_accepted_before_or_after_the_subcommand(config: Path, where: str) -> None:
    args = ["status", "-c", str(config)]
    code, out = invoke(*(["-v", *args] if where == "before" else [*args, "-v"]))
    assert code == 0, out


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_flags_as_flags_and_brackets_literally(command: list[str]) -> None:
    code, out = invoke(*command, "--help", env={"COLUMNS": "120"})
    assert code == 0, out
    assert "<bool>" not in out
    if command == ["backfill"]:
        assert "The [[sources]] name." in out


def test_shell_completion_is_offered() -> None:
    code, out = invoke("--help", env={"COLUMNS": "120"})
    assert code == 0 and "--install-completion" in out and "--show-completion" in out


def test_messages_keep_section_names_literally(config: Path) -> None:
    code, out = invoke("backfill", "-c", str(config), "--source", "nope", "--since", "2026-01-01")
    assert code == 2 and "no source named 'nope' in [[sources]]" in out


def test_report_output_to_a_text_file_is_the_table(config: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    code, _ = invoke("report", "-c", str(config), "-o", str(target))
    assert code == 0
    text = target.read_text(encoding="utf-8")
    assert text.startswith("Customer Impact as of 2026-11-21 00:00 UTC, window 90 days")
    assert re.search(r"│\s+1 │ acme/shop#101 │ critical │", text)
    assert not text.lstrip().startswith("[")


@pytest.mark.parametrize("columns", [80, 100])
def test_a_narrow_terminal_truncates_titles_not_keys_levels_or_numbers(
        config: Path, columns: int) -> None:
    rows = json.loads(invoke("report", "-c", str(config), "-f", "json")[1])
    code, out = invoke("report", "-c", str(config), env={"COLUMNS": str(columns)})
    assert code == 0, out
    assert max(len(line) for line in out.splitlines()) <= columns
    lines = [line for line in out.splitlines() if re.match(r"\W*\d+\W+acme/shop#", line)]
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows, strict=True):
        assert f" {row['issue']} " in line and f" {row['level']} " in line
        assert f" {row['score']:g} " in line.replace(",", "")
    assert any("…" in line for line in lines)


@pytest.mark.parametrize("name", ["#101", "101", "acme/shop#101", "ACME/Shop#101",
                                  "https://github.com/acme/shop/issues/101"])
def test_explain_accepts_every_way_of_naming_an_issue(config: Path, name: str) -> None:
    code, out = invoke("report", "-c", str(config), "--explain", name)
    assert code == 0, out
    assert out.startswith("acme/shop#101 — Card payment fails")


@pytest.mark.parametrize("name, found", [
    ("SHOP-12", "SHOP-12"), ("shop-12", "SHOP-12"), ("12", "SHOP-12"),
    ("https://acme.atlassian.net/browse/SHOP-12", "SHOP-12"), ("SHOP-13", None)])
def test_explain_resolves_jira_keys_and_browse_urls(name: str, found: str | None) -> None:
    assert resolve_issue(name, ["SHOP-12", "OPS-7"]) == found


def test_explain_names_the_candidates_of_an_ambiguous_number() -> None:
    with pytest.raises(ConfigError, match="acme/shop#7, acme/web#7"):
        resolve_issue("7", ["acme/shop#7", "acme/web#7"])


def test_explain_rounds_for_people_and_json_keeps_raw_numbers(config: Path) -> None:
    code, out = invoke("report", "-c", str(config), "--explain", "#101")
    assert code == 0
    assert not re.findall(r"\d\.\d{4,}", out), re.findall(r".*\d\.\d{4,}.*", out)[:3]
    assert "as of 2026-11-21 00:00 UTC, window 90 days" in out
    code, raw = invoke("report", "-c", str(config), "--explain", "#101", "-f", "json")
    data = json.loads(raw)
    assert data["as_of"].startswith("2026-11-21") and data["window_days"] == 90
    assert re.search(r"\d\.\d{4,}", raw)


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown", "html"])
def test_quarantine_honours_every_format_and_says_the_scale_once(config: Path, fmt: str) -> None:
    code, out = invoke("report", "-c", str(config), "--quarantine", "-f", fmt,
                       env={"COLUMNS": "200"})
    assert code == 0, out
    assert out.count("outside the 1–5 scale") == 1 and "(1-5)" not in out
    assert "csat.csv:" in out and "yesterday" in out
    if fmt == "json":
        assert {r["source"] for r in json.loads(out)} == {"survey-export"}
    elif fmt == "csv":
        assert next(csv.reader(io.StringIO(out))) == ["source", "location", "reason"]
    elif fmt == "html":
        assert out.startswith("<!doctype html>") and "<td>survey-export</td>" in out


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json"])
def test_every_format_states_the_as_of_time_and_window(config: Path, fmt: str) -> None:
    code, out = invoke("report", "-c", str(config), "-f", fmt)
    assert code == 0
    if fmt in ("table", "markdown"):
        assert "as of 2026-11-21 00:00 UTC, window 90 days (2026-08-23 – 2026-11-21)" in out
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert {(r["as_of"], r["window_days"]) for r in rows} == {("2026-11-21T00:00:00Z", "90")}
    else:
        assert {(r["as_of"], r["window_days"]) for r in json.loads(out)} == {
            ("2026-11-21T00:00:00Z", 90)}


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_the_star_is_explained_where_it_is_shown(config: Path, fmt: str) -> None:
    code, out = invoke("report", "-c", str(config), "-f", fmt)
    assert code == 0 and re.search(r"pts\*", out)
    assert SIGNIFICANT in out.replace("\\*", "*")


def test_csv_is_flat_segments_and_trend_as_columns(config: Path) -> None:
    code, out = invoke("report", "-c", str(config), "-f", "csv")
    assert code == 0
    reader = csv.DictReader(io.StringIO(out))
    rows = list(reader)
    assert reader.fieldnames is not None
    assert {"trend_delta", "trend_p_value", "trend_significant"} <= set(reader.fieldnames)
    assert "segments" not in reader.fieldnames and "trend" not in reader.fieldnames
    assert "segment plan=pro csat" in reader.fieldnames
    assert not [v for r in rows for v in r.values() if v.startswith(("{", "[", "'{", "'["))]
    top = rows[0]
    assert top["issue"] == "acme/shop#101" and float(top["segment plan=pro csat"]) > 0
    assert top["suggested_links"].startswith("support-tickets:")


def test_status_has_a_json_format(config: Path) -> None:
    code, out = invoke("status", "-c", str(config), "--format", "json")
    assert code == 0, out
    data = json.loads(out)
    assert data["runs"][0]["status"] == "ok" and data["runs"][0]["as_of"] == AS_OF
    assert data["next_run"].endswith("Z") and "writer_lock" in data


def test_check_lists_what_it_checked(tmp_path: Path) -> None:
    code, out = invoke("check", "-c", str(example_config(tmp_path)))
    assert code == 0, out
    for line in ("ok  features: 7 in the catalog", "ok  source survey-export: csv csat file",
                 "ok  source accounts:", "ok  tracker (file): export"):
        assert line in out


def test_check_does_not_repeat_prefixes(tmp_path: Path) -> None:
    config = example_config(tmp_path, **{f'"{ROOT}/examples/issues.json"': '"nope.json"'})
    code, out = invoke("check", "-c", str(config))
    assert code == 2
    assert "problem: tracker.path: cannot read" in out
    assert "tracker: tracker" not in out


def test_check_does_not_repeat_a_source_prefix(tmp_path: Path) -> None:
    config = example_config(tmp_path, **{f'"{ROOT}/examples/customers.csv"': '"nope.csv"'})
    code, out = invoke("check", "-c", str(config))
    assert code == 2
    assert "problem: sources[0] (name = 'accounts'): cannot read" in out
    assert "source 'accounts':" not in out


def test_a_list_validator_names_its_item_once(tmp_path: Path) -> None:
    config = example_config(tmp_path, **{'ticket_source = "support-tickets"':
                                         'ticket_source = "nope"'})
    code, out = invoke("check", "-c", str(config))
    assert code == 2
    assert "sources[" in out and ".ticket_source: no source named 'nope'" in out
    assert "sources: sources[" not in out


def test_the_plan_on_a_narrow_terminal_keeps_keys_levels_and_numbers_whole(
        tmp_path: Path) -> None:
    code, out = invoke("run", "-c", str(example_config(tmp_path)), "--dry-run", "--as-of", AS_OF,
                       env={"COLUMNS": "80"})
    assert code == 0, out
    table = out[:out.index("What to apply by hand")]
    assert max(len(line) for line in table.splitlines()) <= 80
    rows = re.findall(r"^\s*(\d+)\s+(acme/shop#\d+)\s+– → (critical|high|medium|low)\s+"
                      r"([\d.]+)\s+([\d.]+ %|–)\s+\d+\s", table, re.M)
    assert len(rows) >= 30 and rows[0][:3] == ("1", "acme/shop#101", "critical")
