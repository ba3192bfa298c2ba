"""The GitHub tracker's label and comment path, against the fake GitHub on loopback."""

from __future__ import annotations

from pathlib import Path

from fakes.github_builders import impact, make_tracker, run_cycle, seed_shop
from fakes.github_server import FakeGithub
from impactlink.core.render import MARKER
from impactlink.writeback import MemoryJournal

pytest_plugins = ["fakes.github_fixtures"]

KEYS = ("acme/shop#1", "acme/shop#2", "acme/shop#3")


def test_fetch_lists_open_labelled_issues_without_pull_requests(github_fake: FakeGithub,
                                                               tmp_path: Path) -> None:
    seed_shop(github_fake)
    github_fake.add_issue("acme/shop", 9, labels=("area/checkout",), state="closed")
    github_fake.add_issue("acme/shop", 10, labels=("docs",))
    tracker = make_tracker(github_fake, tmp_path)

    issues = tracker.fetch_issues(["acme/shop#10", "#5", "other/repo#1", "SHOP-1"])

    assert [i.key for i in issues] == ["acme/shop#1", "acme/shop#10", "acme/shop#2",
                                       "acme/shop#3", "acme/shop#5"]
    first = issues[0]
    assert first.labels == ("area/checkout", "bug")
    assert first.url == "https://github.com/acme/shop/issues/1"
    assert first.state == "open"
    lists = [r for r in github_fake.requests if r.path == "/repos/acme/shop/issues"]
    assert [(r.query["labels"], r.query["state"], r.query["per_page"]) for r in lists] == [
        ("area/checkout", "open", "100"), ("area/search", "open", "100")]


def test_issue_body_reaches_the_issue_and_a_changed_body_changes_it(github_fake: FakeGithub,
                                                                   tmp_path: Path) -> None:
    seed_shop(github_fake)
    body = "Paying with **Apple Pay** on iOS 17 fails.\r\n\r\nSteps: add to cart, pay."
    github_fake.issue("acme/shop", 1)["body"] = body
    github_fake.add_issue("acme/shop", 12, labels=("docs",), body="Referenced, not labelled")
    tracker = make_tracker(github_fake, tmp_path)

    issues = {i.key: i for i in tracker.fetch_issues(["#12"])}

    assert issues["acme/shop#1"].body == body
    assert issues["acme/shop#2"].body == ""  # GitHub gives null for an empty body
    assert issues["acme/shop#12"].body == "Referenced, not labelled"
    github_fake.issue("acme/shop", 1)["body"] = "Fixed for iOS; Android still fails."
    again = {i.key: i for i in tracker.fetch_issues(["#12"])}
    assert again["acme/shop#1"].body == "Fixed for iOS; Android still fails."
    assert again["acme/shop#1"] != issues["acme/shop#1"]
    assert again["acme/shop#2"] == issues["acme/shop#2"]


def test_first_run_writes_label_and_one_comment(github_fake: FakeGithub, tmp_path: Path) -> None:
    seed_shop(github_fake)
    tracker = make_tracker(github_fake, tmp_path)

    summary = run_cycle(tracker, {k: impact(k) for k in KEYS}, MemoryJournal())

    assert summary.written == 6 and not summary.failed
    for n in (1, 2, 3):
        assert github_fake.labels_of("acme/shop", n) == ["area/checkout", "bug", "impact: high"]
        comments = github_fake.comments_of("acme/shop", n)
        assert len(comments) == 1 and comments[0]["body"].startswith(MARKER)
        assert "62.5 %" in comments[0]["body"]
    assert github_fake.repos["acme/shop"].labels["impact: high"]["color"] == "d93f0b"
    assert github_fake.labels_of("acme/shop", 5) == ["docs"]
    # the listing said the issues had no comment: nothing to look for before creating
    assert not [r for r in github_fake.reads() if r.path.endswith("/comments")]


