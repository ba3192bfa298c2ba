"""Read a CSV or JSONL file from a bookmark into batches, one physical line at a time.

Working on bytes keeps memory flat whatever the file's size and gives every row its byte offset
and physical line. Only complete rows (ending in a newline) move the cursor: a last row cut short
by the end of the file is yielded, and read again once the file grows.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, BinaryIO

from impactlink.core.models import Rejected
from impactlink.errors import SourceError
from impactlink.sources.base import Batch
from impactlink.sources.file_cursor import Bookmark, hash_range, tail_sha256
from impactlink.sources.file_rows import BadRow, json_cell, mapper_for

if TYPE_CHECKING:
    import _csv

    from impactlink.sources.files import FileSource

RAW_CHARS = 500
_BOM = "\ufeff"


def column_finder(header: Sequence[str]) -> Callable[[str], int]:
    """Return a lookup of a column's position (-1 if absent): exact name, then case-folded."""
    exact: dict[str, int] = {}
    loose: dict[str, int] = {}
    for position, name in enumerate(header):
        exact.setdefault(name, position)
        loose.setdefault(name.strip().casefold(), position)

    def find(column: str) -> int:
        found = exact.get(column)
        return loose.get(column.strip().casefold(), -1) if found is None else found

    return find


def first_csv_row(file: BinaryIO, delimiter: str) -> list[str] | None:
    """Return the first non-blank row of a CSV file (its header), or None when there is none."""
    feed = Feed(file, 0)
    return next((row for row in csv.reader(feed.lines(), delimiter=delimiter) if row), None)


def _ends_line(fd: int, offset: int) -> bool:
    return offset == 0 or os.pread(fd, 1, offset - 1) == b"\n"


class Feed:
    """The lines of a binary file decoded for csv.reader, counting the bytes handed out."""

    def __init__(self, file: BinaryIO, offset: int) -> None:
        self.file = file
        self.offset = offset
        self.bad_utf8: list[int] = []
        self.eof = False

    def lines(self) -> Iterator[str]:
        """Yield each physical line; invalid UTF-8 is replaced and its offset put in bad_utf8."""
        if self.offset == 0:
            first = self.file.readline()
            if first:
                self.offset = len(first)
                yield self._decode(first).removeprefix(_BOM)
        for raw in self.file:
            self.offset += len(raw)
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                text = self._decode(raw)
            yield text
        self.eof = True

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode()
        except UnicodeDecodeError:
            self.bad_utf8.append(self.offset)
            return raw.decode(errors="replace")


class Reader(ABC):
    """What reading a file needs whatever its format: batching, quarantine, the cursor."""

    def __init__(self, source: FileSource, file: BinaryIO, start: Bookmark,
                 hasher: hashlib._Hash) -> None:
        self.source = source
        self.file = file
        self.fd = file.fileno()
        self.start = start
        self.hasher = hasher
        self.hashed = start.offset
        self.header = start.header
        self.header_end = start.offset
        self.mapper = mapper_for(source.config)
        self.rejected: list[Rejected] = []
        self.last_cursor: str | None = None
        file.seek(start.offset)

    @abstractmethod
    def batches(self) -> Iterator[Batch]:
        """Yield the batches from the start bookmark to the end of the file."""

    def cut(self, done: int, line: int, seen: int) -> Batch:
        """Return the pending batch with the cursor after `done` bytes (`line` lines) of `seen`."""
        hash_range(self.fd, self.hasher, self.hashed, done)
        self.hashed = done
        header = self.header if done >= self.header_end else None
        mark = Bookmark(offset=done, line=line, prefix_sha256=self.hasher.hexdigest(), size=seen,
                        tail_sha256=tail_sha256(self.fd, done, seen), header=header)
        batch = self.mapper.take()
        batch.rejected, self.rejected = self.rejected, []
        batch.cursor = self.last_cursor = mark.dump()
        return batch

    def last_cut(self, done: int, line: int, seen: int) -> Iterator[Batch]:
        """Yield the final batch unless it would carry nothing new."""
        previous = self.last_cursor
        batch = self.cut(done, line, seen)
        if len(batch) or batch.rejected or batch.cursor != previous:
            yield batch

    def reject(self, line: int, reason: str, text: str) -> None:
        """Quarantine the row starting at a physical line."""
        raw = text[:RAW_CHARS + 2].rstrip("\r\n")[:RAW_CHARS]
        self.rejected.append(Rejected(self.source.name, f"{self.source.config.path}:{line}",
                                      reason, raw))

    def reject_span(self, line: int, reason: str, start: int, end: int) -> None:
        """Quarantine the row held in bytes [start, end) of the file."""
        raw = os.pread(self.fd, min(end - start, RAW_CHARS * 4), start)
        self.reject(line, reason, raw.decode(errors="replace").removeprefix(_BOM))


