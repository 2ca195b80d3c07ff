"""
The one HTTP path of every hook: pooled sessions, timeouts, one retry loop (:func:`send`), one rate limiter
(:class:`RateLimiter`) and the errors they raise. Supported library APIs only (requests, urllib3, msgspec).
"""

from __future__ import annotations

import io
import logging
import os
import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import certifi
import msgspec
import requests
import urllib3
from airflow.sdk.exceptions import AirflowFailException
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class TransientHttpError(Exception):
    """Raise when retries are exhausted on 429, 5xx or connection errors (Airflow may retry the task)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts to make and how long to wait between them."""

    attempts: int = 5
    backoff: float = 0.5
    max_delay: float = 60.0

    def delay(self, attempt: int, response: requests.Response | None = None) -> float:
        """Return the wait before the next attempt, honouring ``Retry-After`` when the server sent one."""
        if response is not None and (header := response.headers.get("Retry-After")):
            if (seconds := parse_retry_after(header)) is not None:
                return min(seconds, self.max_delay)
        base = self.backoff * 2 ** (attempt - 1)
        return min(base + random.uniform(0, base / 2), self.max_delay)


def connection_timeout(connection, conn_id: str, default: float = 30.0) -> float:
    """Return extra ``timeout`` (seconds) of ``connection``, or raise a clear error naming ``conn_id``."""
    from airflow.sdk.exceptions import AirflowFailException

    raw = connection.extra_dejson.get("timeout", default)
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise AirflowFailException(
            f"Connection '{conn_id}' extra 'timeout' must be a number of seconds, got {raw!r}"
        ) from None


