"""How every live source talks HTTP under :mod:`impactlink.http_policy`, and the boundary
helpers they share.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import httpx

from impactlink import __version__, http_policy
from impactlink.config import HttpSourceSettings, read_secret
from impactlink.errors import ImpactlinkError, SourceAuthError, SourceError
from impactlink.http_policy import Backoff, Clock, Pacer, RetryPolicy, Sleep, StatusTable, Stop
from impactlink.observe import HttpEvent, notify
from impactlink.sources.payloads import (
    RECORD_ERRORS,
    Watermark,
    amount,
    as_object,
    as_text,
    default_since,
    dump_bookmark,
    epoch,
    field_segments,
    field_tags,
    ident,
    iso,
    load_bookmark,
    optional_ident,
    page_items,
    page_object,
    parse_time,
    record_reason,
    reject,
)

__all__ = [
    "RECORD_ERRORS", "USER_AGENT", "Clock", "HttpSession", "HttpSource", "Pacer", "Policy",
    "Sleep", "Watermark", "amount", "as_object", "as_text", "default_since", "demanded_wait",
    "dump_bookmark", "epoch", "field_segments", "field_tags", "ident", "iso", "load_bookmark",
    "optional_ident", "page_items", "page_object", "parse_time", "record_reason", "reject",
]

C = TypeVar("C", bound=HttpSourceSettings)

USER_AGENT = f"impactlink/{__version__}"
STATUSES = StatusTable()
"""Sources retry every 5xx: their requests only read."""


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
        self._retry = RetryPolicy(policy.max_retries, policy.max_retry_wait_seconds,
                                  Backoff(1.0, policy.max_retry_wait_seconds))

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
                outcome = STATUSES.classify(status)
                if outcome == "ok" or (status == 404 and missing_ok):
                    return response
                if outcome == "auth":
                    raise SourceAuthError(self._auth_message(status, where))
                if outcome == "fatal":
                    raise SourceError(f"{self.policy.source}: {self.policy.vendor} answered "
                                      f"HTTP {status} to {where}")
                failure = f"HTTP {status} on {where}"
            demanded = (http_policy.demanded_wait(response.headers, self._clock())
                        if response is not None else None)
            wait = self._retry.next_wait(attempt, demanded)
            if isinstance(wait, Stop):
                raise SourceError(self._stop_message(wait, attempt, failure))
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
        """Return the JSON body; invalid UTF-8 is kept as lone surrogates for sources.screen."""
        where = path.split("?")[0]
        try:
            # NOTE: surrogateescape instead of failing the whole page on one bad byte: the
            # screen replaces it with U+FFFD in free text and refuses it in an id.
            text = response.content.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
            return json.loads(text)
        except RecursionError:
            raise SourceError(f"{self.policy.source}: {self.policy.vendor} sent a body nested "
                              f"too deeply to read for {where}") from None
        except ValueError:
            raise SourceError(f"{self.policy.source}: {self.policy.vendor} sent a body that "
                              f"is not JSON for {where}") from None

    def _stop_message(self, stop: Stop, attempt: int, failure: str) -> str:
        if stop.reason == "retries":
            return (f"{self.policy.source}: {self.policy.vendor} still failing after {attempt} "
                    f"retries ({failure}); the next cycle resumes from the stored cursor")
        return (f"{self.policy.source}: {self.policy.vendor} asks to wait {stop.seconds:.0f} s "
                f"({failure}), more than max_retry_wait_seconds = "
                f"{self.policy.max_retry_wait_seconds:g}; the next cycle resumes from the "
                f"stored cursor")

    def _auth_message(self, status: int, where: str) -> str:
        refused = "refused the credentials" if status == 401 else "denied access"
        return (f"{self.policy.source}: {self.policy.vendor} {refused} (HTTP {status} on "
                f"{where}) — {self.policy.auth_fix}")


def demanded_wait(response: httpx.Response, now: float) -> float | None:
    """Return the seconds the vendor asks to wait (Retry-After, reset headers), if it says."""
    return http_policy.demanded_wait(response.headers, now)


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
