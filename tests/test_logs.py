"""Logs: JSON lines off a terminal, text on one; no token and no customer PII in any line."""

from __future__ import annotations

import base64
import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from impactlink import logs
from impactlink.config import load_settings
from impactlink.logs import JsonFormatter, RedactSecrets, TextFormatter, setup_logging
from impactlink.pipeline import Pipeline
from test_cli import ROOT, example_config
from test_serve import SlowDelighted, with_slow_source

SECRETS = {
    "SLOW_KEY": "dl-key-7f3a9c2e51",
    "GITHUB_TOKEN": "ghp_FAKEfakeFAKE0123456789abcdef",
    "ZENDESK_TOKEN": "zd-FAKE-9c1e22d0b7",
    "PGPASSWORD": "pg-FAKE-pass-31337",
}
PII = ["jane.doe@example.com", "+1 415 555 0142", "charged my card twice, call me back"]


@pytest.fixture(autouse=True)
def no_registered_secrets() -> Iterator[None]:
    logs.forget_secrets()
    yield
    logs.forget_secrets()


def config_with_pii(tmp_path: Path, api: SlowDelighted) -> Path:
    """The example config with a CSV row carrying PII and two live sources on loopback."""
    csat = tmp_path / "csat.csv"
    rows = (ROOT / "examples" / "csat.csv").read_text(encoding="utf-8")
    csat.write_text(rows + f'R-99999,2026-11-01 10:00:00,1,answered,acct-0001,{PII[0]},'
                           f'"{PII[2]} at {PII[1]}",checkout,,,pro,web\n', encoding="utf-8")
    config = with_slow_source(example_config(tmp_path), api)
    text = config.read_text().replace(f'"{ROOT}/examples/csat.csv"', f'"{csat}"')
    refused = (f'\n[[sources]]\nname = "refused-survey"\ntype = "delighted"\n'
               f'base_url = "{api.url}/refused"\napi_key_env = "GITHUB_TOKEN"\n'
               f'max_retries = 0\n')
    config.write_text(text.replace("\n[tracker]", refused + "\n[tracker]", 1))
    return config


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler could print of a record."""
    return JsonFormatter().format(record) + "\n" + TextFormatter().format(record)


def test_a_full_cycle_logs_no_secret_and_no_pii(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    api = SlowDelighted(delay=0, pages=2)
    try:
        config = config_with_pii(tmp_path, api)
        for name in ("", "httpx", "httpcore", "alembic", "impactlink"):
            caplog.set_level(logging.DEBUG, logger=name)  # earlier CLI tests quieted some
        result = Pipeline(load_settings(config)).run(datetime(2026, 11, 21, tzinfo=UTC))
    finally:
        api.close()
    assert result.sources["slow-survey"].ingested > 100  # the key was read and sent
    assert result.sources["refused-survey"].error  # and a refusal was logged
    assert result.sources["survey-export"].ingested == 3601
    captured = "\n".join(record_text(r) for r in caplog.records)
    assert "step ingest done" in captured and "source refused-survey failed" in captured
    assert any(r.name.startswith("httpcore") for r in caplog.records), "DEBUG was not captured"
    forbidden = [*SECRETS.values(), *PII,
                 base64.b64encode(f"{SECRETS['SLOW_KEY']}:".encode()).decode()]
    assert [value for value in forbidden if value in captured] == []


def test_values_read_through_read_secret_are_masked_everywhere(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from impactlink.config import read_secret

    monkeypatch.setenv("TOKEN_VAR", "s3cr3t-token-value")
    assert read_secret("tracker", "TOKEN_VAR", None, Path("."))
    record = logging.makeLogRecord({
        "msg": "calling with %s", "args": ("s3cr3t-token-value",), "levelno": logging.ERROR,
        "levelname": "ERROR", "header": "Bearer s3cr3t-token-value",
        "nested": {"auth": ["s3cr3t-token-value"]}})
    try:
        raise RuntimeError("refused s3cr3t-token-value")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    assert RedactSecrets().filter(record)
    line = JsonFormatter().format(record)
    assert "s3cr3t-token-value" not in line + TextFormatter().format(record)
    data = json.loads(line)
    assert data["message"] == "calling with [redacted]"
    assert data["header"] == "Bearer [redacted]"
    assert "RuntimeError: refused [redacted]" in data["error"]


def test_a_secret_file_is_registered_too(tmp_path: Path) -> None:
    from impactlink.config import read_secret

    (tmp_path / "token").write_text("file-held-secret-42\n")
    read_secret("tracker", None, Path("token"), tmp_path)
    assert logs.redact("x file-held-secret-42 y") == "x [redacted] y"


def test_short_values_are_not_registered() -> None:
    logs.register_secret("abc")
    assert logs.redact("abc") == "abc"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("stream", "json_lines"), [(io.StringIO, True), (Terminal, False)])
def test_json_lines_off_a_terminal_and_text_on_one(monkeypatch: pytest.MonkeyPatch,
                                                   stream: type[io.StringIO],
                                                   json_lines: bool) -> None:
    out = stream()
    monkeypatch.setattr("sys.stderr", out)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging(logging.INFO)
        logs.register_secret("tok-123456789")
        logging.getLogger("impactlink.test").info("step %s done", "ingest",
                                                  extra={"records": 3, "auth": "tok-123456789"})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    line = out.getvalue().strip()
    assert "tok-123456789" not in line
    if json_lines:
        data = json.loads(line)
        assert data["message"] == "step ingest done" and data["records"] == 3
        assert data["level"] == "info" and data["logger"] == "impactlink.test"
    else:
        assert line.endswith("info    step ingest done  records=3 auth=[redacted]")
