"""The whole cycle against a fake GitHub: example data in, a label and one comment per issue out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fakes.github_server import FakeGithub
from impactlink.cli import app
from impactlink.core.render import MARKER
from test_cli import AS_OF, ROOT, example_config

pytest_plugins = ["fakes.github_fixtures"]
runner = CliRunner()


def github_config(tmp_path: Path, fake: FakeGithub) -> Path:
    """The example configuration with its file tracker swapped for the fake GitHub."""
    path = example_config(tmp_path)
    text = path.read_text(encoding="utf-8")
    tracker = f'''[tracker]
type = "github"
repos = ["acme/shop"]
api_url = "{fake.base_url}"
token_env = "IMPACTLINK_TEST_GITHUB_TOKEN"
quotes = true
allow_quotes_on_public_repos = true
seconds_between_writes = 0
seconds_between_requests = 0

'''
    text = re.sub(r"(?ms)^\[tracker\]\n.*?(?=^\[schedule\])", lambda _: tracker, text)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def shop(github_fake: FakeGithub, monkeypatch: pytest.MonkeyPatch) -> FakeGithub:
    """The fake holds acme/shop with the bundled example's issues and labels."""
    monkeypatch.setenv("IMPACTLINK_TEST_GITHUB_TOKEN", "ghp_test")
    github_fake.add_repo("acme/shop")
    for item in json.loads((ROOT / "examples/issues.json").read_text()):
        github_fake.add_issue("acme/shop", item["number"], title=item["title"],
                              labels=tuple(lb["name"] for lb in item["labels"]),
                              state=item["state"].lower())
    return github_fake


def run(config: Path, *extra: str) -> str:
    result = runner.invoke(app, ["run", "-c", str(config), "--as-of", AS_OF, *extra])
    assert result.exit_code == 0, result.output
    return result.output


def report(config: Path) -> list[dict[str, object]]:
    out = runner.invoke(app, ["report", "-c", str(config), "-f", "json"]).output
    return json.loads(out)  # type: ignore[no-any-return]


def test_first_run_labels_and_comments_then_a_rerun_writes_nothing(
        tmp_path: Path, shop: FakeGithub) -> None:
    config = github_config(tmp_path, shop)
    run(config)
    rows = [r for r in report(config) if float(str(r["score"])) > 0]
    assert len(rows) >= 30
    for row in rows:
        number = int(str(row["issue"]).split("#")[1])
        labels = shop.labels_of("acme/shop", number)
        assert f"impact: {row['level']}" in labels
        comments = shop.comments_of("acme/shop", number)
        assert len(comments) == 1 and MARKER in comments[0]["body"]
        if row["csat"] is not None:
            assert f"| CSAT | {float(str(row['csat'])):g} % (" in comments[0]["body"]
    bodies = " ".join(c["body"] for c in shop.comments.values())
    # Quotes are shown redacted: the example's comments with links never reach GitHub raw.
    assert "**What customers said** (redacted)" in bodies and "https://example.com" not in bodies
    assert "@support" not in bodies and "jane.doe@example.com" not in bodies
    shop.reset_log()
    out = run(config)
    assert shop.writes() == []
    assert "writes: 0 written" in out


def test_one_new_record_changes_exactly_one_issue(tmp_path: Path, shop: FakeGithub) -> None:
    config = github_config(tmp_path, shop)
    tickets = tmp_path / "tickets.jsonl"
    tickets.write_text((ROOT / "examples/tickets.jsonl").read_text())
    text = config.read_text().replace(f'"{ROOT}/examples/tickets.jsonl"', f'"{tickets}"')
    config.write_text(text)
    run(config)
    shop.reset_log()
    with tickets.open("a") as f:  # an existing customer names issue 245 explicitly
        f.write(json.dumps({"id": "T-NEW", "created_at": "2026-11-20T10:00:00Z",
                            "customer_id": "acct-0001", "status": "open",
                            "subject": "Still slow, see acme/shop#245", "tags": []}) + "\n")
    run(config)
    assert shop.writes()
    assert {issue_of(shop, w.path) for w in shop.writes()} == {245}


def issue_of(fake: FakeGithub, path: str) -> int:
    """Return the issue number a write request touched (comment edits name the comment)."""
    if m := re.search(r"/issues/comments/(\d+)", path):
        comment = int(m.group(1))
        repo = fake.repos["acme/shop"]
        return next(n for n, issue in repo.issues.items() if comment in issue["comments"])
    m = re.search(r"/issues/(\d+)/", path)
    assert m, path
    return int(m.group(1))


def test_dry_run_lists_the_requests_and_sends_none(tmp_path: Path, shop: FakeGithub) -> None:
    config = github_config(tmp_path, shop)
    out = run(config, "--dry-run")
    assert shop.writes() == []
    assert "Requests a real run would send" in out
    assert re.search(r"POST /repos/acme/shop/issues/\d+/comments", out)
    assert re.search(r"POST /repos/acme/shop/issues/\d+/labels", out)
