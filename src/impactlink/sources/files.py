"""CSV and JSONL files as a source: rows become records, bad rows are quarantined, not fatal.

``file_readers`` reads a file from its bookmark (``file_cursor``) and ``file_rows`` turns each
row into a record; this module is the source the pipeline sees, and the checks of its set-up.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from impactlink.config import FileSourceConfig
from impactlink.errors import SourceError
from impactlink.sources.base import Batch
from impactlink.sources.file_cursor import Bookmark, resume_point
from impactlink.sources.file_readers import (
    MAX_LINE,
    CsvReader,
    JsonlReader,
    column_finder,
    first_csv_row,
    physical_lines,
)
from impactlink.sources.file_rows import FIELDS, REQUIRED, segment_names

# What shapes the records a file gives: a change to any of them reads the file again.
_READING = frozenset({"type", "kind", "path", "scale", "columns", "delimiter", "segments",
                      "ticket_source", "time_format"})


def reading_of(config: FileSourceConfig) -> str:
    """Return the fingerprint of the settings that shape a file's records."""
    shape = json.dumps(config.model_dump(mode="json", include=set(_READING)), sort_keys=True)
    return hashlib.sha256(shape.encode()).hexdigest()[:16]


class FileSource:
    """A CSV or JSONL file of CSAT responses, tickets or customers."""

    # Each batch is one transaction with its cursor: a large one commits (and rewrites the
    # indexes' pages) less often; 100,000 rows hold about 100 MB while being stored.
    def __init__(self, config: FileSourceConfig, base_dir: Path, batch_size: int = 100000) -> None:
        self.name = config.name
        self.config = config
        self.path = config.path if config.path.is_absolute() else base_dir / config.path
        self.batch_size = max(1, batch_size)
        self.reading = reading_of(config)

    def batches(self, cursor: str | None) -> Iterator[Batch]:
        """Yield the rows added or changed since the cursor, up to batch_size records a batch."""
        if unknown := self._unknown_fields():
            raise SourceError(unknown)
        file = self._open()
        with file:
            try:
                mark = Bookmark.load(cursor)
                if mark is not None and mark.reading != self.reading:
                    mark = None  # the settings that shape records changed: read it all again
                start = resume_point(file.fileno(), mark)
                if start is None:
                    return
                reader = CsvReader if self.config.type == "csv" else JsonlReader
                yield from reader(self, file, *start).batches()
            except OSError as exc:
                raise SourceError(self._cannot_read(exc)) from None

    def check(self) -> list[str]:
        """Return what keeps the file from being read, each with its fix; [] when fine."""
        problems = [unknown] if (unknown := self._unknown_fields()) else []
        try:
            with self._open() as file:
                if self.config.type == "csv":
                    header = first_csv_row(file, self.config.delimiter)
                    return problems + self.header_problems(header, all_wanted=True)
                return problems + self._first_object_problems(file)
        except OSError as exc:
            return [*problems, self._cannot_read(exc)]
        except SourceError as exc:
            return [*problems, str(exc)]
        except csv.Error as exc:
            return [*problems, f"source '{self.name}': the header row of {self.path} is not "
                               f"valid CSV ({exc})"]

    def columns(self) -> list[tuple[str, str]]:
        """Return (field, column name) for every cell a row yields, in the mapper's order."""
        names = self.config.columns
        wanted = [*FIELDS[self.config.kind], *segment_names(self.config)]
        return [(field, names.get(field, field)) for field in wanted]

    def header_problems(self, header: Sequence[str] | None, all_wanted: bool = False) -> list[str]:
        """Return what the header lacks: required columns (and mapped or segment ones if asked)."""
        if header is None:
            return [f"source '{self.name}': {self.path} is empty; it needs a header row"]
        found = column_finder(header)
        required = set(REQUIRED[self.config.kind])
        if self.config.kind == "csat" and found(self.config.columns.get("status", "status")) >= 0:
            required.discard("score")  # with a status column, a file may hold only offered surveys
        if all_wanted:
            required |= set(self.config.columns) | set(self.config.segments)
        missing = [(field, column) for field, column in self.columns()
                   if field in required and found(column) < 0]
        if not missing:
            return []
        lacks = ", ".join(f"{column!r} (for {field})" for field, column in missing)
        fix = ", ".join(f'{field} = "Your Column"' for field, _ in missing)
        listed = ", ".join(repr(name) for name in header)
        return [f"source '{self.name}': {self.path} has no column {lacks}; columns found: "
                f"{listed}. If yours are named otherwise, map them in this source's [[sources]] "
                f"entry: columns = {{ {fix} }}"]

    def _unknown_fields(self) -> str:
        known = {*FIELDS[self.config.kind], *self.config.segments}
        unknown = sorted(set(self.config.columns) - known)
        if not unknown:
            return ""
        return (f"source '{self.name}': columns = {{...}} maps unknown field(s) "
                f"{', '.join(unknown)}; the fields of a {self.config.kind} file are "
                f"{', '.join(sorted(known))}")

    def _open(self) -> BinaryIO:
        """Open the file; one that is not a regular file (a FIFO, /dev/zero) is refused."""
        try:
            # A FIFO would block open() itself, and a device never ends: ask before opening.
            if not stat.S_ISREG(os.stat(self.path).st_mode):
                raise SourceError(self._not_a_file())
            file = self.path.open("rb")
        except OSError as exc:
            raise SourceError(self._cannot_read(exc)) from None
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):  # replaced since the stat
            file.close()
            raise SourceError(self._not_a_file())
        return file

    def _not_a_file(self) -> str:
        return (f"source '{self.name}': cannot read {self.path}: not a regular file (a folder, "
                f"FIFO or device) — point path at a CSV or JSONL file")

    def _cannot_read(self, exc: OSError) -> str:
        return (f"source '{self.name}': cannot read {self.path}: {exc.strerror or exc} — check its "
                f"path (relative to the configuration file's folder) and permissions")

    def _first_object_problems(self, file: BinaryIO) -> list[str]:
        """Check the first object's keys; later objects may omit keys whose value is null."""
        for line, (_, raw) in enumerate(physical_lines(file), start=1):
            if raw is None:
                return [f"source '{self.name}': {self.path} line {line} is longer than "
                        f"{MAX_LINE} bytes; a jsonl file holds one JSON object per line"]
            if not raw.strip():
                continue
            try:
                first = json.loads(raw.decode("utf-8-sig", "replace"))
            except (ValueError, RecursionError) as exc:
                return [f"source '{self.name}': {self.path} line {line} is not JSON ({exc}); "
                        f"a jsonl file holds one JSON object per line"]
            if not isinstance(first, dict):
                return [f"source '{self.name}': {self.path} line {line} holds a JSON "
                        f"{type(first).__name__}; a jsonl file holds one JSON object per line"]
            return self.header_problems(list(first))
        return [f"source '{self.name}': {self.path} is empty"]
