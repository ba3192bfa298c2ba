"""A credential inside a URL is refused like a literal token, and never echoed back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from impactlink.cli import app
from impactlink.config import parse_settings
from impactlink.errors import ConfigError

SECRET = "Sup3rS3cretValue"
FILE_TRACKER = {"type": "file", "path": "issues.json"}
GITHUB = {"type": "github", "repos": ["acme/shop"], "token_env": "GITHUB_TOKEN"}
JIRA = {"type": "jira", "projects": ["SHOP"], "token_env": "JIRA_TOKEN"}
ZENDESK = {"name": "zd", "type": "zendesk", "token_env": "ZD_TOKEN", "email_env": "ZD_EMAIL"}


def _problems(data: dict[str, Any], tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, tmp_path)
    return caught.value.problems


@pytest.mark.parametrize(("data", "where"), [
    ({"store": {"url": f"postgresql+psycopg://impactlink:{SECRET}@db/impact"},
      "tracker": FILE_TRACKER}, "store.url"),
    ({"store": {"url": f"postgresql+psycopg://impactlink@db/impact?password={SECRET}"},
      "tracker": FILE_TRACKER}, "store.url"),
    ({"tracker": {**GITHUB, "api_url": f"https://{SECRET}@ghe.acme.test/api/v3"}},
     "tracker.api_url"),
    ({"tracker": {**GITHUB, "api_url": f"https://x:{SECRET}@ghe.acme.test/api/v3"}},
     "tracker.api_url"),
    ({"tracker": {**GITHUB, "api_url": f"https://ghe.acme.test/api/v3?access_token={SECRET}"}},
     "tracker.api_url"),
    ({"tracker": {**JIRA, "url": f"https://acme.atlassian.net/?token={SECRET}"}},
     "tracker.url"),
    ({"tracker": {**JIRA, "url": f"https://bot:{SECRET}@jira.acme.test"}}, "tracker.url"),
    ({"sources": [{**ZENDESK, "base_url": f"https://acme.zendesk.com/?api_key={SECRET}"}],
      "tracker": FILE_TRACKER}, "sources[0]"),
])
def test_a_credential_in_a_url_is_refused_without_echoing_it(data: dict[str, Any], where: str,
                                                             tmp_path: Path) -> None:
    problems = _problems(data, tmp_path)
    assert len(problems) == 1 and problems[0].startswith(where), problems
    assert "carries a credential" in problems[0] and SECRET not in problems[0]


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://impactlink@db/impact",
    "postgresql+psycopg://impactlink@db/impact?sslmode=require&sslkey=/run/k&passfile=/run/p",
    "sqlite:///impactlink.db",
])
def test_a_url_without_credentials_is_accepted(url: str, tmp_path: Path) -> None:
    assert parse_settings({"store": {"url": url}, "tracker": FILE_TRACKER}, tmp_path).store.url \
        == url


def test_a_literal_store_password_is_refused(tmp_path: Path) -> None:
    problems = _problems({"store": {"url": "postgresql+psycopg://u@db/x", "password": SECRET},
                          "tracker": FILE_TRACKER}, tmp_path)
    assert "password_env" in problems[0] and SECRET not in " ".join(problems)


def test_a_store_password_for_sqlite_is_refused(tmp_path: Path) -> None:
    problems = _problems({"store": {"url": "sqlite:///x.db", "password_env": "PGPASSWORD"},
                          "tracker": FILE_TRACKER}, tmp_path)
    assert "PostgreSQL only" in problems[0]


def test_check_refuses_a_credential_in_the_store_url_without_echoing_it(tmp_path: Path) -> None:
    config = tmp_path / "impactlink.toml"
    config.write_text(f'[store]\nurl = "postgresql+psycopg://u:{SECRET}@db/x"\n\n'
                      f'[tracker]\ntype = "file"\npath = "issues.json"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "-c", str(config)])
    assert result.exit_code == 2 and "store.url" in result.output
    assert SECRET not in result.output