def parse_retry_after(value: str, now: datetime | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for (delta-seconds or HTTP date, from ``now``), or None."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class RateLimiter:
    """
    Keep to ``limit`` requests per ``interval`` seconds in any sliding window (None: no limit), shared by the
    threads of one process, and hold everyone when the server says to wait (``Retry-After``, or its
    rate-limit headers say the window is used up: other clients of the same key count there too).

    ``margin`` widens the window for transit time: stricter than a server's fixed windows.
    ``remaining_header`` / ``reset_header`` name the server's rate-limit headers; a reset header holds a
    Unix time; without one the window is ``interval`` long.
    """

    def __init__(
        self,
        limit: int | None,
        interval: float = 60.0,
        *,
        margin: float = 0.0,
        remaining_header: str | None = None,
        reset_header: str | None = None,
    ) -> None:
        self.limit = max(1, limit) if limit else None
        self.interval, self.margin = interval, margin
        self.remaining_header, self.reset_header = remaining_header, reset_header
        self.throttled = 0  # 429 answers seen
        self.waited_for_reset = 0  # answers that said the window was used up: everyone held until its reset
        self.sent: deque[float] = deque()
        self.hold_until = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        """Return once a request may go."""
        while True:
            with self.lock:
                now = time.monotonic()
                window = self.interval + self.margin
                while self.sent and now - self.sent[0] >= window:
                    self.sent.popleft()
                if now < self.hold_until:
                    pause = self.hold_until - now
                elif self.limit is None:
                    return
                elif len(self.sent) < self.limit:
                    self.sent.append(now)
                    return
                else:
                    pause = self.sent[0] + window - now
            time.sleep(max(pause, 0.001))

    def hold(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (the window is used up or the server asked to wait)."""
        with self.lock:
            self.hold_until = max(self.hold_until, time.monotonic() + seconds + self.margin)

    def observe(self, response: requests.Response) -> None:
        """Hold until the reset once the server's headers say the window is used up."""
        remaining = _number(response.headers.get(self.remaining_header)) if self.remaining_header else None
        if remaining is not None and remaining <= 0:
            with self.lock:
                self.waited_for_reset += 1
            self.hold(self.reset_in(response))

    def reset_in(self, response: requests.Response) -> float:
        """Return the seconds until the server's window resets (from its reset header, else one interval)."""
        if self.reset_header and (reset := _number(response.headers.get(self.reset_header))) is not None:
            return min(max(reset - time.time(), 0.0), self.interval)  # a Unix time; clocks may differ
        return self.interval


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


class LeanSession(requests.Session):
    """
    A :class:`requests.Session` whose plain requests go straight to urllib3.

    Building a request through requests costs about 0.6 ms of CPU per call here (header merging, URL
    re-parsing, protocol checks, cookie extraction), more than the JSON it carries. A bulk run makes millions
    of such calls, so a request with only ``params``, ``json``/``data`` bytes, ``headers`` and ``timeout``, to
    a service without a proxy, is sent on this session's own urllib3 pool and answered with an ordinary
    :class:`requests.Response`, its JSON encoded and decoded by msgspec (an Airflow Task SDK dependency).
    Anything else (files, forms, auth objects, cookies, streaming, a proxy, client certificates, a redirect)
    takes the full requests path. Exceptions are requests' own.
    """

    def __init__(self, pool_size: int) -> None:
        super().__init__()
        self._pool_size = pool_size
        self._pools_lock = threading.Lock()
        self._pools: urllib3.PoolManager | None = None

    def _pool_manager(self) -> urllib3.PoolManager:
        if self._pools is not None:  # the hot path: no lock once built
            return self._pools
        with self._pools_lock:
            if self._pools is None:
                if self.verify is False:
                    tls: dict[str, Any] = {"cert_reqs": "CERT_NONE"}
                else:
                    tls = {
                        "cert_reqs": "CERT_REQUIRED",
                        "ca_certs": self.verify if isinstance(self.verify, str) else certifi.where(),
                    }
                self._pools = urllib3.PoolManager(num_pools=4, maxsize=self._pool_size, **tls)
            return self._pools

    def request(
        self,
        method: str,
        url: str,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        json: Any = None,
        timeout: Any = None,
        **other: Any,
    ) -> requests.Response:  # type: ignore[override]
        if (
            other
            or self.trust_env
            or self.cert
            or self.auth
            or self.params
            or len(self.cookies)
            or self.proxies.get(url.split(":", 1)[0].lower())
            or self.proxies.get("all")
            or not (data is None or data == {} or isinstance(data, bytes))
            or not (params is None or isinstance(params, dict))
            or isinstance(timeout, tuple)
        ):
            return super().request(
                method, url, params=params, data=data, headers=headers, json=json, timeout=timeout, **other
            )
        merged = {**self.headers, **(headers or {})}
        body = data or None
        if json is not None and body is None:
            body = msgspec.json.encode(json)
            merged.setdefault("Content-Type", "application/json")
        elif body is None and method in ("POST", "PUT", "PATCH"):
            merged["Content-Length"] = "0"
        if params:
            query = urlencode([(k, v) for k, v in params.items() if v is not None], doseq=True)
            if query:
                url = f"{url}{'&' if '?' in url else '?'}{query}"
        try:
            answer = self._pool_manager().urlopen(
                method,
                url,
                body=body,
                headers={k: v for k, v in merged.items() if v is not None},
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
                retries=False,
                redirect=False,
            )
        except urllib3.exceptions.NewConnectionError as exc:  # refused (a ConnectTimeoutError subclass in urllib3)
            raise requests.ConnectionError(exc) from exc
        except urllib3.exceptions.ConnectTimeoutError as exc:
            raise requests.ConnectTimeout(exc) from exc
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.ReadTimeout(exc) from exc
        except urllib3.exceptions.SSLError as exc:
            raise requests.exceptions.SSLError(exc) from exc
        except urllib3.exceptions.HTTPError as exc:  # reset, closed mid-answer, not HTTP
            raise requests.ConnectionError(exc) from exc
        if answer.get_redirect_location():  # a 3xx applied nothing: requests sends it again and follows
            return super().request(method, url, data=data, headers=headers, json=json, timeout=timeout)
        response = LeanResponse()
        response.status_code, response.reason, response.url = answer.status, answer.reason, url
        response.headers = CaseInsensitiveDict(answer.headers)
        response.raw = io.BytesIO(answer.data)  # read whole already: `.content` reads it from here
        response.encoding = get_encoding_from_headers(response.headers)
        return response


class LeanResponse(requests.Response):
    """A response whose JSON is decoded by msgspec (Airflow's own dependency), twice as fast as ``json``."""

    def json(self, **kwargs: Any) -> Any:
        if not kwargs and self.content:
            try:
                return msgspec.json.decode(self.content)
            except msgspec.DecodeError:
                pass  # requests' own decoding raises its usual error
        return super().json(**kwargs)


def pooled_session(pool_size: int = 16, base_url: str | None = None) -> requests.Session:
    """
    Return a session with a connection pool large enough for ``pool_size`` threads.

    With ``base_url`` (every call goes to that one service), proxy and CA settings are read from the
    environment once here instead of on every request, which costs a quarter of the client's CPU per call,
    and plain requests skip requests' own request building (:class:`LeanSession`).
    """
    session = LeanSession(pool_size) if base_url else requests.Session()
    if base_url:
        session.trust_env = False
        session.proxies.update(requests.utils.get_environ_proxies(base_url))
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class AnswerUnknownError(TransientHttpError):
    """Raise when a request that must not be repeated may have been applied, but no answer came."""


class RateLimitedError(TransientHttpError):
    """Raise when a peer still answers 429 after every attempt: the request was not processed."""


class RefusedError(Exception):
    """
    Raise when a peer refused a request with a 4xx other than 429: the same request would be refused again.

    ``retry_task`` says whether the task it ends may retry: False for a refusal (the same request gets the
    same answer), so the task fails at once (:func:`fail_fast`); a refused SMS fails its run that way. The
    delivery engine catches it per record instead: a record the ATS refuses fails alone.
    """

    def __init__(self, message: str, status: int, reason: str, body: Any = None, *, retry_task: bool = False) -> None:
        super().__init__(message)
        self.status, self.reason, self.body = status, reason, body  # body: the answer's JSON, when it had one
        self.retry_task = retry_task


def fail_fast(exc: RefusedError) -> BaseException:
    """Return what a task raises for ``exc``: an :class:`AirflowFailException` unless the task may retry."""
    return exc if exc.retry_task else AirflowFailException(str(exc))


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    policy: RetryPolicy,
    target: str,
    limiter: RateLimiter | None = None,
    repeatable: bool = True,
    retry_connection_errors: bool = True,
    **kwargs: Any,
) -> requests.Response:
    """
    Send one request, retrying 429, 5xx and connection errors with backoff; the one retry loop of every hook.

    Return the first response that is not retried, or the last one once attempts run out on a retryable
    status. A 429 waits for ``Retry-After`` (else the limiter's window reset, else the backoff), and holds the
    whole ``limiter`` meanwhile. ``target`` names the service in logs; URLs and bodies are never logged.

    ``repeatable=False`` (a create without an idempotency key): only 429, documented as not processed, is
    retried; a 5xx is returned as it is, and a connection error raises :class:`AnswerUnknownError` at once.
    ``retry_connection_errors=False`` raises a connection error at once too (the caller re-reads before it
    writes again). Raise :class:`TransientHttpError` when every attempt failed to connect.
    """
    for attempt in range(1, policy.attempts + 1):
        if limiter is not None:
            limiter.wait()
        try:
            response = session.request(method, url, timeout=timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            text = f"{target}: {method} failed after {attempt} attempts: {type(exc).__name__}"
            if not repeatable:
                raise AnswerUnknownError(f"{target}: {method} got no answer: {type(exc).__name__}") from exc
            if attempt == policy.attempts or not retry_connection_errors:
                raise TransientHttpError(text) from exc
            wait = policy.delay(attempt)
            log.warning("%s: %s attempt %s/%s: %s; retrying in %.1fs", target, method, attempt, policy.attempts,
                        type(exc).__name__, wait)  # fmt: skip
            time.sleep(wait)
            continue
        if limiter is not None:
            limiter.observe(response)
        status = response.status_code
        retryable = status == 429 or (repeatable and status in RETRYABLE_STATUSES)
        if not retryable or attempt == policy.attempts:
            return response
        wait = retry_wait(policy, attempt, response, limiter)
        log.warning("%s: %s attempt %s/%s: HTTP %s; retrying in %.1fs", target, method, attempt, policy.attempts,
                    status, wait)  # fmt: skip
        response.close()
        if status == 429 and limiter is not None:
            limiter.throttled += 1
            limiter.hold(wait)  # every thread of the limiter waits, not only this one
        else:
            time.sleep(wait)
    raise RuntimeError("unreachable: the last attempt returns or raises")  # pragma: no cover


def retry_wait(policy: RetryPolicy, attempt: int, response: requests.Response, limiter: RateLimiter | None) -> float:
    """Return the wait before retrying ``response``: ``Retry-After``, else a 429's window reset, else backoff."""
    header = response.headers.get("Retry-After")
    no_retry_after = not header or parse_retry_after(header) is None
    if no_retry_after and response.status_code == 429 and limiter is not None and limiter.remaining_header:
        return limiter.reset_in(response)
    return policy.delay(attempt, response)  # Retry-After when sent (capped), else backoff
