"""The jira library, configured for impactlink: auth per flavor, one retry policy, a write budget.

NOTE: jira's ResilientSession retries 429/503 itself but caps each wait at max_retry_delay
(60 s), doubles Retry-After with jitter, sleeps with time.sleep and re-sends POSTs. It is
built here with max_retries=0, and :meth:`JiraClient.call` retries under
:mod:`impactlink.http_policy` instead: the full Retry-After, an injectable sleep, a bound, and
BudgetExhausted past max_retry_wait_seconds.
A 500 is retried too when the request only reads; writes are spaced by
seconds_between_writes, as PyGithub spaces GitHub's.
https://developer.atlassian.com/cloud/jira/platform/rate-limiting/
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import requests
from jira import JIRA, JIRAError

from impactlink import http_policy
from impactlink.config import JiraTrackerConfig, read_secret
from impactlink.errors import BudgetExhausted, ConfigError, TrackerAuthError, TrackerError
from impactlink.http_policy import Backoff, Pacer, RetryPolicy, StatusTable, Stop
from impactlink.observe import HttpEvent, notify

log = logging.getLogger(__name__)

T = TypeVar("T")
Flavor = Literal["cloud", "datacenter"]
WRITE_STATUSES = StatusTable(frozenset({502, 503, 504}))
READ_STATUSES = StatusTable(frozenset({500, 502, 503, 504}))
"""A 500 is retried only when the request reads: a write may have applied."""
_BACKOFF = Backoff(2.0, 60.0)
_READ_POSTS = ("issue/bulkfetch", "jql/parse", "search")


class JiraHTTPError(TrackerError):
    """Jira answered a request with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class JiraAuthError(JiraHTTPError, TrackerAuthError):
    """Jira refused the credentials (401) or the permission (403)."""


def retry_after(response: Any, now: float) -> float | None:
    """Return the seconds a Retry-After header asks for (delta or HTTP date), or None."""
    return http_policy.retry_after(getattr(response, "headers", None) or {}, now)


