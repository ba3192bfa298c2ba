"""Redaction of customer text, and the characters that must never reach a reader (pure).

Text is folded before anything is looked for: format characters (zero-width, bidi
controls, soft hyphens) are removed, compatibility forms are unified (NFKC: full-width
digits and letters become ASCII) and every run of whitespace (tab, newline, NBSP) becomes
one space. So a card number split by zero-width spaces, an e-mail written in full-width
letters or an IBAN broken over lines is seen as it reads.

Cards are Luhn-checked (13–19 digits) and IBANs mod-97-checked, so order numbers and dates
survive; phone numbers are recognised by shape (7–15 digits), erring toward redaction.
No library is used: a phone-number parser needs the caller's region and so misses
national numbers, which costs recall where a redactor needs it most; the checks here are
short and have tests of their own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from itertools import pairwise

_INVISIBLE_EXTRA = frozenset("\u034f\u115f\u1160\u3164\uffa0")
"""Invisible characters outside category Cf (combining grapheme joiner, Hangul fillers)."""
BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""The bidirectional controls (Trojan Source): they reorder what a reader sees."""

# ESC sequences (CSI, OSC and the other string controls, two-character escapes), then the
# C0 controls but tab and newline, DEL and the C1 controls (which 8-bit terminals obey).
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_].*?(?:\x07|\x1b\\|\x9c|$)"
    r"|\x1b[ -/]*[0-~]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]", re.DOTALL)

_PRIVATE_KEY = r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
_KEYS = (
    r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
    r"(?<![A-Za-z0-9])(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}",
    r"(?<![A-Za-z0-9])whsec_[A-Za-z0-9]{16,}",
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)"
    r"[A-Z0-9]{16}(?![A-Za-z0-9])",
    r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{8,}",
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}",
    r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{30,}",
    r"(?<![A-Za-z0-9])glpat-[A-Za-z0-9_-]{20,}",
    r"(?<![A-Za-z0-9])sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",
    r"(?<![A-Za-z0-9])(?i:bearer) [A-Za-z0-9._~+/-]{16,}=*",
    r"(?<![A-Za-z0-9])(?i:password|passwd|pwd) ?[:=] ?\S+",
)
_SECRET = re.compile("|".join([_PRIVATE_KEY, *_KEYS]), re.DOTALL)
_URL = re.compile(r"(?i)\b(?:https?|ftp)://[^\s<>\"')\]]+|\bwww\.[^\s<>\"')\]]+")
_AT = r"(?: ?@ ?| ?[\[({]at[\])}] ?)"
_DOT = r"(?:[.\u3002]| ?[\[({]dot[\])}] ?)"
_EMAIL = re.compile(
    rf"(?i)[\w.%+\-']+{_AT}[\w\-]+(?:{_DOT}[\w\-]+)*{_DOT}(?:xn--[a-z0-9\-]+|[^\W\d_]{{2,}})\b")
_IBAN = re.compile(r"(?i)(?<![a-z0-9])[a-z]{2}\d{2}(?: ?[a-z0-9]){11,30}(?![a-z0-9])")
_DIGIT_RUN = re.compile(r"(?<!\d)\d+(?:[ .\-/_\u2010-\u2015\u2212]{1,3}\d+)*(?!\d)")
_GROUP = re.compile(r"\d+")
_TOKEN = re.compile(r"\S+")
_PHONE_TOKEN = re.compile(r"\+?\(?[\d().\-\u2010-\u2015\u2212]*\d[\d().\-\u2010-\u2015\u2212]*\)?")
_NOT_PHONE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./\-]\d{1,2}[./\-]\d{2,4}"
                        r"|\d{4}[./]\d{1,2}[./]\d{1,2}|(?:19|20)\d\d-(?:19|20)\d\d")
"""Dates and year ranges, which have a phone number's shape."""
_TRAILING = ".,;:!?"


def strip_invisible(text: str) -> str:
    """Remove zero-width characters, bidi controls and other format characters."""
    return "".join(c for c in text
                   if unicodedata.category(c) != "Cf" and c not in _INVISIBLE_EXTRA)


def strip_controls(text: str) -> str:
    """Remove terminal control sequences (ESC, OSC, C0/C1 but newline and tab) and bidi controls."""
    return "".join(c for c in _ESCAPES.sub("", text) if c not in BIDI)


