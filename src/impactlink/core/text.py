"""The pinned tokenizer of text attribution (IMPACT_MODEL.md, "Tokens").

NFKC, case-fold, maximal runs of letters and digits (Unicode L and N), no one-character
or number-only tokens, no stopwords, Snowball English stems. The stemmer is PyStemmer
(Snowball's C code); snowballstemmer, the same algorithm in Python, stands in without it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources

TEXT_LIMIT = 2000
"""Characters of a body, description or first message that count (IMPACT_MODEL.md)."""

TOKENIZER_VERSION = "1"
"""Changes whenever tokens() could give other tokens for the same text: stored terms are redone."""

# [^\W_] is "alphanumeric": str.isalnum, i.e. Unicode letters (L) and numbers (N).
_RUN = re.compile(r"[^\W_]+")


@cache
def stopwords() -> frozenset[str]:
    """Return the stopwords (stopwords-en.txt, shipped beside this module)."""
    text = resources.files("impactlink.core").joinpath("stopwords-en.txt").read_text("utf-8")
    return frozenset(w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#"))


def _load_stemmer() -> Callable[[str], str]:
    try:
        import Stemmer  # PyStemmer

        return Stemmer.Stemmer("english").stemWord  # type: ignore[no-any-return]
    except ImportError:  # pragma: no cover - the pure-Python twin
        import snowballstemmer

        return snowballstemmer.stemmer("english").stemWord  # type: ignore[no-any-return]


class Tokenizer:
    """Turns text into stems, remembering each word's stem (vocabularies are small)."""

    def __init__(self) -> None:
        self._stem = _load_stemmer()
        self._stops = stopwords()
        self._cache: dict[str, str | None] = {}
        self._stored: dict[str, str] = {}

    def _term(self, word: str) -> str | None:
        if len(word) < 2 or word in self._stops or not any(c.isalpha() for c in word):
            return None
        return self._stem(word)

    def tokens(self, text: str) -> list[str]:
        """Return the stems of a text in order, repeats kept (issue texts: tf and dl)."""
        if not text:
            return []
        out: list[str] = []
        cache_ = self._cache
        for word in _RUN.findall(unicodedata.normalize("NFKC", text).casefold()):
            term = cache_.get(word, "")
            if term == "":
                term = cache_[word] = self._term(word)
                if len(cache_) > 500_000:
                    cache_.clear()
            if term is not None:
                out.append(term)
        return out

    def terms(self, text: str) -> list[str]:
        """Return the distinct stems of a text, sorted (record texts: the query side)."""
        return sorted(set(self.tokens(text)))

    def stored_terms(self, text: str) -> str:
        """Return terms() as stored, remembering short texts (survey comments repeat)."""
        if len(text) > 300:
            return join_terms(self.terms(text))
        found = self._stored.get(text)
        if found is None:
            found = join_terms(self.terms(text))
            if len(self._stored) > 200_000:
                self._stored.clear()
            self._stored[text] = found
        return found


_DEFAULT: Tokenizer | None = None


def tokenizer() -> Tokenizer:
    """Return the process's shared tokenizer."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Tokenizer()
    return _DEFAULT


def cap(text: str | None) -> str:
    """Return the part of a body that counts: its first TEXT_LIMIT characters."""
    return (text or "")[:TEXT_LIMIT]


def join_terms(terms: Iterable[str]) -> str:
    """Return stored terms: space-joined (a stem never holds a space)."""
    return " ".join(terms)


def split_terms(stored: str) -> list[str]:
    """Return terms as stored by join_terms."""
    return stored.split() if stored else []
