"""Tag normalisation: case, surrounding space, and ``-``/``_``/space folded alike."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

_SEPARATORS = re.compile(r"[\s_\-]+")
_LIST_SPLIT = re.compile(r"[;,]")


@lru_cache(maxsize=65536)
def normalize_tag(tag: str) -> str:
    """Return the form tags are compared in: ``" Check_Out "`` and ``"check-out"`` agree."""
    return _SEPARATORS.sub("-", tag.strip().casefold()).strip("-")


def normalize_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Normalise, drop empties and duplicates, and sort."""
    return tuple(sorted({n for t in tags if (n := normalize_tag(t))}))


def split_list(value: str) -> list[str]:
    """Split a list cell on ``;`` or ``,`` and strip each item."""
    return [item.strip() for item in _LIST_SPLIT.split(value) if item.strip()]
