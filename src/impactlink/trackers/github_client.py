"""The GitHub HTTP policy: PyGithub's requester, rate limits, write budget, ETags, errors.

Every REST and GraphQL request of the GitHub tracker goes through :class:`GithubClient`,
which follows :mod:`impactlink.http_policy`: it maps status codes to the few exceptions of
:mod:`impactlink.errors`, waits out short rate limits with the injected ``sleep`` and stops
the cycle (BudgetExhausted) on long ones. Writes are spaced by PyGithub's own
``seconds_between_writes``, which it applies to every write it sends.

NOTE: PyGithub's default GithubRetry re-sends POST on 5xx (a comment can be posted twice)
and sleeps inside urllib3 on rate limits, unbounded and out of our reach. So urllib3 only
retries transport failures here, for GET; status codes are handled below, where the wait
is capped and a POST is re-sent only when the caller says it is idempotent.
https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api
"""

from __future__ import annotations

import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import requests
from github import Auth, Github, GithubException
from urllib3.util.retry import Retry

from impactlink.config import GithubTrackerConfig, read_secret
from impactlink.errors import BudgetExhausted, ConfigError, TrackerAuthError, TrackerError
from impactlink.http_policy import (
    Backoff,
    RetryPolicy,
    StatusTable,
    Stop,
    reset_wait,
    retry_after,
)
from impactlink.observe import HttpEvent, notify

MAX_ATTEMPTS = 4
STATUSES = StatusTable()
_BACKOFF = Backoff(2.0, 30.0)
SECONDARY_WAIT = 60.0
"""NOTE: GitHub asks to wait at least a minute after a secondary limit without Retry-After."""
_ETAG_ENTRIES = 20_000
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
_WRITES = {"POST", "PATCH", "PUT", "DELETE"}


class GithubHTTPError(TrackerError):
    """GitHub answered with an error status the caller may handle (404, 422, ...)."""

    def __init__(self, message: str, status: int, data: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.data = data


class Reply(NamedTuple):
    status: int
    headers: Mapping[str, str]
    data: Any


def build_auth(config: GithubTrackerConfig, base_dir: Path) -> Auth.Auth:
    """Return a token auth, or a GitHub App installation auth that renews its token."""
    if config.app_id is not None:
        if config.installation_id is None:
            raise ConfigError("tracker: app_id needs installation_id (the number in the URL of "
                              "the app's installation settings page)")
        key = read_secret("tracker (GitHub App private key)", config.private_key_env,
                          config.private_key_file, base_dir)
        assert key is not None
        _check_private_key(key.get_secret_value(), config)
        app = Auth.AppAuth(config.app_id, key.get_secret_value())
        return Auth.AppInstallationAuth(app, config.installation_id)
    token = read_secret("tracker", config.token_env, config.token_file, base_dir)
    assert token is not None
    return Auth.Token(token.get_secret_value())


def _check_private_key(pem: str, config: GithubTrackerConfig) -> None:
    """Refuse a key that is not an RSA private key in PEM, before the first request needs it."""
    # PyGithub depends on PyJWT with its crypto extra: cryptography is installed with it.
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    where = (f"private_key_file {config.private_key_file}" if config.private_key_file
             else f"${config.private_key_env}")
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"tracker: the GitHub App private key ({where}) is not a PEM private "
                          "key; download a new one from the app's settings page") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"tracker: the GitHub App private key ({where}) is not an RSA key")


