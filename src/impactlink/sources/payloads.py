"""What the HTTP sources share at their boundary: bookmarks, vendor times, fields, rejects.

A payload item that cannot become a record raises one of ``RECORD_ERRORS`` while it is
converted; the vendor module quarantines it and goes on with the next. The conversions here
refuse, by rule, what would otherwise be a wrong accept: an id that is an object or a list, a
time outside the calendar, an amount in another numeral system, negative or infinite.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from impactlink.core.models import Rejected
from impactlink.errors import SourceError
from impactlink.sources.screen import ascii_number, check_arr, shown, within_calendar

Clock = Callable[[], float]
_RAW_LIMIT = 2000
# A malformed item fails its conversion with one of these, wherever in the item it is: an
# out-of-range epoch overflows, a list where an object was expected has no .get, a document
# nested thousands deep recurses. Each is that record's fault, never the run's.
RECORD_ERRORS: tuple[type[Exception], ...] = (
    KeyError, ValueError, TypeError, AttributeError, IndexError, ArithmeticError, RecursionError)


def load_bookmark(source: str, cursor: str | None) -> dict[str, Any]:
    """Return a stored cursor as a dict; an unreadable one is a source error."""
    if not cursor:
        return {}
    try:
        value = json.loads(cursor)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise SourceError(f"{source}: the stored cursor is not a JSON object; "
                          f"run `impactlink backfill --source {source} --since DATE`")
    return value


def dump_bookmark(state: Mapping[str, Any]) -> str:
    """Return the JSON text a Batch carries as its cursor."""
    return json.dumps(state, sort_keys=True, separators=(",", ":"))


def parse_time(value: object) -> datetime:
    """Return a vendor time (ISO 8601 text or epoch seconds) as aware UTC; ValueError if bad."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"time {value!r} is missing or not a time")
    if isinstance(value, int | float):
        try:
            moment = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"time {_brief(value)} is out of range") from None
    elif isinstance(value, str):
        moment = _iso_time(value)
    else:
        raise ValueError(f"time {_brief(value)} is not text or a number")
    return within_calendar(moment, "time")


def _iso_time(value: str) -> datetime:
    text = value.strip()
    try:
        if not text.isascii():
            raise ValueError
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"time {value[:40]!r} is not ISO 8601") from None
    try:
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 is past the calendar's end in UTC
        raise ValueError(f"time {value[:40]!r} is out of range") from None


def ident(value: object, field: str = "id") -> str:
    """Return an identifier as text: a string or an integer; ValueError for anything else."""
    if isinstance(value, str):
        text = value.strip().strip("\ufeff").strip()  # a byte-order mark is no part of an id
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**200:
        text = str(value)
    else:
        raise ValueError(f"{field} {_brief(value)} is not a string or an integer")
    if not text:
        raise ValueError(f"{field} is empty")
    return text


def optional_ident(value: object, field: str) -> str | None:
    """Return an identifier as text, or None when it is absent (null or empty)."""
    if value is None or value == "":
        return None
    return ident(value, field)


def _brief(value: object) -> str:
    """Return a short display of a value: containers by their kind, never a deep repr."""
    if isinstance(value, dict):
        return "(a JSON object)"
    if isinstance(value, list):
        return "(a JSON list)"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return "(a very long number)"
    return repr(value)[:60] if not isinstance(value, str) else repr(value[:40])


def epoch(moment: datetime) -> int:
    """Return whole seconds since the epoch."""
    return int(moment.timestamp())


