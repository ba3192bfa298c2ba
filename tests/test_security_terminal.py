"""What reaches a terminal or a spreadsheet: no markup crash, no escape sequence, no formula."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fakes.github_builders import impact
from impactlink import logs
from impactlink.cli import app
from impactlink.core.redact import strip_controls
from impactlink.core.report import csv_cell, impact_to_dict, to_csv
from test_cli import AS_OF, ROOT, example_config

runner = CliRunner()
MARKUP = "[/bold] [link=https://evil.example]pay[/link] [red]"
ESCAPES = "\x1b[2J\x1b]8;;https://evil.example\x07click\x1b]8;;\x07\x9b31m\x07"


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return result.exit_code, result.output


def _config_with(tmp_path: Path, issues: Path) -> Path:
    config = example_config(tmp_path)
    text = config.read_text(encoding="utf-8").replace(f'"{ROOT}/examples/issues.json"',
                                                      f'"{issues}"')
    config.write_text(text, encoding="utf-8")
    return config


@pytest.fixture
def hostile_config(tmp_path: Path) -> Path:
    issues = json.loads((ROOT / "examples" / "issues.json").read_text(encoding="utf-8"))
    for issue in issues:
        issue["title"] = f"=1+2 {MARKUP} {ESCAPES} {issue['title']}"
    path = tmp_path / "issues.json"
    path.write_text(json.dumps(issues), encoding="utf-8")
    return _config_with(tmp_path, path)


def _no_escapes(out: str) -> None:
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out), repr(out[:400])


def test_dry_run_prints_markup_in_titles_as_text(hostile_config: Path) -> None:
    code, out = invoke("run", "-c", str(hostile_config), "--dry-run", "--as-of", AS_OF)
    assert code == 0, out
    assert "[/bold]" in out and "[link=https://evil.example]" in out
    _no_escapes(out)


def test_report_table_and_formats_print_markup_and_no_escape(hostile_config: Path) -> None:
    assert invoke("run", "-c", str(hostile_config), "--as-of", AS_OF)[0] == 0
    for fmt in ("table", "markdown", "json", "csv"):
        code, out = invoke("report", "-c", str(hostile_config), "-f", fmt)
        assert code == 0, (fmt, out)
        assert "[/bold]" in out, fmt
        _no_escapes(out)


def test_csv_report_neutralises_formula_cells(hostile_config: Path, tmp_path: Path) -> None:
    assert invoke("run", "-c", str(hostile_config), "--as-of", AS_OF)[0] == 0
    target = tmp_path / "report.csv"
    assert invoke("report", "-c", str(hostile_config), "-f", "csv", "-o", str(target))[0] == 0
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows and all(r["title"].startswith("'=1+2 [/bold]") for r in rows)


@pytest.mark.parametrize(("value", "expected"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1+2", "'+1+2"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tcmd", "'\tcmd"), ("\rcmd", "'\rcmd"), ("plain", "plain"), (-8.5, -8.5), (3, 3),
])
def test_csv_cell_follows_owasp(value: Any, expected: Any) -> None:
    assert csv_cell(value) == expected


def test_to_csv_neutralises_titles_and_joined_lists() -> None:
    row = impact_to_dict(dataclasses.replace(impact("acme/shop#1"), title="=2+5",
                                             features=("-x", "y")))
    cells = next(csv.DictReader(io.StringIO(to_csv([row]))))
    assert (cells["title"], cells["features"]) == ("'=2+5", "'-x;y")
    assert float(cells["score"]) == row["score"]


def test_explain_strips_control_sequences_from_customer_text(tmp_path: Path) -> None:
    rows = (ROOT / "examples" / "csat.csv").read_text(encoding="utf-8")
    extra = "".join(f'R-9990{n},2026-11-20 10:0{n}:00,1,answered,acct-000{n},user-9{n},'
                    f'"broken {ESCAPES} checkout {MARKUP}",checkout,,,pro,web\n'
                    for n in range(5))
    (tmp_path / "csat.csv").write_text(rows + extra, encoding="utf-8")
    config = example_config(tmp_path)
    config.write_text(config.read_text(encoding="utf-8").replace(
        f'"{ROOT}/examples/csat.csv"', f'"{tmp_path / "csat.csv"}"'), encoding="utf-8")
    assert invoke("run", "-c", str(config), "--as-of", AS_OF)[0] == 0
    report = json.loads(invoke("report", "-c", str(config), "-f", "json")[1])
    issue = next(r["issue"] for r in report if "checkout" in r["features"])

    for fmt in ("table", "json"):
        code, out = invoke("report", "-c", str(config), "--explain", issue, "-f", fmt)
        assert code == 0, out
        assert "broken" in out and "[/bold]" in out
        _no_escapes(out)


@pytest.mark.parametrize("text", [
    "\x1b[31mred\x1b[0m", "\x1b]0;title\x07x", "\x1b]8;;http://e\x1b\\x", "\x9b2Jx", "a\x00b",
    "\x1bPdcs\x1b\\x", "a\u202eb", "\x1b7x",
])
def test_strip_controls_leaves_no_sequence(text: str) -> None:
    stripped = strip_controls(text)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]", stripped), repr(stripped)


def test_strip_controls_keeps_newlines_tabs_and_text() -> None:
    assert strip_controls("a\tb\nc — ü") == "a\tb\nc — ü"


def test_error_printing_survives_markup_in_paths_and_config(tmp_path: Path) -> None:
    odd = tmp_path / "[bold]x[/bold]" / "[/link]"
    odd.mkdir(parents=True)
    code, out = invoke("run", "-c", str(odd / "missing.toml"))
    assert code == 2 and "[/link]" in out and "no such configuration file" in out
    config = odd / "impactlink.toml"
    config.write_text('"[/bold]" = 1\n[tracker]\ntype = "file"\npath = "[red]"\n')
    code, out = invoke("check", "-c", str(config))
    assert code == 2 and '[/bold]' in out and "unknown key" in out


def test_console_output_masks_registered_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    from impactlink import cli

    logs.forget_secrets()
    logs.register_secret("ghp_consoleSECRET123")
    try:
        cli.out.print("token ghp_consoleSECRET123 printed")
        cli.err.print("error: ghp_consoleSECRET123 refused")
        cli.stdout.write("raw ghp_consoleSECRET123\n")
    finally:
        logs.forget_secrets()
    captured = capsys.readouterr()
    assert "ghp_consoleSECRET123" not in captured.out + captured.err
    assert captured.out.count(logs.MASK) == 2 and logs.MASK in captured.err
