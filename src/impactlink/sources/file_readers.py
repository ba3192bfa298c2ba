"""Read a CSV or JSONL file from a bookmark into batches, one physical line at a time.

Working on bytes keeps memory flat whatever the file's size and gives every row its byte offset
and physical line. Only complete rows (ending in a newline) move the cursor: a last row cut short
by the end of the file is yielded, and read again once the file grows.

Hostile shapes are quarantined row by row, never fatal:

    a line over MAX_LINE bytes     never held whole in memory: skipped to its end, quarantined
    CR alone as the line end       a line ends there, as with open(newline="") (classic Mac)
    a byte-order mark on a line    dropped (files joined with cat keep one per part)
    invalid UTF-8                  kept as lone surrogates: sources.screen repairs free text
                                   (U+FFFD) and refuses an id
    empty surplus cells            dropped, the row kept (spreadsheets pad rows with commas)
    an unbalanced quote            a quoted cell that runs over several lines into a row of the
                                   wrong width, that csv refuses, or that is still open at the
                                   end of the file: its first line is quarantined and reading
                                   resumes on the next line, so the rest of the file is not
                                   swallowed; the cursor stays before a quote open at the end
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterator, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, BinaryIO

from impactlink.core.models import Rejected
from impactlink.errors import SourceError
from impactlink.sources.base import Batch
from impactlink.sources.file_cursor import Bookmark, hash_range, tail_sha256
from impactlink.sources.file_rows import BadRow, json_cell, mapper_for
from impactlink.sources.screen import shown

if TYPE_CHECKING:
    import _csv

    from impactlink.sources.files import FileSource

RAW_CHARS = 500
MAX_LINE = 1 << 20
"""Bytes a physical line may hold; a longer one is quarantined without being read whole."""
_BOM = "\ufeff"
_LINE_END = re.compile(rb"\n|\r(?!\n)")
_CHUNK = 1 << 20

Restart = tuple[int, int, str, bool]
"""Where a row with an unbalanced quote starts (byte, lines before it), why, and whether the
cursor must stay before it (a quote still open at the end of the file)."""


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


def physical_lines(file: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """Yield (bytes taken, line) for each line, ended by LF, CRLF or a lone CR.

    The line is None when it is longer than MAX_LINE: it is skipped, never held whole.
    """
    readline, limit, carry = file.readline, MAX_LINE + 1, b""
    while True:
        more = readline(limit - len(carry))
        raw = carry + more if carry else more
        if not raw:
            return
        eof = len(more) < limit - len(carry) and not more.endswith(b"\n")
        cr = raw.find(b"\r")
        # The common case: one line from readline, no CR but a CRLF's (or a last byte's).
        if not carry and (cr == -1 or (cr == len(raw) - 2 and raw[-1] == 10)
                          or (cr == len(raw) - 1 and eof)):
            if raw[-1] == 10 or eof:
                yield len(raw), raw if len(raw) <= MAX_LINE else None
                continue
            skipped, carry = _skip_line(file, False)
            yield len(raw) + skipped, None
            continue
        carry = b""
        start = 0
        for end in _LINE_END.finditer(raw):
            if end.end() == len(raw) and raw[-1] == 13 and not eof:
                break  # a CR as the last byte read: a CRLF cut in two, or a lone CR; read on
            piece = raw[start:end.end()]
            yield len(piece), piece if len(piece) <= MAX_LINE else None
            start = end.end()
        rest = raw[start:]
        if not rest:
            continue
        if eof:
            yield len(rest), rest
        elif len(rest) > MAX_LINE:
            skipped, carry = _skip_line(file, rest.endswith(b"\r"))
            yield len(rest) + skipped, None
        else:
            carry = rest


def _skip_line(file: BinaryIO, after_cr: bool) -> tuple[int, bytes]:
    """Read past the end of the current line; return the bytes skipped and those read after."""
    skipped = 0
    while chunk := file.read(_CHUNK):
        if after_cr:  # the last byte skipped was a CR: this line ended there or at this LF
            end = 1 if chunk[:1] == b"\n" else 0
            return skipped + end, chunk[end:]
        lf, cr = chunk.find(b"\n"), chunk.find(b"\r")  # memchr: far faster than a pattern
        if cr == -1 or -1 < lf < cr:
            if lf != -1:
                return skipped + lf + 1, chunk[lf + 1:]
        elif cr + 1 < len(chunk):
            end = cr + 2 if chunk[cr + 1] == 10 else cr + 1
            return skipped + end, chunk[end:]
        else:
            after_cr = True
        skipped += len(chunk)
    return skipped, b""


def _ends_line(fd: int, offset: int) -> bool:
    """Return whether a line ends just before the offset: an LF, or a CR followed by no LF.

    A CR as the file's last byte may yet be a CRLF's first half: not an end.
    """
    if offset == 0:
        return True
    around = os.pread(fd, 2, offset - 1)
    if around[:1] == b"\n":
        return True
    return around[:1] == b"\r" and len(around) == 2 and around[1:] != b"\n"


class Feed:
    """The lines of a binary file decoded for csv.reader, counting the bytes handed out."""

    def __init__(self, file: BinaryIO, offset: int) -> None:
        self.file = file
        self.offset = offset
        self.overlong = False
        """Whether a line handed out since this was cleared was too long (and given empty)."""
        self.eof = False

    def lines(self) -> Iterator[str]:
        """Yield each physical line; invalid UTF-8 becomes lone surrogates (surrogateescape)."""
        for size, raw in physical_lines(self.file):
            self.offset += size
            if raw is None:
                self.overlong = True
                yield "\n"
                continue
            yield raw.decode("utf-8", "surrogateescape").removeprefix(_BOM)
        self.eof = True


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
        self.hold: tuple[int, int] | None = None
        """(byte, line) the cursor may not pass: a row whose quote is open at the end."""
        file.seek(start.offset)

    @abstractmethod
    def batches(self) -> Iterator[Batch]:
        """Yield the batches from the start bookmark to the end of the file."""

    def cut(self, done: int, line: int, seen: int) -> Batch:
        """Return the pending batch with the cursor after `done` bytes (`line` lines) of `seen`."""
        if self.hold is not None and self.hold[0] < done:
            done, line = self.hold
        hash_range(self.fd, self.hasher, self.hashed, done)
        self.hashed = done
        header = self.header if done >= self.header_end else None
        mark = Bookmark(offset=done, line=line, prefix_sha256=self.hasher.hexdigest(), size=seen,
                        tail_sha256=tail_sha256(self.fd, done, seen), header=header,
                        reading=self.source.reading)
        batch = self.mapper.take()
        batch.rejected, self.rejected = self.rejected, []
        batch.repaired, self.mapper.repaired = self.mapper.repaired, 0
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
        raw = shown(text[:RAW_CHARS + 2].rstrip("\r\n")[:RAW_CHARS])
        self.rejected.append(Rejected(self.source.name, f"{self.source.config.path}:{line}",
                                      reason, raw))

    def reject_span(self, line: int, reason: str, start: int, end: int) -> None:
        """Quarantine the row held in bytes [start, end) of the file."""
        raw = os.pread(self.fd, min(end - start, RAW_CHARS * 4), start)
        self.reject(line, reason, raw.decode(errors="replace").removeprefix(_BOM))


class CsvReader(Reader):
    """A CSV file: a header row, then a record a row; quoted cells may span lines."""

    def __init__(self, source: FileSource, file: BinaryIO, start: Bookmark,
                 hasher: hashlib._Hash) -> None:
        super().__init__(source, file, start, hasher)
        self._count = 0
        """Rows read since the last cut."""
        self._at, self._before = start.offset, start.line
        """Where the next row starts: its byte, and the physical lines before it."""
        self._last = (start.offset, start.line, False)
        """The last row's start, lines before it, and whether the file ended in it."""

    def batches(self) -> Iterator[Batch]:
        """Yield batches of the rows after the header (read from the file or the bookmark)."""
        feed = Feed(self.file, self.start.offset)
        reader = self._reader(feed)
        if self.header is None:
            self.header = self._header(reader, feed)
            self.header_end = feed.offset
        if self.header is None:
            yield from self.last_cut(self.start.offset, self.start.line, feed.offset)
            return
        if problems := self.source.header_problems(self.header):
            raise SourceError("; ".join(problems))
        yield from self._rows(reader, feed)

    def _reader(self, feed: Feed) -> _csv.Reader:
        return csv.reader(feed.lines(), delimiter=self.source.config.delimiter)

    def _header(self, reader: _csv.Reader, feed: Feed) -> tuple[str, ...] | None:
        """Return the first non-blank row; a header csv refuses, or too long, is the file's."""
        where = f"source '{self.source.name}': {self.source.path}"
        try:
            header = next((row for row in reader if row), None)
        except csv.Error as exc:
            raise SourceError(f"{where}: the header row is not valid CSV ({exc})") from None
        if feed.overlong:
            raise SourceError(f"{where}: a line before the header's end is longer than "
                              f"{MAX_LINE} bytes; is it a CSV file?")
        return None if header is None else tuple(shown(name) for name in header)

    def _rows(self, reader: _csv.Reader, feed: Feed) -> Iterator[Batch]:
        """Yield batches of the rows; after an unbalanced quote, read on from its next line."""
        base = self.start.line
        self._at, self._before = feed.offset, base + reader.line_num
        self._last = (self.start.offset, self.start.line, feed.eof)
        while (restart := (yield from self._scan(reader, feed, base))) is not None:
            row_at, before, reason, hold = restart
            if hold and self.hold is None:
                self.hold = (row_at, before)
            self.file.seek(row_at)
            feed = Feed(self.file, row_at)
            lines = feed.lines()
            next(lines, None)  # the row's first line: quarantined, the next ones read again
            feed.overlong = False
            self.reject_span(before + 1, reason, row_at, feed.offset)
            self._last = (row_at, before, False)
            self._at, self._before = feed.offset, before + 1
            reader = csv.reader(lines, delimiter=self.source.config.delimiter)
            base = before + 1
        yield from self.last_cut(*self._done(*self._last[:2], self._at, self._before,
                                             self._last[2]))

    def _scan(self, reader: _csv.Reader, feed: Feed,
              base: int) -> Generator[Batch, None, Restart | None]:
        """Yield batches of rows to the end of the file, or return where a quote is unbalanced.

        The scan's place lives in locals on this, the hottest loop, and in self between scans.
        """
        assert self.header is not None
        width, size, take = len(self.header), self.source.batch_size, self._taker(len(self.header))
        count, row_at, before, last = self._count, self._at, self._before, self._last
        restart: Restart | None = None
        while True:
            try:
                row = next(reader, None)
            except csv.Error as exc:
                if base + reader.line_num - before > 1:
                    restart = (row_at, before, f"unbalanced quote: not valid CSV ({exc})", False)
                    break
                feed.overlong = False
                self.reject_span(before + 1, f"not valid CSV: {exc}", row_at, feed.offset)
            else:
                if row is None:
                    break
                after = base + reader.line_num
                if after - before > 1 and not feed.overlong and (
                        restart := self._unbalanced(row, width, row_at, before, feed, after)):
                    break
                take(row, before + 1, row_at, feed)
            end, after, eof = feed.offset, base + reader.line_num, feed.eof
            count += 1
            if count >= size:
                count = 0
                yield self.cut(*self._done(row_at, before, end, after, eof))
            last = (row_at, before, eof)
            row_at, before = end, after
        self._count, self._at, self._before, self._last = count, row_at, before, last
        return restart

    def _taker(self, width: int) -> Callable[[list[str], int, int, Feed], None]:
        """Return what maps one row to a record or quarantines it."""
        assert self.header is not None
        find = column_finder(self.header)
        getter = itemgetter(*[find(column) for _, column in self.source.columns()])
        add = self.mapper.add

        def take(row: list[str], line: int, row_at: int, feed: Feed) -> None:
            if feed.overlong:
                feed.overlong = False
                self.reject_span(line, f"a line is longer than {MAX_LINE} bytes", row_at,
                                 feed.offset)
                return
            if not (row and row[0].strip()) and not any(cell.strip() for cell in row):
                return  # a blank row: nothing to keep, nothing wrong
            if len(row) != width:
                if not _surplus_empty(row, width):
                    if row:
                        self.reject_span(line, f"has {len(row)} columns where the header "
                                         f"has {width}", row_at, feed.offset)
                    return
                del row[width:]
            row.append("")  # a column the file lacks reads as this empty cell
            try:
                add(getter(row))
            except BadRow as exc:
                self.reject_span(line, str(exc), row_at, feed.offset)

        return take

    def _unbalanced(self, row: list[str], width: int, row_at: int, before: int, feed: Feed,
                    after: int) -> Restart | None:
        """Return the restart for a row over several lines that an open quote made, if it is."""
        span = after - before
        if len(row) != width and not _surplus_empty(row, width):
            return (row_at, before, f"unbalanced quote: a quoted cell opened on this line runs "
                    f"over {span - 1} more line(s) into a row of {len(row)} columns where "
                    f"the header has {width}", False)
        if feed.eof and self._quote_open(row_at, feed.offset):
            return (row_at, before, "unbalanced quote: a quoted cell opened on this line is "
                    "still open at the end of the file", True)
        return None

    def _quote_open(self, start: int, end: int) -> bool:
        """Return whether bytes [start, end) hold an odd number of quote characters."""
        quotes = 0
        while start < end:
            chunk = os.pread(self.fd, min(MAX_LINE, end - start), start)
            if not chunk:
                break
            quotes += chunk.count(b'"')
            start += len(chunk)
        return quotes % 2 == 1

    def _done(self, row_at: int, before: int, end: int, after: int,
              eof: bool) -> tuple[int, int, int]:
        """Return (done, line, seen) after a row: a row cut short by the end of file is not done."""
        if eof or not _ends_line(self.fd, end):
            return row_at, before, end
        return end, after, end


