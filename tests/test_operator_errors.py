"""An operator's mistake is a clear one-line message and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from impactlink.cli import app

runner = CliRunner()


def minimal_config(tmp_path: Path, tracker: str = "") -> Path:
    """A configuration with one feature, no source, a store in tmp_path and the tracker."""
    tracker = tracker or f'type = "file"\npath = "{tmp_path / "issues.json"}"'
    (tmp_path / "issues.json").write_text("[]", encoding="utf-8")
    config = tmp_path / "impactlink.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n\n'
                      f'[features.checkout]\ntags = ["checkout"]\nlabels = ["area/checkout"]\n\n'
                      f'[tracker]\n{tracker}\n', encoding="utf-8")
    return config


def one_line_error(*args: str) -> str:
    """Run the command line; check exit 2 with one line and no traceback; return the line."""
    result = runner.invoke(app, list(args))
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and len(lines) == 1, result.output
    return lines[0]


def test_a_config_path_that_is_a_directory(tmp_path: Path) -> None:
    line = one_line_error("run", "--config", str(tmp_path))
    assert "is a directory" in line and str(tmp_path) in line


def test_a_config_that_is_not_utf8(tmp_path: Path) -> None:
    config = tmp_path / "latin1.toml"
    config.write_bytes('[store]\nurl = "sqlite:///caf\xe9.db"\n'.encode("latin-1"))
    assert "not UTF-8" in one_line_error("report", "--config", str(config))


def test_output_on_a_directory(tmp_path: Path) -> None:
    config = minimal_config(tmp_path)
    line = one_line_error("report", "-c", str(config), "-f", "csv", "--output", str(tmp_path))
    assert "--output" in line and "is a directory" in line


def test_output_in_a_missing_folder(tmp_path: Path) -> None:
    config = minimal_config(tmp_path)
    line = one_line_error("report", "-c", str(config), "-f", "csv",
                          "--output", str(tmp_path / "no" / "such" / "report.csv"))
    assert "cannot write it" in line and "No such file or directory" in line


@pytest.mark.parametrize("command", ["run", "report"])
@pytest.mark.parametrize(("moment", "says"), [
    ("10000-01-01", "not an ISO 8601 time"),
    ("0001-01-01", "out of range"),
    ("0001-01-01T00:00:00+01:00", "not an ISO 8601 time"),
    ("9999-12-31T23:59:59-01:00", "not an ISO 8601 time"),
    ("9999-12-31", "out of range"),
])
def test_an_as_of_outside_the_calendar(tmp_path: Path, command: str, moment: str,
                                       says: str) -> None:
    config = minimal_config(tmp_path)
    line = one_line_error(command, "-c", str(config), "--as-of", moment)
    assert says in line and moment in line


GITHUB_APP = ('type = "github"\nrepos = ["acme/shop"]\napp_id = 1\ninstallation_id = 2\n'
              'private_key_file = "{key}"')


@pytest.mark.parametrize("key", ["directory", "binary", "empty", "missing", "not-pem"])
@pytest.mark.parametrize("command", ["run", "check"])
def test_an_unreadable_key_file(tmp_path: Path, key: str, command: str) -> None:
    path = tmp_path / "app.pem"
    if key == "directory":
        path.mkdir()
    elif key == "binary":
        path.write_bytes(b"\x30\x82\x04\xa4\x02\x01\x00\x02\x82\x01\x01\x00\xc3\xff")
    elif key == "empty":
        path.write_text("\n")
    elif key == "not-pem":  # text, but no key: today's traceback came from the first request
        path.write_text("-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n"
                        "-----END RSA PRIVATE KEY-----\n")
    config = minimal_config(tmp_path, GITHUB_APP.format(key=path))
    line = one_line_error(command, "-c", str(config))
    assert "private key" in line and str(path) in line