class GithubClient:
    """Sends requests serially, within the rate limits and the cycle's write allowance."""

    def __init__(self, config: GithubTrackerConfig, auth: Auth.Auth, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self._github = Github(
            auth=auth, base_url=config.api_url.rstrip("/"), per_page=100, timeout=30,
            retry=Retry(total=2, connect=2, read=2, status=0, other=0, backoff_factor=0.5,
                        allowed_methods=frozenset({"GET"}), raise_on_status=False),
            seconds_between_requests=config.seconds_between_requests or None,
            seconds_between_writes=config.seconds_between_writes or None,
        )
        self._requester = self._github.requester
        self._sleep = sleep
        self._clock = clock
        self._max_wait = config.max_rate_limit_wait_seconds
        self._retry = RetryPolicy(MAX_ATTEMPTS - 1, self._max_wait, _BACKOFF)
        self._max_writes = config.max_writes_per_run
        self._app = config.app_id is not None
        self._etags: OrderedDict[str, tuple[str, Any, str | None]] = OrderedDict()
        self._blocked_until: dict[str, float] = {}
        self.requests = 0
        self.writes = 0

    @property
    def graphql_url(self) -> str:
        return str(self._requester.graphql_url)

    def start_cycle(self) -> None:
        """Reset the write allowance (max_writes_per_run counts per cycle)."""
        self.writes = 0

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET one resource, conditionally when it was read before (a 304 costs no budget)."""
        return self._get(path, params)[0]

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[list[Any]]:
        """Yield each page of a list, following the Link header."""
        url: str | None = path
        while url is not None:
            data, url = self._get(url, params)
            params = None
            yield list(data or [])

    def send(self, method: str, path: str, body: Any = None, *,
             idempotent: bool = True) -> Any:
        """Send a write; a 5xx is retried only when the write is idempotent."""
        return self._request(method, path, None, body, {}, retry_5xx=idempotent,
                             resource="core").data

    def graphql(self, query: str, variables: Mapping[str, Any], *,
                mutation: bool = False, idempotent: bool = True) -> dict[str, Any]:
        """Run a GraphQL document; a RATE_LIMITED error inside a 200 is waited out or stops."""
        result, errors = self._graphql(query, variables, mutation=mutation,
                                       idempotent=idempotent)
        if errors:
            raise _graphql_error(errors)
        return result

    def graphql_partial(self, query: str, variables: Mapping[str, Any]
                        ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Run a query whose fields may fail one by one; return the data and the errors."""
        return self._graphql(query, variables, mutation=False, idempotent=True)

    def _graphql(self, query: str, variables: Mapping[str, Any], *, mutation: bool,
                 idempotent: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        reply = self._request("POST", self.graphql_url, None,
                              {"query": query, "variables": dict(variables)}, {},
                              retry_5xx=idempotent or not mutation, resource="graphql",
                              write=mutation)
        data = reply.data if isinstance(reply.data, dict) else {}
        errors = [e if isinstance(e, dict) else {"message": str(e)}
                  for e in data.get("errors") or []]
        result = data.get("data")
        return (result if isinstance(result, dict) else {}), errors

    def close(self) -> None:
        self._github.close()

    def _get(self, url: str, params: Mapping[str, Any] | None) -> tuple[Any, str | None]:
        key = url + ("?" + json.dumps(sorted(params.items())) if params else "")
        cached = self._etags.get(key)
        headers = {"If-None-Match": cached[0]} if cached else {}
        reply = self._request("GET", url, params, None, headers, retry_5xx=True, resource="core")
        if reply.status == 304 and cached is not None:
            self._etags.move_to_end(key)
            return cached[1], cached[2]
        match = _NEXT.search(reply.headers.get("link", ""))
        following = match.group(1) if match else None
        etag = reply.headers.get("etag")
        if etag:
            self._etags[key] = (etag, reply.data, following)
            self._etags.move_to_end(key)
            while len(self._etags) > _ETAG_ENTRIES:
                self._etags.popitem(last=False)
        return reply.data, following

    def _request(self, method: str, url: str, params: Mapping[str, Any] | None, body: Any,
                 headers: dict[str, str], *, retry_5xx: bool, resource: str,
                 write: bool | None = None) -> Reply:
        write = method in _WRITES if write is None else write
        for attempt in range(1, MAX_ATTEMPTS + 1):
            self._await_reset(resource)
            if write:
                self._spend_write()
            status, raw_headers, text = self._send(method, url, params, body, headers, attempt)
            if status == 0:
                continue
            reply_headers = {k.lower(): str(v) for k, v in raw_headers.items()}
            self._note_budget(reply_headers, resource)
            data = _json(text)
            now = self._clock()
            limit = _rate_limit_wait(status, reply_headers, data, now)
            outcome = STATUSES.classify(status, rate_limited=limit is not None)
            if outcome == "ok":
                return Reply(status, reply_headers, data)
            if outcome == "rate_limited" or (outcome == "retriable" and retry_5xx):
                why = (f"rate limit on {method} {_short(url)}" if limit is not None
                       else f"GitHub {status} on {method} {_short(url)}")
                # A 5xx's "Retry-After: 0" means no advice: back off instead.
                demanded = limit if limit is not None else retry_after(reply_headers, now) or None
                wait = self._retry.next_wait(attempt - 1, demanded)
                if isinstance(wait, Stop) and wait.reason == "retries":
                    if limit is not None:
                        raise BudgetExhausted(f"GitHub kept answering rate limited to {method} "
                                              f"{_short(url)}; the next cycle resumes")
                    raise self._error(method, url, status, data)
                self._pause(wait, why)
                if limit is not None:
                    self._blocked_until.pop(resource, None)
                continue
            raise self._error(method, url, status, data)
        raise TrackerError(f"{method} {_short(url)}: GitHub unreachable after {MAX_ATTEMPTS} "
                           f"attempts; the next cycle retries")

    def _send(self, method: str, url: str, params: Mapping[str, Any] | None, body: Any,
              headers: dict[str, str], attempt: int) -> tuple[int, Mapping[str, Any], str]:
        self.requests += 1
        try:
            status, raw_headers, text = self._requester.requestJson(
                method, url, dict(params) if params else None, dict(headers), body)
            notify(HttpEvent("request", "github", "github", int(status)))
        except GithubException as exc:
            # Raised while exchanging the App's JWT for an installation token.
            if exc.status >= 500 or exc.status == 429:
                raise TrackerError(f"GitHub App token exchange failed ({exc.status}); the next "
                                   f"cycle retries") from None
            raise TrackerAuthError(
                f"GitHub App authentication failed ({exc.status}): check app_id, the private "
                f"key and installation_id, and that the app is installed on the repositories"
            ) from None
        except requests.RequestException as exc:
            notify(HttpEvent("request", "github", "github"))
            wait = self._retry.next_wait(attempt - 1)
            if method == "GET" and not isinstance(wait, Stop):
                notify(HttpEvent("wait", "github", "github", seconds=wait))
                self._sleep(wait)
                return 0, {}, ""
            raise TrackerError(f"{method} {_short(url)}: {type(exc).__name__}; "
                               f"the next cycle retries") from None
        return int(status), raw_headers, text

    def _spend_write(self) -> None:
        if self.writes >= self._max_writes:
            raise BudgetExhausted(f"max_writes_per_run ({self._max_writes}) reached; "
                                  f"the next cycle resumes")
        self.writes += 1

    def _note_budget(self, headers: Mapping[str, str], resource: str) -> None:
        name = headers.get("x-ratelimit-resource", resource)
        reset = headers.get("x-ratelimit-reset", "")
        if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
            self._blocked_until[name] = float(reset) + 1

    def _await_reset(self, resource: str) -> None:
        until = self._blocked_until.get(resource)
        if until is None:
            return
        wait = until - self._clock()
        if wait > 0:
            self._pause(self._retry.within_budget(wait), f"{resource} rate limit spent")
        self._blocked_until.pop(resource, None)

    def _pause(self, wait: float | Stop, why: str) -> None:
        if isinstance(wait, Stop):
            raise BudgetExhausted(f"{why}: GitHub asks to wait {wait.seconds:.0f} s, more than "
                                  f"max_rate_limit_wait_seconds ({self._max_wait:.0f}); "
                                  f"the next cycle resumes")
        notify(HttpEvent("wait", "github", "github", seconds=wait, rate_limited=True))
        self._sleep(wait)

    def _error(self, method: str, url: str, status: int, data: Any) -> TrackerError:
        message = data.get("message", "") if isinstance(data, dict) else ""
        where = f"{method} {_short(url)}"
        if status == 401:
            fix = ("check app_id, the private key and installation_id" if self._app else
                   "the token is wrong, expired or revoked: create a new one and update "
                   "token_env / token_file")
            return TrackerAuthError(f"GitHub refused the credentials (401 {message}): {fix}")
        if status == 403:
            return TrackerAuthError(
                f"{where}: forbidden (403 {message}): grant Issues read and write on the "
                f"repository (classic token: repo scope; GitHub App: Issues permission), and "
                f"for project fields Projects read and write (classic token: project scope)")
        if status == 404:
            return GithubHTTPError(f"{where}: not found (404); check the name, and that the "
                                   f"credentials can see it (GitHub answers 404 without access)",
                                   status, data)
        return GithubHTTPError(f"{where}: GitHub answered {status} {message}".rstrip(),
                               status, data)


def _json(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"message": text[:200]}


def _short(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url).split("?")[0]


def _rate_limit_wait(status: int, headers: Mapping[str, str], data: Any,
                     now: float) -> float | None:
    """Return how long GitHub asks to wait, or None when the answer is not a rate limit.

    NOTE: primary limits answer 403/429 with x-ratelimit-remaining 0 (wait until
    x-ratelimit-reset); secondary limits answer 403/429, usually with Retry-After; GraphQL
    answers 200 with an error of type RATE_LIMITED.
    https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
    """
    message = str(data.get("message", "")) if isinstance(data, dict) else ""
    limited = status == 429 or (status == 403 and (
        "retry-after" in headers or headers.get("x-ratelimit-remaining") == "0"
        or "rate limit" in message.lower()))
    if status == 200 and isinstance(data, dict):
        limited = any(isinstance(e, dict) and e.get("type") == "RATE_LIMITED"
                      for e in data.get("errors") or [])
    if not limited:
        return None
    after = retry_after(headers, now)
    if after is not None:
        return after
    # GitHub's x-ratelimit-reset is always an epoch.
    reset = reset_wait(headers, now, ("x-ratelimit-reset",), epoch_threshold=0)
    if headers.get("x-ratelimit-remaining") == "0" and reset is not None:
        return reset + 1
    return SECONDARY_WAIT


def _graphql_error(errors: list[Any]) -> TrackerError:
    kinds = {str(e.get("type", "")) for e in errors if isinstance(e, dict)}
    text = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))[:500]
    if kinds & {"FORBIDDEN", "INSUFFICIENT_SCOPES"}:
        return TrackerAuthError(f"GitHub GraphQL refused ({text}): grant Projects read and "
                                f"write (classic token: project scope; GitHub App: "
                                f"organization Projects permission)")
    if "NOT_FOUND" in kinds:
        return GithubHTTPError(f"GitHub GraphQL: {text}", 404, errors)
    return GithubHTTPError(f"GitHub GraphQL: {text}", 200, errors)