def iso(moment: datetime) -> str:
    """Return ``YYYY-MM-DDTHH:MM:SSZ``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_since(start_date: str | None, clock: Clock) -> datetime:
    """Return where a first run starts: ``start_date``, else 365 days ago (two 90-day windows
    and change)."""
    if start_date:
        return parse_time(start_date)
    return datetime.fromtimestamp(clock(), UTC) - timedelta(days=365)


def reject(source: str, endpoint: str, item: object, reason: str) -> Rejected:
    """Return a quarantine record for a payload item that could not be used."""
    rid = item.get("id") if isinstance(item, dict) else None
    try:
        rid = ident(rid)[:200]
    except ValueError:
        rid = None
    try:
        raw = json.dumps(item, default=str, ensure_ascii=False)
    except (ValueError, RecursionError):
        raw = "(an item nested too deeply to show)"
    return Rejected(source=source, location=shown(f"{endpoint} id={rid}")[:1000],
                    reason=shown(reason), raw=shown(raw[:_RAW_LIMIT]))


def record_reason(exc: Exception) -> str:
    """Return the quarantine reason for a conversion that failed."""
    if isinstance(exc, KeyError):
        return f"field {exc.args[0]!r:.60} is missing" if exc.args else "a field is missing"
    if isinstance(exc, ValueError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return f"malformed item ({type(exc).__name__}: {str(exc)[:200]})"


def as_text(value: object, *, lists: bool = False) -> str:
    """Return a scalar field value as text ('' for None); with ``lists``, a list's items joined.

    An object (and, without ``lists``, a list) is a ValueError: its text would be a wrong accept.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and lists:
        return "; ".join(as_text(item) for item in value)
    if isinstance(value, dict | list):
        raise ValueError(f"a JSON {'object' if isinstance(value, dict) else 'list'} where "
                         f"text was expected")
    return str(value)


def as_object(value: object) -> dict[str, Any]:
    """Return a JSON object field, {} when absent; ValueError when it is something else."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{_brief(value)} where a JSON object was expected")
    return value


def page_object(page: object, where: str) -> dict[str, Any]:
    """Return a page (or a page's meta object) that must be a JSON object; SourceError if not."""
    if not isinstance(page, dict):
        raise SourceError(f"{where}: the answer is not a JSON object; the next cycle tries again")
    return page


def page_items(page: object, key: str, where: str) -> list[Any]:
    """Return a page's list of items; a page that is not so is the source's error, not a record's.

    Skipping such a page would lose its records, so the step stops and the next cycle retries.
    """
    value = page.get(key) if isinstance(page, dict) else None
    if value is None and isinstance(page, dict):
        return []
    if not isinstance(value, list):
        raise SourceError(f"{where}: the page has no list {key!r}; the next cycle tries again")
    return value


@dataclass(slots=True)
class Watermark:
    """The highest replication-key value seen, with the ids at it.

    Vendors whose ``since`` filter is inclusive replay the records at the watermark; ``seen``
    drops them.
    """

    at: int = 0
    ids: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, data: object) -> Watermark:
        """Return a watermark from its bookmark form."""
        if isinstance(data, dict):
            return cls(int(data.get("at", 0)), {str(i) for i in data.get("ids", [])})
        return cls()

    def dump(self) -> dict[str, Any]:
        """Return the bookmark form."""
        return {"at": self.at, "ids": sorted(self.ids)}

    def seen(self, rid: str, at: int) -> bool:
        """Return whether a record is at or before this watermark and already emitted."""
        return at < self.at or (at == self.at and rid in self.ids)

    def advance(self, rid: str, at: int) -> None:
        """Note a record's replication-key value."""
        if at > self.at:
            self.at, self.ids = at, {rid}
        elif at == self.at:
            self.ids.add(rid)


def field_tags(values: Mapping[str, object], tag_fields: Mapping[str, str]) -> list[str]:
    """Return the tags chosen fields carry: their values; a ticked checkbox gives its name."""
    tags: list[str] = []
    for key, name in tag_fields.items():
        value = values.get(key)
        if value is True:
            tags.append(name)
        elif isinstance(value, list):
            tags.extend(str(v) for v in value if v not in (None, ""))
        elif value not in (None, "", False):
            tags.append(str(value))
    return tags


def field_segments(values: Mapping[str, object], segment_fields: Mapping[str, str],
                   extra: Iterable[tuple[str, str | None]] = ()) -> tuple[tuple[str, str], ...]:
    """Return (segment, value) pairs from chosen fields plus known extras (e.g. the plan)."""
    pairs = {(name, str(values[key])) for key, name in segment_fields.items()
             if values.get(key) not in (None, "", False)}
    pairs |= {(name, value) for name, value in extra if value}
    return tuple(sorted(pairs))


def amount(value: object, multiplier: float = 1.0) -> float | None:
    """Return a money field as a number times ``multiplier``; None when empty; ValueError if bad.

    Text must be an ASCII decimal; the result must be finite and from 0 to 10**18.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            number = ascii_number(value.strip())
        except ValueError:
            raise ValueError(f"amount {value[:40]!r} is not a number") from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError("amount (a very long number) is not a finite number") from None
    else:
        raise ValueError(f"amount {_brief(value)} is not a number")
    return check_arr(number * multiplier, value)
