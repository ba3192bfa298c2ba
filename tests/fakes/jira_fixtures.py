"""Fixtures for the Jira tracker tests: ``from fakes.jira_fixtures import ...`` in a test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.jira_server import FakeJira


def _serve(flavor: str) -> Iterator[FakeJira]:
    fake = FakeJira(flavor).start()
    try:
        yield fake
    finally:
        fake.stop()
    assert not fake.violations, fake.violations


@pytest.fixture
def jira_cloud() -> Iterator[FakeJira]:
    """A fake Jira Cloud on loopback; the test fails if a request broke Atlassian's contract."""
    yield from _serve("cloud")


@pytest.fixture
def jira_dc() -> Iterator[FakeJira]:
    """A fake Jira Data Center (REST v2, Bearer personal access tokens) on loopback."""
    yield from _serve("datacenter")