class JiraClient:
    """One connection to one Jira site, made on first use."""

    def __init__(self, config: JiraTrackerConfig, base_dir: Path, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._base_dir = base_dir
        self._sleep = sleep
        self._clock = clock
        self._jira: JIRA | None = None
        self.flavor: Flavor | None = None if config.flavor == "auto" else config.flavor
        self.server_info: dict[str, Any] = {}
        self.writes = 0
        self.notify_off_allowed = True
        self._retry = RetryPolicy(config.max_retries, config.max_retry_wait_seconds, _BACKOFF)
        # From the end of the last write, so that a slow write never shortens the gap.
        self._pacer = Pacer(config.seconds_between_writes, sleep, time.monotonic)

    @property
    def cloud(self) -> bool:
        self.jira()
        return self.flavor == "cloud"

    def start_cycle(self) -> None:
        """Reset the write allowance: a cycle starts."""
        self.writes = 0

    def jira(self) -> JIRA:
        """Return the client, detecting the flavor from serverInfo when it is "auto"."""
        if self._jira is None:
            auth = self._auth()
            if self.flavor is None:
                probe = self._build("2", auth)
                try:
                    self.server_info = self.call("read serverInfo", probe.server_info,
                                                 read=True)
                finally:
                    probe.close()  # type: ignore[no-untyped-call]
                kind = str(self.server_info.get("deploymentType") or "")
                self.flavor = "cloud" if kind == "Cloud" else "datacenter"
            self._jira = self._build("3" if self.flavor == "cloud" else "2", auth)
            self._jira.deploymentType = "Cloud" if self.flavor == "cloud" else "Server"
        return self._jira

    def _auth(self) -> dict[str, Any]:
        c = self._config
        token = read_secret("tracker (jira) token", c.token_env, c.token_file, self._base_dir)
        email_secret = read_secret("tracker (jira) email", c.email_env, c.email_file,
                                   self._base_dir, required=False)
        assert token is not None
        if email_secret is not None:
            return {"basic_auth": (email_secret.get_secret_value(), token.get_secret_value())}
        if c.flavor == "cloud":
            raise ConfigError("tracker (jira): Jira Cloud needs email_env (the account's email) "
                              "besides token_env (its API token)")
        return {"token_auth": token.get_secret_value()}

    def _build(self, version: str, auth: dict[str, Any]) -> JIRA:
        return JIRA(server=self._config.url.rstrip("/"),
                    options={"rest_api_version": version, "check_update": False},
                    get_server_info=False, max_retries=0,
                    timeout=self._config.timeout_seconds, **auth)

    def call(self, what: str, fn: Callable[[], T], *, read: bool = False) -> T:
        """Run one request, or one idempotent step of requests, with the retry policy.

        ``read``: fn only reads, so a 500 is retried as well.
        """
        statuses = READ_STATUSES if read else WRITE_STATUSES
        attempt = 0
        while True:
            try:
                return fn()
            except JIRAError as exc:
                status = exc.status_code or 0
                if statuses.classify(status) not in ("retriable", "rate_limited"):
                    raise _error(what, status, exc) from None
                demanded = retry_after(exc.response, self._clock())
                reason = f"HTTP {status}"
            except (requests.ConnectionError, requests.Timeout) as exc:
                demanded, reason = None, type(exc).__name__
            wait = self._retry.next_wait(attempt, demanded)
            if isinstance(wait, Stop):
                raise BudgetExhausted(self._stop_message(wait, what, reason))
            attempt += 1
            log.warning("Jira answered %s to %s; retrying in %.0f s", reason, what, wait)
            notify(HttpEvent("wait", "jira", "jira", seconds=wait,
                             rate_limited=reason == "HTTP 429"))
            self._sleep(wait)

    def _stop_message(self, stop: Stop, what: str, reason: str) -> str:
        if stop.reason == "retries":
            return f"{what}: still {reason} after {self._config.max_retries} retries"
        return (f"Jira answered {reason} to {what} and asks to wait {stop.seconds:.0f} s, more "
                f"than max_retry_wait_seconds = {self._config.max_retry_wait_seconds:.0f}")

    def raw(self, method: str, path: str, body: Any = None,
            params: dict[str, Any] | None = None) -> Any:
        """Send one request once (writes count against max_writes_per_run); return its JSON."""
        jira = self.jira()
        write = not _reads(method, path)
        if write:
            if self.writes >= self._config.max_writes_per_run:
                raise BudgetExhausted(f"max_writes_per_run = {self._config.max_writes_per_run} "
                                      f"reached before {method} {path}")
            self.writes += 1
            self._pacer.wait()
        data = None if body is None else json.dumps(body)
        # NOTE: the library's update()/add_comment() read the issue back or wrap the answer
        # in resources; a plain request through its session keeps one write one request.
        try:
            r = jira._session.request(method, jira._get_url(path), params=params, data=data)
        except JIRAError as exc:
            notify(HttpEvent("request", "jira", "jira", exc.status_code))
            raise
        except requests.RequestException:
            notify(HttpEvent("request", "jira", "jira"))
            raise
        finally:
            if write:
                self._pacer.mark()
        notify(HttpEvent("request", "jira", "jira", r.status_code))
        return r.json() if r.content else None

    def get(self, what: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET a path under this flavor's REST root, with retries."""
        return self.call(what, lambda: self.raw("GET", path, params=params), read=True)

    def send(self, what: str, method: str, path: str, body: Any = None,
             params: dict[str, Any] | None = None) -> Any:
        """Send an idempotent request (a PUT, a read by POST), with retries."""
        return self.call(what, lambda: self.raw(method, path, body, params),
                         read=_reads(method, path))

    def search_page(self, jql: str, fields: list[str], *, limit: int, token: str | None = None,
                    start: int = 0, validate: str = "strict") -> dict[str, Any]:
        """Return one page of a search: Cloud by nextPageToken, Data Center by startAt."""
        jira = self.jira()
        if self.cloud:
            def cloud() -> dict[str, Any]:
                page: dict[str, Any] = jira.enhanced_search_issues(
                    jql, nextPageToken=token, maxResults=limit, fields=list(fields),
                    json_result=True)
                return page

            return self.call("search issues", cloud, read=True)
        # NOTE: the library's search_issues() sends validateQuery as a Python bool ("True");
        # Data Center documents strict|warn|none, and warn is what keeps an unknown key
        # from failing the whole search. https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/#api/2/search
        params = {"jql": jql, "startAt": start, "maxResults": limit, "fields": ",".join(fields),
                  "validateQuery": validate}
        page = self.get("search issues", "search", params)
        return page if isinstance(page, dict) else {}

    def close(self) -> None:
        if self._jira is not None:
            self._jira.close()  # type: ignore[no-untyped-call]
            self._jira = None


def _reads(method: str, path: str) -> bool:
    """Tell whether a request only reads (a GET, or a search sent by POST)."""
    return method == "GET" or path.startswith(_READ_POSTS)


def _error(what: str, status: int, exc: JIRAError) -> JiraHTTPError:
    text = str(exc.text or "").strip() or "no message"
    if status == 401:
        return JiraAuthError(401, f"Jira refused the credentials while trying to {what}: "
                                  f"check email_env/token_env (Cloud: email + API token; Data "
                                  f"Center: a personal access token)")
    if status == 403:
        return JiraAuthError(403, f"Jira forbade {what}: {text}")
    return JiraHTTPError(status, f"{what}: HTTP {status}: {text}")
