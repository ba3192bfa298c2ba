"""What the HTTP sources share at their boundary: bookmarks, vendor times, fields, rejects."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from impactlink.core.models import Rejected
from impactlink.errors import SourceError

Clock = Callable[[], float]
_RAW_LIMIT = 2000


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
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        raise ValueError(f"time {value!r} is not text or a number")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"time {value!r} is not ISO 8601") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


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
    raw = json.dumps(item, default=str, ensure_ascii=False)
    return Rejected(source=source, location=f"{endpoint} id={rid}", reason=reason,
                    raw=raw[:_RAW_LIMIT])


def as_text(value: object) -> str:
    """Return a scalar field value as text ('' for None)."""
    return "" if value is None else str(value)


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
    """Return a money field as a number times ``multiplier``; None when empty; ValueError if bad."""
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise ValueError(f"amount {value!r} is not a number")
    number = float(value) if isinstance(value, int | float | str) else float("nan")
    if number != number:
        raise ValueError(f"amount {value!r} is not a number")
    return number * multiplier
