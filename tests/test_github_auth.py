"""GitHub Enterprise Server URLs and GitHub App authentication against the fake GitHub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fakes.github_builders import impact, make_tracker, run_cycle, seed_shop
from fakes.github_server import FakeGithub
from impactlink.errors import ConfigError, TrackerAuthError
from impactlink.writeback import MemoryJournal

pytest_plugins = ["fakes.github_fixtures"]

FIELDS = {"Customer Impact": "NUMBER", "CSAT": "NUMBER", "Affected Customers": "NUMBER"}


def _app(fake: FakeGithub, tmp_path: Path, lifetimes: list[float]) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    (tmp_path / "app.pem").write_bytes(pem)
    fake.add_app(42, key.public_key(), 7, lifetimes)
    fake.tokens.clear()  # only installation tokens are accepted
    return {"token_file": None, "app_id": 42, "installation_id": 7,
            "private_key_file": str(tmp_path / "app.pem")}


def test_enterprise_server_paths(ghes_fake: FakeGithub, tmp_path: Path) -> None:
    seed_shop(ghes_fake, issues=1)
    project = ghes_fake.add_project("acme", 3, fields=FIELDS)
    tracker = make_tracker(ghes_fake, tmp_path, project={"owner": "acme", "number": 3})
    assert tracker.client.graphql_url.endswith("/api/graphql")

    summary = run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal())

    assert summary.written == 3 and not summary.failed
    assert project.values_of("I_acme/shop#1") == {
        "Customer Impact": 12.3, "CSAT": 62.5, "Affected Customers": 37.0}
    assert {r.graphql for r in ghes_fake.requests} == {True, False}


def test_app_exchanges_a_jwt_and_refreshes_the_expiring_token(github_fake: FakeGithub,
                                                              tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    # the first token expires within PyGithub's 20 s refresh margin, the second lasts an hour
    settings = _app(github_fake, tmp_path, lifetimes=[10, 3600])
    tracker = make_tracker(github_fake, tmp_path, **settings)

    summary = run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal())

    assert summary.written == 2 and not summary.failed
    exchanges = [r for r in github_fake.requests if r.path == "/app/installations/7/access_tokens"]
    assert len(exchanges) == 2
    assert all(r.headers["authorization"].startswith("Bearer ") for r in exchanges)
    used = [r.headers["authorization"] for r in github_fake.requests
            if not r.path.startswith("/app")]
    first, second = github_fake.issued_tokens
    assert used[0] == f"token {first}"
    assert set(used[1:]) == {f"token {second}"}


def test_app_with_a_wrong_key_is_an_auth_error(github_fake: FakeGithub, tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    settings = _app(github_fake, tmp_path, lifetimes=[3600])
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    github_fake.app_keys[42] = other.public_key()
    tracker = make_tracker(github_fake, tmp_path, **settings)

    with pytest.raises(TrackerAuthError, match="GitHub App authentication failed"):
        tracker.fetch_issues(())
    assert "GitHub App authentication failed" in tracker.check()[0]


def test_app_without_installation_id_is_a_config_error(github_fake: FakeGithub,
                                                       tmp_path: Path) -> None:
    settings = _app(github_fake, tmp_path, lifetimes=[3600])
    settings["installation_id"] = None
    with pytest.raises(ConfigError, match="installation_id"):
        make_tracker(github_fake, tmp_path, **settings)
