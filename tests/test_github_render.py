"""The managed comment's rendering, redaction and neutralising (pure, no I/O)."""

from __future__ import annotations

import pytest

from fakes.github_builders import impact
from impactlink.core.render import (
    MARKER,
    ZW,
    end_marker,
    neutralize,
    quote_block,
    redact,
    render_comment,
    render_text,
    splice,
)
from impactlink.trackers.base import Write


def test_comment_shows_every_figure_between_the_fences() -> None:
    body = render_comment(impact("acme/shop#1"), (), marker=MARKER)

    assert body.startswith(MARKER + "\n") and body.endswith("\n" + end_marker(MARKER))
    for expected in (
        "**High** — score 12.3",
        "| CSAT | 62.5 % (95 % interval 42.7–78.8 %, n = 24, 9 dissatisfied) |",
        "| Affected customers | 37 (range 25–52; method: usage; 20 observed) |",
        "| ARR at risk | 120,000 |",
        "| Trend | −8 points vs the previous window (70.5 %, n = 30; significant, p = 0.012) |",
        "- `plan` = `enterprise`: CSAT 40 % (n = 10), 6 customers",
        "**Linked by** feature `checkout`, reference `acme/shop#1`",
        "score = reach × pain = 34.86 × 0.3529 = 12.3",
        "with d = 9, n = 24, α = 10.0, p₀ = 0.2",
        "weighted share sum 18.84 × affected 37 / observed 20",
    ):
        assert expected in body


@pytest.mark.parametrize("level", ["none", None])
def test_no_impact_says_no_records_remain(level: str | None) -> None:
    gone = None if level is None else impact("acme/shop#1", level="none", score=0.0)
    body = render_comment(gone, ("a quote",), marker=MARKER)
    assert "No linked customer records remain in the window" in body
    assert "quote" not in body and "CSAT" not in body


def test_rendering_is_deterministic_so_the_fingerprint_holds() -> None:
    def write() -> Write:
        return Write("comment", {"body": render_comment(impact("acme/shop#1"), ("q",))})

    assert write().fingerprint == write().fingerprint
    changed = Write("comment", {"body": render_comment(impact("acme/shop#1", score=1.0), ())})
    assert changed.fingerprint != write().fingerprint


@pytest.mark.parametrize(("text", "expected"), [
    ("mail jo.smith+x@example.co.uk now", "mail [email] now"),
    ("see https://example.com/a?b=1 and www.evil.io/x", "see [link] and [link]"),
    ("card 4111 1111 1111 1111 or 4111-1111-1111-1111", "card [card] or [card]"),
    ("call +44 20 7946 0958 or (555) 123-4567", "call [phone] or [phone]"),
    ("on 2024-01-15, order took 3 days", "on 2024-01-15, order took 3 days"),
    ("https://u:p@host/x", "[link]"),
])
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(("text", "forbidden"), [
    ("hey @octocat and @acme/team", "@o"),
    ("fixes #12", "#1"),
    ("closes acme/shop#12", "#1"),
    ("see GH-12", "GH-"),
    ("[click](https://x)", "]("),
    ("![img](x.png)", "!["),
    ("<img src=x onerror=alert(1)>", "<img"),
    ("</details><script>", "<"),
    ("`code` ```block```", "``"),
    ("http://x.example", "http://"),
    ("www.example.com", "www."),
    ("&#64;octocat", "&#"),
])
def test_neutralize_leaves_nothing_github_acts_on(text: str, forbidden: str) -> None:
    assert forbidden not in neutralize(text)


@pytest.mark.parametrize(("line", "expected"), [
    ("# heading", "\\# heading"),
    ("- item", "\\- item"),
    ("+ item", "\\+ item"),
    ("1. first", "1\\. first"),
    ("= setext", "\\= setext"),
    ("> quote", "&gt; quote"),
])
def test_neutralize_escapes_block_syntax_at_line_start(line: str, expected: str) -> None:
    assert neutralize(line) == expected


def test_neutralize_breaks_mentions_with_a_zero_width_space() -> None:
    assert neutralize("@octocat #3") == f"@{ZW}octocat #{ZW}3"


def test_quote_block_is_one_quoted_line_per_comment() -> None:
    block = quote_block(["first\n> escaped\n\n</details>", "", "x" * 400])
    lines = block.split("\n")
    assert lines[0] == "> first &gt; escaped &lt;/details&gt;"
    assert lines[1] == ">"
    assert lines[2].startswith("> xxx") and lines[2].endswith("…") and len(lines[2]) == 282
    assert len(lines) == 3


def test_splice_rewrites_only_the_fenced_part() -> None:
    old = render_comment(impact("acme/shop#1"), ())
    new = render_comment(None, ())
    assert splice(f"Note from a maintainer\n{old}\nthanks", new) == \
        f"Note from a maintainer\n{new}\nthanks"
    assert splice("no fence here", new) == new


def test_plain_text_comment_has_no_markup_and_redacts_quotes() -> None:
    from impactlink.core.render import render_text

    text = render_text(impact("acme/shop#1"), ["Mail jane@example.com, see https://x.io"],
                       marker="impactlink:customer-impact")
    assert text.startswith("impactlink:customer-impact\nCustomer Impact\n")
    for markup in ("**", "###", "<details>", "|---|", "`", "jane@example.com", "https://"):
        assert markup not in text
    assert "[email]" in text and "[link]" in text and "How the score was made:" in text
    cleared = render_text(None, [], marker="m")
    assert "cleared this issue's Customer Impact" in cleared


def test_arr_is_unknown_in_both_renderings_when_no_observed_customer_has_arr() -> None:
    from dataclasses import replace

    known = impact("acme/shop#1")
    unknown = replace(known, arr_at_risk=0.0, linked_arr=0.0,
                      explanation={**known.explanation, "linked": {"arr_customers": 0}})
    for render in (render_comment, render_text):
        assert "120,000" in render(known, ())
        text = render(unknown, ())
        assert "unknown (no ARR known for these customers)" in text
        assert "ARR 0" not in text
