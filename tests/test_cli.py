"""The command line on the bundled example data: run, report, check, db upgrade."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from impactlink.cli import app
from impactlink.core.report import FIELDS

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-11-21T00:00:00Z"
runner = CliRunner()


def example_config(tmp_path: Path, **replace: str) -> Path:
    """Return config.example.toml pointed at the bundled examples and a store in tmp_path."""
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = text.replace('"examples/', f'"{ROOT}/examples/')
    text = text.replace('url = "sqlite:///impactlink.db"', f'url = "sqlite:///{tmp_path}/s.db"')
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "impactlink.toml"
    path.write_text(text, encoding="utf-8")
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_dry_run_prints_the_ranked_plan_and_summary(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    code, out = invoke("run", "--config", str(config), "--dry-run", "--as-of", AS_OF)
    assert code == 0, out
    assert "Plan as of 2026-11-21 00:00 UTC" in out
    rows = re.findall(r"│\s+(\d+) │ (acme/shop#\d+)\s+│ – → (\w+)\s+│\s+([\d.]+) │", out)
    assert len(rows) >= 30
    scores = [float(r[3]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert rows[0][2] == "critical"
    assert "source survey-export: 3600 ingested, 3 quarantined" in out
    assert "source support-tickets: 1500 ingested, 0 quarantined" in out


def test_second_run_reads_nothing_new_and_changes_nothing(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    assert invoke("run", "-c", str(config), "--as-of", AS_OF)[0] == 0
    code, out = invoke("run", "-c", str(config), "--as-of", AS_OF)
    assert code == 0, out
    assert "source survey-export: 0 ingested, 0 quarantined" in out
    assert "0 changed" in out


def test_report_json_carries_every_figure_ranked(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    invoke("run", "-c", str(config), "--as-of", AS_OF)
    code, out = invoke("report", "-c", str(config), "--format", "json")
    assert code == 0, out
    rows = json.loads(out)
    assert rows and all(list(r) == [*FIELDS, "as_of", "window_days"] for r in rows)
    assert {(r["as_of"], r["window_days"]) for r in rows} == {("2026-11-21T00:00:00Z", 90)}
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    top = rows[0]
    assert top["csat_low"] <= top["csat"] <= top["csat_high"]
    assert top["affected_low"] <= top["affected"] <= top["affected_high"]
    assert top["method"] in {"usage", "survey", "observed"}
    assert {"delta", "p_value", "significant"} <= set(top["trend"])


@pytest.mark.parametrize("fmt, marker", [("csv", "issue,title,url,features"),
                                          ("markdown", "**Customer Impact** as of 2026-11-21")])
def test_report_formats_to_a_file(tmp_path: Path, fmt: str, marker: str) -> None:
    config = example_config(tmp_path)
    invoke("run", "-c", str(config), "--as-of", AS_OF)
    target = tmp_path / f"report.{fmt}"
    code, _ = invoke("report", "-c", str(config), "--format", fmt, "--output", str(target))
    assert code == 0
    assert target.read_text(encoding="utf-8").startswith(marker)


def test_report_as_of_recomputes_from_the_store(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    invoke("run", "-c", str(config), "--as-of", AS_OF)
    code, out = invoke("report", "-c", str(config), "-f", "json", "--as-of", "2026-07-01")
    assert code == 0
    early = {r["issue"]: r for r in json.loads(out)}
    late = {r["issue"]: r for r in json.loads(invoke("report", "-c", str(config), "-f", "json")[1])}
    assert early.keys() & late.keys()
    assert any(early[k]["responses"] != late[k]["responses"] for k in early.keys() & late.keys())


def test_explain_lists_the_records_behind_an_issue(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    invoke("run", "-c", str(config), "--as-of", AS_OF)
    rows = json.loads(invoke("report", "-c", str(config), "-f", "json")[1])
    issue = rows[0]["issue"]
    code, out = invoke("report", "-c", str(config), "--explain", issue)
    assert code == 0, out
    assert out.startswith(f"{issue} — ")
    assert "pain = (d + α·p0) / (n + α)" in out
    listed = re.findall(r"^  \S+ \S+ (csat|ticket) ", out, flags=re.M)
    assert listed.count("ticket") == rows[0]["tickets"]
    assert listed.count("csat") >= rows[0]["responses"]
    code, out = invoke("report", "-c", str(config), "--explain", "acme/shop#99999")
    assert code == 2 and "no impact stored" in out


def test_quarantine_lists_file_line_and_reason(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    invoke("run", "-c", str(config), "--as-of", AS_OF)
    code, out = invoke("report", "-c", str(config), "--quarantine")
    assert code == 0
    assert re.search(r"survey-export\W+\S*csat\.csv:\d+\W+score '7' is outside the 1–5 "
                     r"scale\W", out)
    assert "(1-5)" not in out
    assert re.search(r"csat\.csv:\d+\W+submitted_at 'yesterday'", out)
    assert re.search(r"csat\.csv:\d+\W+id is (empty|missing)", out)


def test_check_names_a_misspelt_key(tmp_path: Path) -> None:
    config = example_config(tmp_path, **{"window_days = 90": "windw_days = 90"})
    code, out = invoke("check", "-c", str(config))
    assert code == 2
    assert "impact.windw_days: unknown key" in out


def test_check_refuses_a_literal_secret(tmp_path: Path) -> None:
    config = example_config(tmp_path, **{'default_repo = "acme/shop"':
                                         'default_repo = "acme/shop"\ntoken = "ghp_x"'})
    code, out = invoke("check", "-c", str(config))
    assert code == 2
    assert "'token' would put a secret in the file" in out and "ghp_x" not in out


def test_check_passes_on_the_example(tmp_path: Path) -> None:
    code, out = invoke("check", "-c", str(example_config(tmp_path)))
    assert code == 0, out
    assert "configuration OK" in out


def test_a_failing_source_fails_the_run_but_not_the_others(tmp_path: Path) -> None:
    config = example_config(tmp_path, **{"examples/customers.csv": "examples/nope.csv"})
    code, out = invoke("run", "-c", str(config), "--as-of", AS_OF)
    assert code == 1
    assert "source survey-export: 3600 ingested" in out
    assert "nope.csv" in out


def test_bad_as_of_is_a_usage_error(tmp_path: Path) -> None:
    code, out = invoke("run", "-c", str(example_config(tmp_path)), "--as-of", "last tuesday")
    assert code == 2 and "not an ISO 8601 time" in out


def test_db_upgrade_twice(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    assert "migrations applied" in invoke("db", "upgrade", "-c", str(config))[1]
    assert "already up to date" in invoke("db", "upgrade", "-c", str(config))[1]


def test_missing_config_file_is_exit_2(tmp_path: Path) -> None:
    code, out = invoke("run", "-c", str(tmp_path / "none.toml"))
    assert code == 2 and "no such configuration file" in out


def test_check_names_a_missing_environment_secret(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMPACTLINK_TEST_NOPE_TOKEN", raising=False)
    marker = "# HTTP sources (credentials from the environment). Examples:"
    config = example_config(tmp_path, **{marker: '''
[[sources]]
name = "helpdesk"
type = "intercom"
token_env = "IMPACTLINK_TEST_NOPE_TOKEN"
'''})
    code, out = invoke("check", "-c", str(config))
    assert code == 2
    assert "helpdesk" in out and "IMPACTLINK_TEST_NOPE_TOKEN is not set" in out
