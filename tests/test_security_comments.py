"""The managed comment is ours alone: adopted only from our own account, fenced, bounded."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fakes import jira_builders
from fakes.github_builders import impact, make_tracker, run_cycle, seed_shop
from fakes.github_server import FakeGithub
from fakes.jira_fixtures import jira_cloud, jira_dc  # noqa: F401  (fixtures)
from fakes.jira_server import FakeJira
from impactlink.core.models import SegmentFigures
from impactlink.core.render import GITHUB_LIMIT, MARKER, end_marker, fence, render_comment, seal
from impactlink.trackers import jira_comments
from impactlink.writeback import MemoryJournal

pytest_plugins = ["fakes.github_fixtures"]

CLOSE = end_marker(MARKER)
FORGED = f"{MARKER}\n### Customer Impact\n\n**Critical** (forged)\n{CLOSE}"


def _posts(fake: FakeGithub) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path.endswith("/comments")]


def test_an_outsiders_comment_with_the_marker_is_left_alone(github_fake: FakeGithub,
                                                            tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    forged = github_fake.add_comment("acme/shop", 1, FORGED, login="mallory")

    summary = run_cycle(make_tracker(github_fake, tmp_path),
                        {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal())

    assert summary.failed == []
    assert github_fake.comments[forged["id"]]["body"] == FORGED
    ours = [c for c in github_fake.comments_of("acme/shop", 1) if c["id"] != forged["id"]]
    assert len(ours) == 1 and ours[0]["user"]["login"] == "impactlink-bot"
    assert "62.5 %" in ours[0]["body"] and len(_posts(github_fake)) == 1
    assert [r.path for r in github_fake.requests].count("/user") == 1


def test_our_own_marked_comment_is_adopted_whatever_the_logins_case(github_fake: FakeGithub,
                                                                    tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    mine = github_fake.add_comment("acme/shop", 1, FORGED, login="ImpactLink-Bot")

    run_cycle(make_tracker(github_fake, tmp_path), {"acme/shop#1": impact("acme/shop#1")},
              MemoryJournal())

    assert len(github_fake.comments_of("acme/shop", 1)) == 1 and not _posts(github_fake)
    assert "62.5 %" in github_fake.comments[mine["id"]]["body"]


def _app(fake: FakeGithub, tmp_path: Path) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    (tmp_path / "app.pem").write_bytes(pem)
    fake.add_app(42, key.public_key(), 7, [3600])
    fake.tokens.clear()
    return {"token_file": None, "app_id": 42, "installation_id": 7,
            "private_key_file": str(tmp_path / "app.pem")}


def test_an_app_adopts_only_what_its_installation_wrote(github_fake: FakeGithub,
                                                        tmp_path: Path) -> None:
    seed_shop(github_fake, issues=2)
    # a person whose login mimics the bot's, and another App, both with the marker
    github_fake.add_comment("acme/shop", 1, FORGED, login="impactlink-app[bot]")
    github_fake.add_comment("acme/shop", 1, FORGED, login="other[bot]", app_id=99)
    ours = github_fake.add_comment("acme/shop", 2, FORGED, login="impactlink-app[bot]",
                                   app_id=42)
    tracker = make_tracker(github_fake, tmp_path, **_app(github_fake, tmp_path))

    summary = run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1"),
                                  "acme/shop#2": impact("acme/shop#2")}, MemoryJournal())

    assert summary.failed == []
    bodies = [c["body"] for c in github_fake.comments_of("acme/shop", 1)]
    assert bodies[:2] == [FORGED, FORGED] and "62.5 %" in bodies[2]
    assert "62.5 %" in github_fake.comments[ours["id"]]["body"]
    assert len(github_fake.comments_of("acme/shop", 2)) == 1
    assert "/user" not in [r.path for r in github_fake.requests]


def test_a_token_that_cannot_say_who_it_is_writes_no_comment(github_fake: FakeGithub,
                                                             tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    github_fake.add_comment("acme/shop", 1, FORGED)
    github_fake.token_apps["ghp_test"] = 99  # an installation token passed as token_file

    summary = run_cycle(make_tracker(github_fake, tmp_path),
                        {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal())

    assert len(summary.failed) == 1 and "GET /user: 403" in summary.failed[0]
    assert not _posts(github_fake)


HOSTILE = (f"x {CLOSE} y", f"{MARKER}", "impactlink:customer-impact", "a\u202eb`c`\n</details>")


def _hostile_impact() -> Any:
    base = impact("acme/shop#1")
    return dataclasses.replace(
        base, features=HOSTILE[:2], references=HOSTILE[2:],
        segments=tuple(SegmentFigures(v, v, 10, 4, 40.0, 6) for v in HOSTILE[:3]))


def test_no_rendered_value_can_close_the_fence_or_forge_a_marker() -> None:
    body = seal(render_comment(_hostile_impact(), list(HOSTILE)), MARKER)

    assert fence(body, MARKER) == (0, len(body))
    assert body.startswith(MARKER + "\n") and body.endswith("\n" + CLOSE)
    assert body.count("impactlink:customer-impact") == 2  # the two fences, nothing else
    assert "\u202e" not in body


def test_text_around_the_fence_survives_a_rewrite_with_hostile_values(
        github_fake: FakeGithub, tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    tracker = make_tracker(github_fake, tmp_path)
    run_cycle(tracker, {"acme/shop#1": _hostile_impact()}, MemoryJournal())
    [comment] = github_fake.comments_of("acme/shop", 1)
    comment["body"] = f"Triage note\r\n{comment['body']}\r\nthanks"  # edited on the web

    run_cycle(make_tracker(github_fake, tmp_path),  # the next cycle's tracker reads it anew
              {"acme/shop#1": impact("acme/shop#1", score=3.0, level="low")}, MemoryJournal())

    body = github_fake.comments_of("acme/shop", 1)[0]["body"]
    assert body.startswith("Triage note\r\n" + MARKER) and body.endswith(CLOSE + "\r\nthanks")
    assert body.count(MARKER) == 1 and body.count(CLOSE) == 1 and "**Low**" in body


@pytest.mark.parametrize(("text", "found"), [
    (f"see {MARKER} inline", False),
    (f"{MARKER}x\nbody", False),
    (f"note\r\n{MARKER}\r\nbody\r\n{CLOSE}\r\nafter", True),
    (f"{MARKER}\nunclosed", True),
])
def test_the_fence_counts_only_alone_on_its_line(text: str, found: bool) -> None:
    assert (fence(text, MARKER) is not None) is found


def test_a_huge_comment_is_shortened_within_githubs_limit_keeping_both_fences() -> None:
    quotes = [f"quote {n} " + "x" * 300 for n in range(400)]
    body = seal(render_comment(impact("acme/shop#1"), quotes), MARKER)

    assert len(body) <= GITHUB_LIMIT
    assert body.startswith(MARKER + "\n") and body.endswith("\n" + CLOSE)
    assert "shortened to fit" in body and fence(body, MARKER) == (0, len(body))


def test_text_around_a_huge_comment_leaves_it_within_the_limit(github_fake: FakeGithub,
                                                              tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    long_note = "n" * 60_000
    github_fake.add_comment("acme/shop", 1, f"{long_note}\n{FORGED}", login="impactlink-bot")

    run_cycle(make_tracker(github_fake, tmp_path), {"acme/shop#1": impact("acme/shop#1")},
              MemoryJournal())

    body = github_fake.comments_of("acme/shop", 1)[0]["body"]
    assert len(body) <= GITHUB_LIMIT and body.startswith(long_note + "\n" + MARKER)
    assert body.endswith(CLOSE)


@pytest.mark.parametrize("flavor", ["cloud", "datacenter"])
def test_jira_adopts_only_its_own_accounts_comment(flavor: str, jira_cloud: FakeJira,  # noqa: F811
                                                   jira_dc: FakeJira, tmp_path: Path) -> None:  # noqa: F811
    fake = jira_cloud if flavor == "cloud" else jira_dc
    jira_builders.seed_shop(fake)
    text = f"{jira_comments.MARKER}\nCustomer Impact\n\nCritical (forged)"
    forged = fake.add_comment("SHOP-1", jira_comments.comment_body(text, adf=flavor == "cloud"))
    ours = fake.add_comment("SHOP-2", jira_comments.comment_body(text, adf=flavor == "cloud"),
                            who="impactlink")
    tracker = jira_builders.make_tracker(fake, tmp_path, comment=True)

    summary = jira_builders.run_cycle(tracker, {"SHOP-1": jira_builders.impact("SHOP-1"),
                                                "SHOP-2": jira_builders.impact("SHOP-2")},
                                      MemoryJournal())

    assert summary.failed == []
    first = fake.issues["SHOP-1"].comments
    assert len(first) == 2 and first[0] == forged and "62.5" in json.dumps(first[1]["body"])
    assert [c["id"] for c in fake.issues["SHOP-2"].comments] == [ours["id"]]
    assert "62.5" in json.dumps(ours["body"])


@pytest.mark.parametrize("adf", [True, False])
def test_a_jira_comment_stays_within_jiras_limit(adf: bool) -> None:
    lines = [jira_comments.MARKER, "Customer Impact", *[f"“{'q' * 270}”"] * 400]
    body = jira_comments.comment_body("\n".join(lines), adf=adf)

    size = len(json.dumps(body, ensure_ascii=False)) if adf else len(body)
    assert size <= jira_comments.JIRA_LIMIT and jira_comments.is_managed(body)
    assert "shortened to fit" in json.dumps(body, ensure_ascii=False)
