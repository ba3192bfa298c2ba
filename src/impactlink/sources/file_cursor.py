"""The bookmark of a file source: how far the store holds the file, and what the file held there.

A file whose bytes before ``offset`` still hash to ``prefix_sha256`` has only grown, and is read
from ``offset`` (at physical line ``line + 1``, with the stored CSV ``header``); any other file is
read again from the start, which is safe because the store upserts by (source, external id).
``size`` and ``tail_sha256`` describe an unterminated last row: it was yielded but not passed, so
that it is read again once completed, and a file left as it was is not read at all.
``reading`` fingerprints the settings that shape records (scale, columns, delimiter, ...): when
they change, the file is read again from the start so that every stored record follows them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

_VERSION = 1
_CHUNK = 1 << 20
_EMPTY_SHA256 = hashlib.sha256().hexdigest()


@dataclass(frozen=True, slots=True)
class Bookmark:
    """Where the next run starts reading a file, and what the file held up to there."""

    offset: int = 0
    line: int = 0
    prefix_sha256: str = _EMPTY_SHA256
    size: int = 0
    tail_sha256: str | None = None
    header: tuple[str, ...] | None = None
    reading: str | None = None

    def dump(self) -> str:
        """Return the cursor text the store keeps."""
        return json.dumps({
            "v": _VERSION, "size": self.size, "offset": self.offset, "line": self.line,
            "prefix_sha256": self.prefix_sha256, "tail_sha256": self.tail_sha256,
            "header": None if self.header is None else list(self.header),
            "reading": self.reading})

    @classmethod
    def load(cls, text: str | None) -> Bookmark | None:
        """Return the bookmark in a stored cursor; None when there is none or it is unusable."""
        if not text:
            return None
        try:
            data = json.loads(text)
            mark = cls(offset=data["offset"], line=data["line"],
                       prefix_sha256=data["prefix_sha256"], size=data["size"],
                       tail_sha256=data.get("tail_sha256"),
                       header=None if data.get("header") is None else tuple(data["header"]),
                       reading=data.get("reading"))
        except (ValueError, TypeError, KeyError):
            return None
        return mark if data.get("v") == _VERSION and mark.is_sound() else None

    def is_sound(self) -> bool:
        """Return whether the fields hold the types and order a written bookmark has."""
        ints = all(type(n) is int and n >= 0 for n in (self.offset, self.line, self.size))
        texts = isinstance(self.prefix_sha256, str) and (
            self.tail_sha256 is None or isinstance(self.tail_sha256, str))
        header = self.header is None or all(isinstance(name, str) for name in self.header)
        reading = self.reading is None or isinstance(self.reading, str)
        return ints and texts and header and reading and self.offset <= self.size


def hash_range(fd: int, hasher: hashlib._Hash, start: int, end: int) -> None:
    """Feed bytes [start, end) of the file to the hasher; OSError if the file is now shorter."""
    while start < end:
        chunk = os.pread(fd, min(_CHUNK, end - start), start)
        if not chunk:
            raise OSError(f"file shrank below byte {start} while being read")
        hasher.update(chunk)
        start += len(chunk)


def tail_sha256(fd: int, start: int, end: int) -> str | None:
    """Return the hash of bytes [start, end), or None when the range is empty."""
    if start >= end:
        return None
    hasher = hashlib.sha256()
    hash_range(fd, hasher, start, end)
    return hasher.hexdigest()


def resume_point(fd: int, mark: Bookmark | None) -> tuple[Bookmark, hashlib._Hash] | None:
    """Return where to read from with the hash of the bytes before it; None if nothing changed."""
    size = os.fstat(fd).st_size
    fresh = (Bookmark(), hashlib.sha256())
    if mark is None or mark.offset > size:
        return fresh
    hasher = hashlib.sha256()
    hash_range(fd, hasher, 0, mark.offset)
    if hasher.hexdigest() != mark.prefix_sha256:
        return fresh
    if size == mark.size and tail_sha256(fd, mark.offset, size) == mark.tail_sha256:
        return None
    return mark, hasher