def test_second_run_sends_no_write(github_fake: FakeGithub, tmp_path: Path) -> None:
    seed_shop(github_fake)
    tracker = make_tracker(github_fake, tmp_path)
    journal = MemoryJournal()
    impacts = {k: impact(k) for k in KEYS}
    run_cycle(tracker, impacts, journal)
    github_fake.reset_log()

    summary = run_cycle(tracker, impacts, journal)

    assert summary.written == 0 and summary.skipped == 6
    assert github_fake.writes() == []
    # our labels changed the checkout listing; the search listing is served from its ETag
    assert [r.status for r in github_fake.requests] == [200, 304]
    github_fake.reset_log()
    run_cycle(tracker, impacts, journal)
    assert [r.status for r in github_fake.requests] == [304, 304]


def test_one_changed_impact_changes_exactly_one_issue(github_fake: FakeGithub,
                                                     tmp_path: Path) -> None:
    seed_shop(github_fake)
    tracker = make_tracker(github_fake, tmp_path)
    journal = MemoryJournal()
    impacts = {k: impact(k) for k in KEYS}
    run_cycle(tracker, impacts, journal)
    github_fake.reset_log()

    impacts["acme/shop#2"] = impact("acme/shop#2", level="critical", score=40.0)
    summary = run_cycle(tracker, impacts, journal)

    assert summary.written == 2
    writes = [(r.method, r.path) for r in github_fake.writes()]
    comment_id = github_fake.comments_of("acme/shop", 2)[0]["id"]
    assert writes == [
        ("POST", "/repos/acme/shop/labels"),
        ("POST", "/repos/acme/shop/issues/2/labels"),
        ("DELETE", "/repos/acme/shop/issues/2/labels/impact%3A%20high"),
        ("PATCH", f"/repos/acme/shop/issues/comments/{comment_id}"),
    ]
    assert github_fake.labels_of("acme/shop", 2) == ["area/checkout", "bug", "impact: critical"]
    assert len(github_fake.comments_of("acme/shop", 2)) == 1
    assert "score 40" in github_fake.comments_of("acme/shop", 2)[0]["body"]


def test_502_after_a_comment_post_that_landed_leaves_one_comment(github_fake: FakeGithub,
                                                                tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    github_fake.inject("POST", r"/issues/1/comments$", 502, {"message": "Bad Gateway"},
                       after=True)
    tracker = make_tracker(github_fake, tmp_path)
    journal = MemoryJournal()

    summary = run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1")}, journal)
    run_cycle(make_tracker(github_fake, tmp_path), {"acme/shop#1": impact("acme/shop#1")},
              MemoryJournal())  # a fresh process that lost its journal

    assert summary.written == 2 and not summary.failed
    assert len(github_fake.comments_of("acme/shop", 1)) == 1
    posts = [r for r in github_fake.requests if r.method == "POST" and r.path.endswith("comments")]
    assert len(posts) == 1


def test_comment_found_by_marker_is_edited_not_duplicated(github_fake: FakeGithub,
                                                         tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    run_cycle(make_tracker(github_fake, tmp_path), {"acme/shop#1": impact("acme/shop#1")},
              MemoryJournal())
    github_fake.reset_log()

    fresh = make_tracker(github_fake, tmp_path)
    run_cycle(fresh, {"acme/shop#1": impact("acme/shop#1", score=3.0, level="low")},
              MemoryJournal())

    comments = github_fake.comments_of("acme/shop", 1)
    assert len(comments) == 1 and "score 3" in comments[0]["body"]
    assert [r.method for r in github_fake.writes() if "comments" in r.path] == ["PATCH"]


def test_dry_run_sends_no_write_and_lists_requests(github_fake: FakeGithub,
                                                   tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1)
    github_fake.add_label("acme/shop", "impact: low")
    github_fake.issue("acme/shop", 1)["labels"].append(
        github_fake.repos["acme/shop"].labels["impact: low"])
    tracker = make_tracker(github_fake, tmp_path,
                           project={"owner": "acme", "number": 3})

    summary = run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal(),
                        dry_run=True)

    assert github_fake.writes() == []
    planned = {w.target: w for _, w in summary.planned}
    assert planned["label"].requests == (
        "POST /repos/acme/shop/labels {'name': 'impact: high', 'color': 'd93f0b'} "
        "(the repository lacks it)",
        "POST /repos/acme/shop/issues/1/labels {'labels': ['impact: high']}",
        "DELETE /repos/acme/shop/issues/1/labels/impact%3A%20low",
    )
    assert planned["comment"].requests == ("POST /repos/acme/shop/issues/1/comments (create)",)
    assert "Affected Customers = 37.0, CSAT = 62.5, Customer Impact = 12.3" in \
        planned["project"].requests[-1]


def test_lost_impact_removes_label_and_rewrites_comment(github_fake: FakeGithub,
                                                        tmp_path: Path) -> None:
    seed_shop(github_fake, issues=2)
    tracker = make_tracker(github_fake, tmp_path)
    journal = MemoryJournal()
    run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1")}, journal)

    summary = run_cycle(tracker, {"acme/shop#1": None, "acme/shop#2": None}, journal)

    assert not summary.failed
    assert github_fake.labels_of("acme/shop", 1) == ["area/checkout", "bug"]
    body = github_fake.comments_of("acme/shop", 1)[0]["body"]
    assert "No linked customer records remain in the window" in body
    assert "62.5" not in body
    assert github_fake.comments_of("acme/shop", 2) == []  # nothing of ours to clear


def test_quotes_are_redacted_and_neutralised(github_fake: FakeGithub, tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1, private=True)
    tracker = make_tracker(github_fake, tmp_path, quotes=True)
    quotes = ("@octocat fixes #12 see https://evil.example/x ![i](http://e/x.png) "
              "mail jo@example.com <img src=x> acme/shop#1 [click](javascript:x)",
              "call +1 (555) 123-4567\n> </details> card 4111 1111 1111 1111")

    run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal(), quotes=quotes)

    body = github_fake.comments_of("acme/shop", 1)[0]["body"]
    quoted = body.split("**What customers said** (redacted)")[1]
    for leaked in ("@octocat", "#12", "#1 ", "https://", "http://", "jo@example.com", "<img",
                   "](", "![", "555", "4111", "</details>"):
        assert leaked not in quoted, leaked
    assert r"\[email\]" in quoted and r"\[phone\]" in quoted and r"\[card\]" in quoted


