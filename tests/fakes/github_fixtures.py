"""Fixtures for the GitHub tracker tests: ``pytest_plugins = ["fakes.github_fixtures"]``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.github_server import FakeGithub


@pytest.fixture
def github_fake() -> Iterator[FakeGithub]:
    """A fake github.com on loopback; the test fails if any request broke GitHub's contract."""
    fake = FakeGithub().start()
    try:
        yield fake
    finally:
        fake.stop()
    assert not fake.violations, fake.violations


@pytest.fixture
def ghes_fake() -> Iterator[FakeGithub]:
    """A fake GitHub Enterprise Server: REST under /api/v3, GraphQL at /api/graphql."""
    fake = FakeGithub(prefix="/api/v3").start()
    try:
        yield fake
    finally:
        fake.stop()
    assert not fake.violations, fake.violations
