"""One place for HTTP behaviour shared by every hook: pooled sessions, timeouts and retries."""

from __future__ import annotations

import email.parser
import http.client
import logging
import os
import random
import re
import threading
import time
import types
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


def parse_retry_after(value: str) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for (delta-seconds or HTTP date), or None."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class RateLimiter:
    """Allow at most ``per_minute`` calls in any sliding minute, shared by the threads of one process."""

    def __init__(self, per_minute: int | None) -> None:
        self.per_minute = per_minute
        self._calls: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.per_minute:
            return
        while True:
            with self._lock:
                now = time.monotonic()
                while self._calls and now - self._calls[0] >= 60:
                    self._calls.popleft()
                if len(self._calls) < self.per_minute:
                    self._calls.append(now)
                    return
                pause = 60 - (now - self._calls[0])
            time.sleep(pause)


_HEADER_NAME = re.compile(r"[!-9;-~]+")  # what the email parser takes as a field name: printable, no colon


def parse_headers(fp: Any, _class: type[http.client.HTTPMessage] = http.client.HTTPMessage) -> http.client.HTTPMessage:
    """
    Read a header block like :func:`http.client.parse_headers`, skipping the email parser for plain headers.

    The stdlib hands every HTTP header block to ``email.parser``, a third of the CPU of a small JSON call on
    both ends. One ``Name: value`` per line is split here into the same message (compat32 values: leading
    blanks and the line break removed); anything else (folded lines, a line that is not a field) is left to
    the stdlib, defects and all.
    """
    lines = http.client._read_headers(fp)
    fields = []
    for line in lines[:-1]:
        name, colon, value = line.decode("iso-8859-1").partition(":")
        if not colon or not _HEADER_NAME.fullmatch(name):
            return email.parser.Parser(_class=_class).parsestr(b"".join(lines).decode("iso-8859-1"))
        fields.append((name, value.lstrip(" \t").rstrip("\r\n")))
    message = _class()
    message._headers = fields
    message.set_payload("")  # as the email parser leaves it: nothing after the blank line
    return message


def with_globals(function: types.FunctionType, **names: Any) -> types.FunctionType:
    """Return a copy of stdlib ``function`` that sees ``names`` instead of its module's globals of that name."""
    return types.FunctionType(
        function.__code__,
        {**function.__globals__, **names},
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )


class _LeanHTTPResponse(http.client.HTTPResponse):
    """http.client's response, its headers read by :func:`parse_headers`."""

    begin = with_globals(http.client.HTTPResponse.begin, parse_headers=parse_headers)


class _LeanHTTPConnection(urllib3.connection.HTTPConnection):
    response_class = _LeanHTTPResponse


class _LeanHTTPSConnection(urllib3.connection.HTTPSConnection):
    response_class = _LeanHTTPResponse


class _LeanHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _LeanHTTPConnection


class _LeanHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _LeanHTTPSConnection


class LeanSession(requests.Session):
    """
    A :class:`requests.Session` whose plain requests go straight to urllib3.

    Building a request through requests costs about 0.6 ms of CPU per call here (header merging, URL
    re-parsing, protocol checks, cookie extraction), more than the JSON it carries. A bulk run makes millions
    of such calls, so a request with only ``params``, ``json``/``data`` bytes, ``headers`` and ``timeout``, to
    a service without a proxy, is sent on this session's own urllib3 pool and answered with an ordinary
    :class:`requests.Response`, its JSON encoded and decoded by msgspec (an Airflow Task SDK dependency) and
    its headers read by :func:`parse_headers`.
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
                pools = urllib3.PoolManager(num_pools=4, maxsize=self._pool_size, **tls)
                pools.pool_classes_by_scheme = {"http": _LeanHTTPPool, "https": _LeanHTTPSPool}
                self._pools = pools
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
        response = _LeanResponse()
        response.status_code, response.reason, response.url = answer.status, answer.reason, url
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content, response._content_consumed, response.raw = answer.data, True, answer
        response.encoding = get_encoding_from_headers(response.headers)
        return response


class _LeanResponse(requests.Response):
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


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    policy: RetryPolicy,
    target: str,
    limiter: RateLimiter | None = None,
    retry_connection_errors: bool = True,
    **kwargs,
) -> requests.Response:
    """
    Send one request, retrying 429, 5xx and connection errors with backoff.

    Return the first response that is not retryable, or the last one once attempts run out
    on a retryable status. Raise :class:`TransientHttpError` when every attempt failed to connect.
    ``target`` names the service in logs; URLs and bodies are never logged. With
    ``retry_connection_errors=False`` a connection error or timeout raises at once: the request may have been
    applied with its answer lost, so the caller re-reads before it writes again.
    """
    for attempt in range(1, policy.attempts + 1):
        if limiter:
            limiter.wait()
        try:
            response = session.request(method, url, timeout=timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            if attempt == policy.attempts or not retry_connection_errors:
                raise TransientHttpError(
                    f"{target}: {method} failed after {attempt} attempts: {type(exc).__name__}"
                ) from exc
            wait = policy.delay(attempt)
            log.warning(
                "%s: %s attempt %s/%s: %s; retrying in %.1fs",
                target,
                method,
                attempt,
                policy.attempts,
                type(exc).__name__,
                wait,
            )
        else:
            if response.status_code not in RETRYABLE_STATUSES or attempt == policy.attempts:
                return response
            wait = policy.delay(attempt, response)
            log.warning(
                "%s: %s attempt %s/%s: HTTP %s; retrying in %.1fs",
                target,
                method,
                attempt,
                policy.attempts,
                response.status_code,
                wait,
            )
            response.close()
        time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
