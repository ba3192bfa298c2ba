"""The fake GitHub itself: it refuses what GitHub's descriptions refuse, so tests can trust it."""

from __future__ import annotations

import json

import pytest

from fakes.github_server import FakeGithub


@pytest.fixture
def fake() -> FakeGithub:
    fake = FakeGithub()
    fake.add_repo("acme/shop")
    fake.add_issue("acme/shop", 1)
    return fake


def _send(fake: FakeGithub, method: str, target: str, body: object = None) -> int:
    raw = json.dumps(body).encode() if body is not None else b""
    headers = {"Authorization": "token ghp_test", "Content-Type": "application/json"}
    return fake.handle(method, target, headers, raw)[0]


@pytest.mark.parametrize(("method", "target", "body"), [
    ("POST", "/repos/acme/shop/issues/1/labels", {"labels": 5}),
    ("POST", "/repos/acme/shop/labels", {"color": "ffffff"}),
    ("POST", "/repos/acme/shop/issues/1/comments", {"text": "hi"}),
    ("GET", "/repos/acme/shop/issues?state=opened", None),
    ("GET", "/repos/acme/shop/issues?per_page=lots", None),
    ("PUT", "/repos/acme/shop/issues/comments/1", {"body": "x"}),
    ("GET", "/repos/acme/shop/pulls", None),
])
def test_requests_github_would_reject_are_violations(fake: FakeGithub, method: str,
                                                     target: str, body: object) -> None:
    assert _send(fake, method, target, body) == 422
    assert len(fake.violations) == 1


@pytest.mark.parametrize("query", [
    "query { organization(login: \"acme\") { projectV2(number: 1) { nosuchfield } } }",
    "mutation { updateProjectV2ItemFieldValue(input: {projectId: \"P\", itemId: \"I\", "
    "fieldId: \"F\", value: {number: \"high\"}}) { projectV2Item { id } } }",
    "query { viewer { login ",
])
def test_graphql_documents_github_would_reject_are_violations(fake: FakeGithub,
                                                              query: str) -> None:
    assert _send(fake, "POST", "/graphql", {"query": query}) == 200
    assert fake.violations


def test_valid_requests_pass(fake: FakeGithub) -> None:
    assert _send(fake, "POST", "/repos/acme/shop/issues/1/labels", {"labels": ["bug"]}) == 200
    assert _send(fake, "GET", "/repos/acme/shop/issues?labels=bug&state=open&per_page=100") == 200
    assert fake.violations == []
