"""Turn the cells of one file row into a record; every rule that makes a row bad lives here.

Cells are strings in the order of the kind's ``FIELDS``, then one per configured segment.
A JSONL value is first rendered as the text its CSV twin would hold (see ``json_cell``); a
value that has no such text (an object, a list where one value belongs) makes the row bad.
Each record then meets the rules of ``sources.screen``: a repaired one is counted.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar, cast

from impactlink.config import FileSourceConfig
from impactlink.core.models import Customer, Response, ResponseStatus, Ticket
from impactlink.core.refs import collect_refs, find_refs
from impactlink.core.scales import is_satisfied, parse_score
from impactlink.core.tags import normalize_tags, split_list
from impactlink.sources.base import Batch
from impactlink.sources.screen import EARLIEST, LATEST, ascii_number, check_arr, screen_record

FIELDS: dict[str, tuple[str, ...]] = {
    "csat": ("id", "submitted_at", "score", "status", "customer_id", "respondent_id", "comment",
             "tags", "ticket_id", "issue_refs"),
    "tickets": ("id", "created_at", "updated_at", "customer_id", "requester_id", "status",
                "subject", "tags", "issue_refs", "description"),
    "customers": ("id", "name", "plan", "arr"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "csat": ("id", "submitted_at", "score"),
    "tickets": ("id", "created_at"),
    "customers": ("id",),
}

_CACHE_MAX = 4096
_NAIVE_EPOCH = datetime(1970, 1, 1)
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECONDS_FROM = 1e11  # as seconds that is the year 5138: such a number counts milliseconds
_DASH_DIGIT = re.compile(r"-\d")
_EPOCH_RANGE = (EARLIEST.timestamp(), LATEST.timestamp())
_EPOCH = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
LIST_FIELDS = frozenset({"tags", "issue_refs"})
ID_FIELDS = frozenset({"id", "customer_id", "respondent_id", "requester_id", "ticket_id"})
R = TypeVar("R", Ticket, Response, Customer)


class BadRow(Exception):
    """A row that cannot become a record; the message is the quarantine reason."""


def parse_time(text: str, field: str, time_format: str | None = None) -> datetime:
    """Return a UTC time from ISO 8601 (no zone means UTC) or epoch seconds, in ASCII.

    With ``time_format`` (the source's strptime format) the time must follow it instead.
    """
    value = text.strip()
    if time_format is not None:
        return _formatted(value, field, time_format)
    try:
        moment: datetime | None = _moment(value)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 is past the calendar's end in UTC
        moment = None
    except (ValueError, OSError):
        reason = "is empty" if not value else "is not an ISO 8601 time or epoch seconds"
        raise BadRow(f"{field} {text[:40]!r} {reason}") from None
    if moment is None or not EARLIEST <= moment < LATEST:
        raise BadRow(f"{field} {text[:40]!r} is outside the years 1000 to 8999")
    return moment


def _formatted(value: str, field: str, time_format: str) -> datetime:
    try:
        parsed = datetime.strptime(value, time_format)
    except ValueError:
        raise BadRow(f"{field} {value[:40]!r} does not match time_format {time_format!r}"
                     ) from None
    try:
        moment = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # an offset at the calendar's edge, as in parse_time
        moment = LATEST
    if not EARLIEST <= moment < LATEST:
        raise BadRow(f"{field} {value[:40]!r} is outside the years 1000 to 8999")
    return moment


def _moment(value: str) -> datetime:
    if not value.isascii():
        raise ValueError(value)
    if value[4:5] == "-":  # the common case first: ISO 8601 starts with the year
        parsed = datetime.fromisoformat(value)
    elif _EPOCH.fullmatch(value):
        number = float(value)
        if abs(number) >= _MILLISECONDS_FROM:
            number /= 1000
        if not _EPOCH_RANGE[0] <= number < _EPOCH_RANGE[1]:
            raise OverflowError(value)
        return datetime.fromtimestamp(number, UTC)
    else:
        parsed = datetime.fromisoformat(value)
    zone = parsed.tzinfo
    if zone is None:
        # Same result as replace(tzinfo=UTC), about five times faster.
        return _UTC_EPOCH + (parsed - _NAIVE_EPOCH)
    return parsed if zone is UTC else parsed.astimezone(UTC)


class RefFinder:
    """``collect_refs([field], [text])``, with reference fields memoised and texts pre-screened."""

    def __init__(self) -> None:
        self._fields: dict[str, tuple[str, ...]] = {"": ()}

    def __call__(self, field: str, text: str) -> tuple[str, ...]:
        """Return the sorted references in a reference field and a free-text field."""
        from_field = self._fields.get(field)
        if from_field is None:
            from_field = collect_refs((field,), ())
            if len(self._fields) < _CACHE_MAX:
                self._fields[field] = from_field
        # Every pattern in core.refs needs '#', a URL's '/', or a Jira key's '-' and digit.
        if "#" in text or "/" in text or ("-" in text and _DASH_DIGIT.search(text)):
            from_text = find_refs(text)
            if from_text:
                return tuple(sorted(from_text.union(from_field)))
        return from_field


def segment_names(config: FileSourceConfig) -> tuple[str, ...]:
    """Return the segment columns a row yields, sorted; customers have none."""
    return () if config.kind == "customers" else tuple(sorted(set(config.segments)))


def json_cell(value: object, field: str = "") -> str:
    """Render a JSON value as CSV text: null is empty, a list (of a list field) joins with ';'.

    BadRow for what has no such text: an object, a list where one value belongs, a bool or
    a fraction as an id.
    """
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        if field in ID_FIELDS:
            raise BadRow(f"{field} is a JSON boolean, not a string or an integer")
        return "true" if value else "false"
    if isinstance(value, int | float):
        if field in ID_FIELDS and not isinstance(value, int):
            raise BadRow(f"{field} {value!r} is not a string or an integer")
        return repr(value)
    kind = "list" if isinstance(value, list) else "object"
    if isinstance(value, list) and field in LIST_FIELDS:
        if any(isinstance(item, list | dict) for item in value):
            raise BadRow(f"{field} is a JSON list holding lists or objects")
        return ";".join(json_cell(item) for item in value)
    raise BadRow(f"{field or 'a value'} is a JSON {kind}, not a single value")


class RowMapper(ABC):
    """Build records of one kind from rows of cells and hand them over as a Batch."""

    def __init__(self, config: FileSourceConfig) -> None:
        self.source = config.name
        self.time_format = config.time_format
        self.fields = FIELDS[config.kind]
        self.segment_names = segment_names(config)
        self._tag_cache: dict[str, tuple[str, ...]] = {}
        self._segment_cache: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}
        self._refs = RefFinder()
        self.repaired = 0
        """Records kept after a repair since the last take (see sources.screen)."""

    @abstractmethod
    def add(self, cells: Sequence[str]) -> None:
        """Append the record these cells describe; BadRow says why they describe none."""

    @abstractmethod
    def take(self) -> Batch:
        """Return the records added since the last take, as a Batch."""

    def _screened(self, record: R) -> R:
        """Return the record as sources.screen keeps it (counting a repair); BadRow if refused."""
        try:
            clean, repaired = screen_record(record)
        except ValueError as exc:
            raise BadRow(str(exc)) from None
        self.repaired += repaired
        return cast(R, clean)

    def _tags(self, cell: str) -> tuple[str, ...]:
        tags = self._tag_cache.get(cell)
        if tags is None:
            tags = normalize_tags(split_list(cell))
            if len(self._tag_cache) < _CACHE_MAX:
                self._tag_cache[cell] = tags
        return tags

    def _segments(self, cells: Sequence[str]) -> tuple[tuple[str, str], ...]:
        if not self.segment_names:
            return ()
        values = tuple(cells[len(self.fields):])
        segments = self._segment_cache.get(values)
        if segments is None:
            pairs = zip(self.segment_names, values, strict=True)
            segments = tuple((name, value) for name, cell in pairs if (value := cell.strip()))
            if len(self._segment_cache) < _CACHE_MAX:
                self._segment_cache[values] = segments
        return segments


class ResponseMapper(RowMapper):
    """CSAT rows: an offered survey keeps status offered and drops any score it carries."""

    def __init__(self, config: FileSourceConfig) -> None:
        super().__init__(config)
        self.scale = config.scale
        self.ticket_source = config.ticket_source
        self.records: list[Response] = []
        self._score_cache: dict[str, tuple[float, bool]] = {}

    def add(self, cells: Sequence[str]) -> None:
        """Append the response; a row without score counts only when its status is offered."""
        external_id = cells[0].strip()
        if not external_id:
            raise BadRow("id is empty")
        submitted_at = parse_time(cells[1], "submitted_at", self.time_format)
        status, score, satisfied = self._answer(cells[3], cells[2])
        comment = cells[6].strip()
        # Positional, in field order: keywords cost a quarter more on the hottest line.
        self.records.append(self._screened(Response(
            self.source, external_id, submitted_at, status, score, satisfied,
            cells[4].strip() or None, cells[5].strip() or None, comment, self._tags(cells[7]),
            self._refs(cells[9], comment), self.ticket_source, cells[8].strip() or None,
            self._segments(cells))))

    def take(self) -> Batch:
        """Return the responses added since the last take."""
        batch, self.records = Batch(responses=self.records, screened=True), []
        return batch

    def _answer(self, status_cell: str, score_cell: str
                ) -> tuple[ResponseStatus, float | None, bool | None]:
        status = status_cell.strip().lower()
        if status == "offered":
            return "offered", None, None
        if status not in ("", "answered"):
            raise BadRow(f"status {status_cell[:40]!r} is neither answered nor offered")
        raw = score_cell.strip()
        if not raw:
            raise BadRow("score is empty (a survey sent but not answered needs status offered)")
        known = self._score_cache.get(raw)
        if known is None:
            try:
                score = parse_score(raw, self.scale)
            except ValueError as exc:
                raise BadRow(str(exc)) from None
            known = (score, is_satisfied(score, self.scale))
            if len(self._score_cache) < _CACHE_MAX:
                self._score_cache[raw] = known
        return "answered", known[0], known[1]


class TicketMapper(RowMapper):
    """Ticket rows: updated_at may be empty, status is free text, description optional."""

    def __init__(self, config: FileSourceConfig) -> None:
        super().__init__(config)
        self.records: list[Ticket] = []

    def add(self, cells: Sequence[str]) -> None:
        """Append the ticket these cells describe."""
        external_id = cells[0].strip()
        if not external_id:
            raise BadRow("id is empty")
        created_at = parse_time(cells[1], "created_at", self.time_format)
        updated_at = (parse_time(cells[2], "updated_at", self.time_format)
                      if cells[2].strip() else None)
        subject, description = cells[6].strip(), cells[9].strip()
        # A newline joins them: no reference pattern spans one, so none forms across the two.
        text = f"{subject}\n{description}" if description else subject
        self.records.append(self._screened(Ticket(
            source=self.source, external_id=external_id, created_at=created_at,
            updated_at=updated_at, customer_id=cells[3].strip() or None,
            requester_id=cells[4].strip() or None, status=cells[5].strip(), subject=subject,
            description=description, tags=self._tags(cells[7]), refs=self._refs(cells[8], text),
            segments=self._segments(cells))))

    def take(self) -> Batch:
        """Return the tickets added since the last take."""
        batch, self.records = Batch(tickets=self.records, screened=True), []
        return batch


class CustomerMapper(RowMapper):
    """Customer rows: arr is a plain number or empty."""

    def __init__(self, config: FileSourceConfig) -> None:
        super().__init__(config)
        self.records: list[Customer] = []

    def add(self, cells: Sequence[str]) -> None:
        """Append the customer these cells describe."""
        external_id = cells[0].strip()
        if not external_id:
            raise BadRow("id is empty")
        self.records.append(self._screened(Customer(
            source=self.source, external_id=external_id, name=cells[1].strip(),
            plan=cells[2].strip() or None, arr=_arr(cells[3]))))

    def take(self) -> Batch:
        """Return the customers added since the last take."""
        batch, self.records = Batch(customers=self.records, screened=True), []
        return batch


def _arr(cell: str) -> float | None:
    text = cell.strip()
    if not text:
        return None
    try:
        value = ascii_number(text)
    except ValueError:
        raise BadRow(f"arr {cell[:40]!r} is not a number") from None
    try:
        return check_arr(value, cell)
    except ValueError as exc:
        raise BadRow(str(exc)) from None


def mapper_for(config: FileSourceConfig) -> RowMapper:
    """Return the mapper for the source's kind."""
    mappers: dict[str, type[RowMapper]] = {
        "csat": ResponseMapper, "tickets": TicketMapper, "customers": CustomerMapper}
    return mappers[config.kind](config)