class CsvReader(Reader):
    """A CSV file: a header row, then a record a row; quoted cells may span lines."""

    def batches(self) -> Iterator[Batch]:
        """Yield batches of the rows after the header (read from the file or the bookmark)."""
        feed = Feed(self.file, self.start.offset)
        reader = csv.reader(feed.lines(), delimiter=self.source.config.delimiter)
        if self.header is None:
            header = next((row for row in reader if row), None)
            self.header = None if header is None else tuple(header)
            self.header_end = feed.offset
            feed.bad_utf8.clear()
        if self.header is None:
            yield from self.last_cut(self.start.offset, self.start.line, feed.offset)
            return
        if problems := self.source.header_problems(self.header):
            raise SourceError("; ".join(problems))
        yield from self._rows(reader, feed)

    def _rows(self, reader: _csv.Reader, feed: Feed) -> Iterator[Batch]:
        assert self.header is not None
        width, first_line, bad = len(self.header), self.start.line, feed.bad_utf8
        find = column_finder(self.header)
        getter = itemgetter(*[find(column) for _, column in self.source.columns()])
        add, size, count = self.mapper.add, self.source.batch_size, 0
        row_at, row_lines = feed.offset, reader.line_num
        last_at, last_lines, last_eof = self.start.offset, 0, feed.eof
        while True:
            try:
                for row in reader:
                    end = feed.offset
                    if bad:
                        bad.clear()
                        self.reject_span(first_line + row_lines + 1, "invalid UTF-8 bytes",
                                         row_at, end)
                    elif len(row) != width:
                        if row:
                            self.reject_span(first_line + row_lines + 1, f"has {len(row)} "
                                             f"columns where the header has {width}", row_at, end)
                    else:
                        row.append("")  # a column the file lacks reads as this empty cell
                        try:
                            add(getter(row))
                        except BadRow as exc:
                            self.reject_span(first_line + row_lines + 1, str(exc), row_at, end)
                    count += 1
                    if count >= size:
                        count = 0
                        yield self.cut(*self._done(row_at, row_lines, end, reader.line_num,
                                                   feed.eof))
                    last_at, last_lines, last_eof = row_at, row_lines, feed.eof
                    row_at, row_lines = end, reader.line_num
                break
            except csv.Error as exc:
                bad.clear()
                self.reject_span(first_line + row_lines + 1, f"not valid CSV: {exc}", row_at,
                                 feed.offset)
                last_at, last_lines, last_eof = row_at, row_lines, feed.eof
                row_at, row_lines = feed.offset, reader.line_num
        yield from self.last_cut(*self._done(last_at, last_lines, row_at, row_lines, last_eof))

    def _done(self, row_at: int, row_lines: int, end: int, end_lines: int,
              eof: bool) -> tuple[int, int, int]:
        """Return (done, line, seen) after a row: a row cut short by the end of file is not done."""
        if eof or not _ends_line(self.fd, end):
            return row_at, self.start.line + row_lines, end
        return end, self.start.line + end_lines, end


class JsonlReader(Reader):
    """A JSON Lines file: an object a line; blank lines are skipped."""

    def batches(self) -> Iterator[Batch]:
        """Yield batches of the objects after the bookmark."""
        keys = [column for _, column in self.source.columns()]
        add, size, loads = self.mapper.add, self.source.batch_size, json.loads
        offset, line, count = self.start.offset, self.start.line, 0
        row_at, complete = offset, True
        for raw in self.file:
            row_at = offset
            offset += len(raw)
            line += 1
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                self.reject(line, "invalid UTF-8 bytes", raw.decode(errors="replace"))
            else:
                if row_at == 0:
                    text = text.removeprefix(_BOM)
                try:
                    value = loads(text)
                except ValueError as exc:
                    if text.strip():
                        self.reject(line, f"not valid JSON: {exc}", text)
                else:
                    if type(value) is dict:
                        try:
                            add([v if type(v) is str else json_cell(v)
                                 for v in map(value.get, keys)])
                        except BadRow as exc:
                            self.reject(line, str(exc), text)
                    else:
                        self.reject(line, f"a JSON {type(value).__name__}, not an object", text)
            complete = raw.endswith(b"\n")
            count += 1
            if count >= size:
                count = 0
                yield self.cut(*self._done(row_at, offset, line, complete))
        yield from self.last_cut(*self._done(row_at, offset, line, complete))

    @staticmethod
    def _done(row_at: int, end: int, line: int, complete: bool) -> tuple[int, int, int]:
        return (end, line, end) if complete else (row_at, line - 1, end)
