"""Redaction cannot be sidestepped, and rendered comments carry nothing GitHub or Jira acts on.

Table-driven cases for each kind of data, then hypothesis over both renderers: whatever the
customers wrote and whatever the segment values are, the comment has no active mention,
link, image, HTML, fence, bidi control or unredacted PII.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes.github_builders import impact
from impactlink.core.models import SegmentFigures
from impactlink.core.redact import BIDI, fold, iban_valid, luhn, redact, strip_invisible
from impactlink.core.render import (
    MARKER,
    ZW,
    end_marker,
    fence,
    neutralize,
    render_comment,
    render_text,
    seal,
)

CARD = "4111111111111111"
SEPARATORS = [" ", "\t", "\n", "\xa0", ".", "-", ZW, " - ", "\u2009", "\u2013"]


@pytest.mark.parametrize("sep", SEPARATORS)
def test_a_card_split_by_any_separator_is_redacted(sep: str) -> None:
    split = sep.join(CARD[i:i + 4] for i in range(0, 16, 4))
    assert redact(f"my card {split} expired") == "my card [card] expired"


@pytest.mark.parametrize("number", ["378282246310005", "6011111111111117", "4222222222222",
                                    "6759649826438453", "4000002760003184"])
def test_cards_of_13_to_19_digits_are_redacted(number: str) -> None:
    assert redact(f"card {number}.") == "card [card]."


@pytest.mark.parametrize("text", [
    "order 4111111111111112 failed",  # fails the Luhn check: an order number
    "on 2024-01-15, order took 3 days",
    "release 1.2.3 at 10:00",
    "ticket #4521 in 2019-2021",
    "paid 1,234.56 EUR",
])
def test_what_is_not_personal_data_survives(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("email", [
    "jane.doe+shop@example.co.uk", f"ja{ZW}ne@exa{ZW}mple.com", "jäne@exämple.de",
    "user@пример.рф", "ＪＡＮＥ＠ＥＸＡＭＰＬＥ．ＣＯＭ", "jane@xn--exmple-cua.com",
    "jane (at) example (dot) com", "jane [at] example.com", "jane@example。com",
])
def test_emails_are_redacted_however_written(email: str) -> None:
    assert redact(f"write to {email} please") == "write to [email] please"


@pytest.mark.parametrize("iban", ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432",
                                  "fr14 2004 1010 0505 0001 3m02 606"])
def test_ibans_are_redacted(iban: str) -> None:
    assert redact(f"refund to {iban} thanks") == "refund to [iban] thanks"


def test_a_string_shaped_like_an_iban_that_fails_mod_97_stays() -> None:
    assert not iban_valid("DE89370400440532013001")
    assert "DE89370400440532013001" in redact("ref DE89370400440532013001")


@pytest.mark.parametrize("key", [
    "ghp_" + "a1B2" * 9, "gho_" + "Z9" * 18, "github_pat_11ABCDEFG0123456789_abcdefghijKLMNOP",
    "sk_live_" + "x" * 24, "sk_test_4eC39HqLyjWDarjtT1zdp7dc", "AKIAIOSFODNN7EXAMPLE",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "xoxp-1234-5678-abcdefgh",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
    f"gh{ZW}p_" + "q" * 36,
])
def test_api_keys_are_redacted(key: str) -> None:
    assert redact(f"my key is {key} ok") == "my key is [secret] ok"


@pytest.mark.parametrize("phone", ["+1 415 555 0142", "(415) 555-0142", "+44 20 7946 0958",
                                   "415.555.0142", "+49\xa030\u200b1234567", "555 1234"])
def test_phone_numbers_are_redacted(phone: str) -> None:
    assert redact(f"call {phone}, thanks") == "call [phone], thanks"


def test_two_phone_numbers_side_by_side_are_both_redacted() -> None:
    out = redact("555-123-4567 555-987-6543 call")
    assert not re.search(r"\d{3}", out), out


def test_fold_removes_invisible_characters_and_joins_whitespace() -> None:
    assert fold(f"a{ZW}b\u202ec\u2066d \t\n\xa0 e\u00adf") == "abcd ef"
    assert strip_invisible("a\u200db\ufeffc\u2069") == "abc"


def test_luhn() -> None:
    assert luhn(CARD) and not luhn("4111111111111112")


# -- fuzzing ---------------------------------------------------------------------------------

def _luhn_card(body: str) -> str:
    """Return body (15 digits) with the check digit that makes it pass Luhn."""
    return next(body + d for d in "0123456789" if luhn(body + d))


cards = st.builds(_luhn_card, st.text("0123456789", min_size=15, max_size=15)).flatmap(
    lambda card: st.lists(st.sampled_from([*SEPARATORS, ""]), min_size=3, max_size=3).map(
        lambda seps: (card, card[:4] + seps[0] + card[4:8] + seps[1] + card[8:12] + seps[2]
                      + card[12:])))
emails = st.tuples(st.from_regex(r"[a-z][a-z0-9.]{0,8}[a-z]", fullmatch=True),
                   st.from_regex(r"[a-z]{2,10}\.(com|de|io|co\.uk)", fullmatch=True)).flatmap(
    lambda parts: st.sampled_from(["", ZW, "\u2060"]).map(
        lambda zw: (f"{parts[0]}@{parts[1]}",
                    f"{parts[0][:1]}{zw}{parts[0][1:]}@{zw}{parts[1]}")))
keys = st.sampled_from(["ghp_" + "k" * 36, "github_pat_" + "P1" * 20, "sk_live_" + "s" * 30,
                        "AKIA" + "A1B2C3D4E5F6G7H8", "xoxb-1234567890-abcdefghij",
                        "eyJhbGciOiJI.eyJzdWIiOiIx.c2lnbmF0dXJl"]).map(lambda k: (k, k))
ibans = st.sampled_from(["DE89370400440532013000", "GB82WEST12345698765432"]).map(
    lambda i: (i, " ".join(i[n:n + 4] for n in range(0, len(i), 4))))
phones = st.sampled_from(["+14155550142", "+442079460958"]).map(
    lambda p: (p[1:], f"{p[:2]} {p[2:5]} {p[5:8]} {p[8:]}"))
pii = st.one_of(cards, emails, keys, ibans, phones)
HOSTILE = "@#<>`*_~[]()!|{}\\&/:;.-=+ \t\n\xa0" + ZW + "\u202e\u2066\u200d\ufeff\x1b"
filler = st.text(st.one_of(st.sampled_from(HOSTILE), st.characters(codec="utf-8")),
                 max_size=40)


@st.composite
def quote(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A customer comment: hostile filler with PII between spaces; and the PII as written."""
    parts, secrets = [draw(filler)], []
    for _ in range(draw(st.integers(0, 3))):
        plain, written = draw(pii)
        secrets.append(plain)
        parts += [f" {written} ", draw(filler)]
    return "".join(parts), secrets