def _surplus_empty(row: list[str], width: int) -> bool:
    """Return whether the row only has more cells than the header, all of them empty."""
    return len(row) > width and not any(cell.strip() for cell in row[width:])


class JsonlReader(Reader):
    """A JSON Lines file: an object a line; blank lines are skipped."""

    def __init__(self, source: FileSource, file: BinaryIO, start: Bookmark,
                 hasher: hashlib._Hash) -> None:
        super().__init__(source, file, start, hasher)
        self._fields = [field for field, _ in source.columns()]
        self._keys = [column for _, column in source.columns()]

    def batches(self) -> Iterator[Batch]:
        """Yield batches of the objects after the bookmark."""
        size = self.source.batch_size
        offset, line, count = self.start.offset, self.start.line, 0
        row_at, complete = offset, True
        for length, raw in physical_lines(self.file):
            row_at = offset
            offset += length
            line += 1
            self._line(raw, line, row_at, offset)
            complete = self._complete(raw, offset)
            count += 1
            if count >= size:
                count = 0
                yield self.cut(*self._done(row_at, offset, line, complete))
        yield from self.last_cut(*self._done(row_at, offset, line, complete))

    def _line(self, raw: bytes | None, line: int, start: int, end: int) -> None:
        """Map one line to a record, or quarantine it; a blank line is skipped."""
        if raw is None:
            self.reject_span(line, f"the line is longer than {MAX_LINE} bytes", start, end)
            return
        text = raw.decode("utf-8", "surrogateescape").removeprefix(_BOM)
        try:
            value = json.loads(text)
        except ValueError as exc:
            if text.strip():
                self.reject(line, f"not valid JSON: {exc}", text)
            return
        except RecursionError:
            self.reject(line, "not valid JSON: nested too deeply", text)
            return
        if type(value) is not dict:
            self.reject(line, f"a JSON {type(value).__name__}, not an object", text)
            return
        try:
            self.mapper.add([v if type(v) is str else json_cell(v, field)
                             for field, v in zip(self._fields, map(value.get, self._keys),
                                                 strict=True)])
        except BadRow as exc:
            self.reject(line, str(exc), text)

    def _complete(self, raw: bytes | None, end: int) -> bool:
        """Return whether the line just read is ended (it may still grow otherwise)."""
        if raw is not None and raw.endswith(b"\n"):
            return True
        return (raw is None or raw.endswith(b"\r")) and _ends_line(self.fd, end)

    @staticmethod
    def _done(row_at: int, end: int, line: int, complete: bool) -> tuple[int, int, int]:
        return (end, line, end) if complete else (row_at, line - 1, end)