def test_quotes_refused_on_a_public_repository(github_fake: FakeGithub, tmp_path: Path) -> None:
    seed_shop(github_fake, issues=1, private=False)
    tracker = make_tracker(github_fake, tmp_path, quotes=True)

    run_cycle(tracker, {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal(),
              quotes=("the checkout page hangs",))

    assert "hangs" not in github_fake.comments_of("acme/shop", 1)[0]["body"]
    allowed = make_tracker(github_fake, tmp_path, quotes=True, allow_quotes_on_public_repos=True)
    run_cycle(allowed, {"acme/shop#1": impact("acme/shop#1")}, MemoryJournal(),
              quotes=("the checkout page hangs",))
    assert "hangs" in github_fake.comments_of("acme/shop", 1)[0]["body"]


def test_check_reports_each_problem_with_its_fix(github_fake: FakeGithub, tmp_path: Path) -> None:
    github_fake.add_repo("acme/shop", permissions={"pull": True, "push": False,
                                                   "triage": False, "admin": False,
                                                   "maintain": False})
    tracker = make_tracker(github_fake, tmp_path, repos=["acme/shop", "acme/gone"],
                           project={"owner": "acme", "number": 7})

    problems = tracker.check()

    assert any(p.startswith("acme/shop: the credentials cannot label") for p in problems)
    assert any("acme/shop: labels 'impact: critical'" in p and "create them" in p
               for p in problems)
    assert any(p.startswith("acme/gone: repository not found") for p in problems)
    assert any(p.startswith("acme project 7 not found") for p in problems)


def test_check_is_clean_when_all_is_in_place(github_fake: FakeGithub, tmp_path: Path) -> None:
    seed_shop(github_fake)
    github_fake.add_project("acme", 3, fields={"Customer Impact": "NUMBER", "CSAT": "NUMBER",
                                               "Affected Customers": "NUMBER"})
    tracker = make_tracker(github_fake, tmp_path, project={"owner": "acme", "number": 3})

    assert tracker.check() == []


def test_check_names_a_bad_token(github_fake: FakeGithub, tmp_path: Path) -> None:
    seed_shop(github_fake)
    github_fake.tokens.clear()
    problems = make_tracker(github_fake, tmp_path).check()
    assert len(problems) == 1 and "401" in problems[0] and "token" in problems[0]