def _plain(text: str) -> str:
    """What a reader (or a scraper) sees: no escapes, no zero-width, no whitespace."""
    text = fold(text).replace("\\", "").replace("&amp;", "&").replace("&lt;", "<")
    return re.sub(r"\s", "", text)


def _leaked(rendered: str, secrets: list[str]) -> list[str]:
    plain, digits = _plain(rendered), re.sub(r"\D", "", _plain(rendered))
    return [s for s in secrets if re.sub(r"\s", "", s) in plain
            or (s.isdigit() and s in digits)]


SPECIALS = set("`*_~[]()!|{}")
_OURS = re.compile(rf"@{ZW}|#{ZW}|{ZW}-|{ZW}://|{ZW}\.|i{ZW}mpactlink")


def _inert_markdown(content: str) -> list[str]:
    """Return what GitHub would act on in one neutralised quote line."""
    found = []
    escaped = False
    for ch in content:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in SPECIALS or ch in "<>":
            found.append(f"unescaped {ch!r}")
    checks = {"mention": rf"@(?!{ZW})", "reference": r"#(?=\d)", "autolink": r"\w://",
              "www": r"(?i)\bwww\.", "entity": r"&(?!amp;|lt;|gt;)",
              "block": r"^\s*([#>+\-=*]|\d+[.)])"}
    found += [name for name, pattern in checks.items() if re.search(pattern, content)]
    return found


def _invisible(text: str) -> list[str]:
    left = _OURS.sub("", text)
    return [f"U+{ord(c):04X}" for c in left
            if c in BIDI or c == ZW or unicodedata.category(c) == "Cf"]


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.lists(quote(), min_size=1, max_size=3))
def test_github_comment_from_any_quotes_is_inert_and_redacted(
        quotes: list[tuple[str, list[str]]]) -> None:
    body = seal(render_comment(impact("acme/shop#1"), [q for q, _ in quotes]), MARKER)

    assert fence(body, MARKER) == (0, len(body)) and body.count(end_marker(MARKER)) == 1
    said = body.split("**What customers said** (redacted)", 1)
    lines = [ln[2:] for ln in said[1].splitlines() if ln.startswith("> ")] if len(said) > 1 \
        else []
    for line in lines:
        assert not _inert_markdown(line), (line, _inert_markdown(line))
    assert not _invisible(body), _invisible(body)
    assert not _leaked("\n".join(lines), [s for _, ss in quotes for s in ss])


@FUZZ
@given(st.lists(quote(), min_size=1, max_size=3))
def test_jira_text_from_any_quotes_is_redacted(quotes: list[tuple[str, list[str]]]) -> None:
    text = render_text(impact("SHOP-1"), [q for q, _ in quotes], marker="impactlink:x")

    assert text.startswith("impactlink:x\n") and text.count("impactlink:x") == 1
    assert not [c for c in text if c in BIDI or unicodedata.category(c) == "Cf"]
    said = text.split("What customers said (redacted):", 1)
    assert not _leaked(said[1] if len(said) > 1 else "", [s for _, ss in quotes for s in ss])


names = st.text(st.one_of(st.sampled_from(HOSTILE + "<!-- /impactlink:customer-impact -->"),
                          st.characters(codec="utf-8")), min_size=1, max_size=30)


@FUZZ
@given(st.lists(st.tuples(names, names), min_size=1, max_size=3),
       st.lists(names, min_size=1, max_size=3))
def test_no_segment_value_or_feature_name_can_forge_the_fence(
        segments: list[tuple[str, str]], features: list[str]) -> None:
    hostile = dataclasses.replace(
        impact("acme/shop#1"), features=tuple(features),
        segments=tuple(SegmentFigures(n, v, 10, 4, 40.0, 6) for n, v in segments))
    body = seal(render_comment(hostile, []), MARKER)

    assert fence(body, MARKER) == (0, len(body))
    assert body.count("impactlink:customer-impact") == 2
    assert not [c for c in body if c in BIDI]


@FUZZ
@given(filler)
def test_neutralize_leaves_nothing_active_whatever_the_text(text: str) -> None:
    out = neutralize(" ".join(text.split()))
    assert not _inert_markdown(out), (out, _inert_markdown(out))
    assert not _invisible(out)
