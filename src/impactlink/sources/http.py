"""The one HTTP policy every live source uses, and the boundary helpers they share.

Policy: explicit timeouts, ``User-Agent: impactlink/<version>``, and a bounded retry loop.

    transport error, 429, 5xx  retriable: wait Retry-After (seconds or HTTP date), else the
                               vendor's reset header (epoch or seconds), else 1, 2, 4 ... s;
                               at most ``max_retries`` times, never longer than
                               ``max_retry_wait_seconds`` at once (a longer demand stops the
                               step: the next cycle resumes from the stored cursor)
    401, 403                   SourceAuthError naming the source and what to fix
    other 4xx                  SourceError (fatal for this step)
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import httpx

from impactlink import __version__
from impactlink.config import HttpSourceSettings, read_secret
from impactlink.core.models import Rejected
from impactlink.errors import ImpactlinkError, SourceAuthError, SourceError
from impactlink.observe import HttpEvent, notify

Sleep = Callable[[float], None]
C = TypeVar("C", bound=HttpSourceSettings)
Clock = Callable[[], float]


USER_AGENT = f"impactlink/{__version__}"
_RESET_HEADERS = ("ratelimit-reset", "x-ratelimit-reset", "x-rate-limit-reset")
_EPOCH_THRESHOLD = 1_000_000_000  # a reset value this large is an epoch, not a delay
_RAW_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Policy:
    """How one source talks HTTP: where, as whom, and how patiently."""

    source: str
    vendor: str
    base_url: str
    headers: Mapping[str, str] = field(repr=False)  # carries the credentials
    auth_fix: str = ""
    timeout_seconds: float = 30.0
    max_retries: int = 5
    max_retry_wait_seconds: float = 120.0


class HttpSession:
    """Send requests under a Policy; the only place a source meets httpx."""

    def __init__(self, policy: Policy, *, client: httpx.Client | None = None,
                 sleep: Sleep = time.sleep, clock: Clock = time.time) -> None:
        self.policy = policy
        self._own_client = client is None
        self._client = client or httpx.Client(timeout=httpx.Timeout(policy.timeout_seconds))
        self._sleep = sleep
        self._clock = clock

    def url(self, path: str) -> str:
        """Return an absolute URL for a vendor path (absolute URLs pass through)."""
        if path.startswith(("http://", "https://")):
            return path
        return self.policy.base_url.rstrip("/") + "/" + path.lstrip("/")

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json_body: Any = None, missing_ok: bool = False) -> httpx.Response:
        """Send one request, retrying what is transient; raise what is not (404 passes
        through when ``missing_ok``)."""
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json",
                   **self.policy.headers}
        where = f"{method} {path.split('?')[0]}"
        attempt = 0
        while True:
            response: httpx.Response | None = None
            try:
                response = self._client.request(method, self.url(path), params=params,
                                                json=json_body, headers=headers)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__} on {where}"
                notify(HttpEvent("request", self.policy.source, self.policy.vendor))
            else:
                status = response.status_code
                notify(HttpEvent("request", self.policy.source, self.policy.vendor, status))
                if status < 400 or (status == 404 and missing_ok):
                    return response
                if status in (401, 403):
                    raise SourceAuthError(self._auth_message(status, where))
                if status != 429 and status < 500:
                    raise SourceError(f"{self.policy.source}: {self.policy.vendor} answered "
                                      f"HTTP {status} to {where}")
                failure = f"HTTP {status} on {where}"
            if attempt >= self.policy.max_retries:
                raise SourceError(f"{self.policy.source}: {self.policy.vendor} still failing "
                                  f"after {attempt} retries ({failure}); the next cycle resumes "
                                  f"from the stored cursor")
            wait = self._wait(response, attempt, failure)
            notify(HttpEvent("wait", self.policy.source, self.policy.vendor,
                              seconds=wait, rate_limited=response is not None
                              and response.status_code == 429))
            self._sleep(wait)
            attempt += 1

    def get_json(self, path: str, params: Mapping[str, Any] | None = None, *,
                 missing_ok: bool = False) -> Any:
        """GET a JSON document; None for a 404 when ``missing_ok`` (e.g. a deleted company)."""
        response = self.request("GET", path, params=params, missing_ok=missing_ok)
        return None if response.status_code == 404 else self._decode(response, path)

    def get_page(self, path: str, params: Mapping[str, Any]) -> tuple[Any, str | None]:
        """GET a JSON page and the ``rel="next"`` URL of its Link header, if any."""
        response = self.request("GET", path, params=params)
        return self._decode(response, path), response.links.get("next", {}).get("url")

    def post_json(self, path: str, body: Any) -> Any:
        """POST a JSON body and return the JSON answer."""
        return self._decode(self.request("POST", path, json_body=body), path)

    def close(self) -> None:
        """Close the client if this session created it."""
        if self._own_client:
            self._client.close()

    def _decode(self, response: httpx.Response, path: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise SourceError(f"{self.policy.source}: {self.policy.vendor} sent a body that "
                              f"is not JSON for {path.split('?')[0]}") from None

    def _wait(self, response: httpx.Response | None, attempt: int, failure: str) -> float:
        demanded = demanded_wait(response, self._clock()) if response is not None else None
        if demanded is None:
            return float(min(2.0 ** attempt, self.policy.max_retry_wait_seconds))
        if demanded > self.policy.max_retry_wait_seconds:
            raise SourceError(f"{self.policy.source}: {self.policy.vendor} asks to wait "
                              f"{demanded:.0f} s ({failure}), more than max_retry_wait_seconds "
                              f"= {self.policy.max_retry_wait_seconds:g}; the next cycle "
                              f"resumes from the stored cursor")
        return demanded

    def _auth_message(self, status: int, where: str) -> str:
        refused = "refused the credentials" if status == 401 else "denied access"
        return (f"{self.policy.source}: {self.policy.vendor} {refused} (HTTP {status} on "
                f"{where}) — {self.policy.auth_fix}")


def demanded_wait(response: httpx.Response, now: float) -> float | None:
    """Return the seconds the vendor asks to wait (Retry-After, reset headers), if it says."""
    retry_after = response.headers.get("retry-after")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(retry_after).timestamp() - now)
            except (TypeError, ValueError):
                pass
    for name in _RESET_HEADERS:
        value = response.headers.get(name)
        try:
            seconds = float(value) if value else None
        except ValueError:
            seconds = None
        if seconds is not None:
            # NOTE: Intercom's X-RateLimit-Reset is an epoch; IETF RateLimit-Reset is a delay.
            return max(0.0, seconds - now if seconds > _EPOCH_THRESHOLD else seconds)
    return None


class Pacer:
    """Space calls at least ``interval`` seconds apart (a vendor's per-minute allowance)."""

    def __init__(self, interval: float, sleep: Sleep, clock: Clock) -> None:
        self._interval = interval
        self._sleep = sleep
        self._clock = clock
        self._last: float | None = None

    def wait(self) -> None:
        """Sleep until the next call is allowed, then note it."""
        now = self._clock()
        if self._last is not None and now - self._last < self._interval:
            self._sleep(self._interval - (now - self._last))
            now = self._last + self._interval
        self._last = now


# -- boundary helpers shared by the sources ------------------------------------------------


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


class HttpSource(ABC, Generic[C]):
    """What every HTTP source shares: its config, a session built on first use, check, close.

    A vendor module says how to authenticate (``headers``), where the API lives by default
    (``default_base_url``), what to fix on a 401/403 (``auth_fix``) and which cheap request
    proves the credentials (``check_path``).
    """

    vendor: ClassVar[str]
    auth_fix: ClassVar[str]
    check_path: ClassVar[str]

    def __init__(self, config: C, base_dir: Path, *, client: httpx.Client | None = None,
                 sleep: Sleep = time.sleep, clock: Clock = time.time) -> None:
        self.name = config.name
        self.config = config
        self._base_dir = base_dir
        self._client = client
        self._sleep = sleep
        self._clock = clock
        self._session: HttpSession | None = None

    @abstractmethod
    def default_base_url(self) -> str:
        """Return the API's address when the config sets no base_url."""

    @abstractmethod
    def headers(self) -> dict[str, str]:
        """Return the authentication headers (secrets are read here, on first use)."""

    def secret(self, env: str | None, file: Path | None = None) -> str:
        """Return a secret from the environment or a file ('' when not configured)."""
        value = read_secret(self.name, env, file, self._base_dir)
        return value.get_secret_value() if value else ""

    @property
    def http(self) -> HttpSession:
        """The HTTP session, built on first use (credentials are read then)."""
        if self._session is None:
            c = self.config
            self._session = HttpSession(
                Policy(c.name, self.vendor, c.base_url or self.default_base_url(),
                       self.headers(), self.auth_fix, c.timeout_seconds, c.max_retries,
                       c.max_retry_wait_seconds),
                client=self._client, sleep=self._sleep, clock=self._clock)
        return self._session

    def check(self) -> list[str]:
        """Return problems found with one cheap authenticated request."""
        try:
            self.http.get_json(self.check_path)
        except ImpactlinkError as exc:
            return [str(exc)]
        return []

    def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            self._session.close()