def fold(text: str) -> str:
    """Return text as it reads: invisible characters gone, NFKC, whitespace runs one space."""
    text = unicodedata.normalize("NFKC", strip_invisible(text))
    text = "".join(c if unicodedata.category(c) != "Cc" else " " for c in text)
    return " ".join(text.split())


def redact(text: str) -> str:
    """Fold text, then replace secrets, links, e-mails, IBANs, card and phone numbers."""
    text = fold(text)
    text = _SECRET.sub("[secret]", text)
    text = _URL.sub("[link]", text)
    text = _EMAIL.sub("[email]", text)
    text = _IBAN.sub(_iban, text)
    text = _DIGIT_RUN.sub(_cards, text)
    return _phones(text)


def luhn(digits: str) -> bool:
    """Tell whether a digit string passes the Luhn check (as every card number does)."""
    total = 0
    for n, ch in enumerate(reversed(digits)):
        d = int(ch)
        if n % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(compact: str) -> bool:
    """Tell whether letters and digits form an IBAN: 15–34 characters, mod 97 = 1."""
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    moved = (compact[4:] + compact[:4]).upper()
    if not moved.isascii() or not moved.isalnum():
        return False
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _iban(m: re.Match[str]) -> str:
    text = m.group(0)
    # The pattern may run on into the next word: try the longest prefix that checks out.
    for end in range(len(text), 14, -1):
        if text[end - 1] != " " and iban_valid(text[:end].replace(" ", "")):
            return "[iban]" + text[end:]
    return text


def _cards(m: re.Match[str]) -> str:
    """Replace each span of whole digit groups (13–19 digits, Luhn-valid) in a run."""
    run = m.group(0)
    groups = [(g.start(), g.end()) for g in _GROUP.finditer(run)]
    return _replace_windows(run, groups, _card_window, "[card]")


def _card_window(run: str, spans: list[tuple[int, int]]) -> bool:
    digits = "".join(run[a:b] for a, b in spans)
    if not (13 <= len(digits) <= 19 and luhn(digits)):
        return False
    # Phone numbers side by side mix separators too: mixed, only a card's grouping counts
    # (fours, some perhaps run together, then the rest; or American Express's 4-6-5).
    if len({run[a[1]:b[0]] for a, b in pairwise(spans)}) < 2:
        return True
    sizes = [b - a for a, b in spans]
    return all(n % 4 == 0 for n in sizes[:-1]) or sizes in ([4, 6, 5], [4, 6, 4])


def _replace_windows(text: str, spans: list[tuple[int, int]],
                     fits: Callable[[str, list[tuple[int, int]]], bool], token: str) -> str:
    """Replace every span inside some window of consecutive spans that fits.

    Taking every fitting window, not the first, means a card run on from a date or an
    order number is still covered whole; a neighbour that fits by chance goes with it.
    """
    covered = [False] * len(spans)
    joined = [False] * len(spans)  # joined[n]: spans n and n + 1 fit in one window
    for i in range(len(spans)):
        for j in range(i + 1, min(len(spans), i + 20) + 1):
            if fits(text, spans[i:j]):
                covered[i:j] = [True] * (j - i)
                joined[i:j - 1] = [True] * (j - 1 - i)
    out, last, n = [], 0, 0
    while n < len(spans):
        if not covered[n]:
            n += 1
            continue
        start = n
        while joined[n]:
            n += 1
        out += [text[last:spans[start][0]], token]
        last, n = spans[n][1], n + 1
    return "".join(out) + text[last:]


def _phones(text: str) -> str:
    """Replace runs of phone-shaped tokens that hold 7–15 digits in all."""
    spans = []
    for m in _TOKEN.finditer(text):
        word = m.group(0).rstrip(_TRAILING)
        if word and _PHONE_TOKEN.fullmatch(word) and not _NOT_PHONE.fullmatch(word):
            spans.append((m.start(), m.start() + len(word)))
    return _replace_windows(text, spans, _phone_window, "[phone]")


def _phone_window(text: str, spans: list[tuple[int, int]]) -> bool:
    # Tokens belong to one number only when one space separates each from the next.
    if any(text[a[1]:b[0]] != " " for a, b in pairwise(spans)):
        return False
    digits = sum(c.isdigit() for a, b in spans for c in text[a:b])
    return 7 <= digits <= 15
