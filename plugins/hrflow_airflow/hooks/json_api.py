"""
The base of every hook that speaks JSON to one API keyed by an Airflow connection: base URL, a pooled session
with the auth header, the timeout, the circuit breaker, and one mapping from HTTP status to the package's errors.
The ATS clients and the JSON endpoints build on it; requests go through the one transport (:func:`.http.send`).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import requests
from airflow.sdk import BaseHook

from hrflow_airflow.errors import (
    AnswerUnknownError,
    AuthError,
    BadConfigError,
    RateLimitedError,
    RefusedError,
    TransientError,
)
from hrflow_airflow.hooks.http import (
    CircuitBreaker,
    RateLimiter,
    RetryPolicy,
    connection_timeout,
    pooled_session,
    send,
    with_attempts,
)

DEFAULT_TIMEOUT = 30.0
REASON_LIMIT = 300


class JsonApiHook(BaseHook):
    """
    One JSON API behind connection ``conn_id``: host = the API's URL (``default_host`` when empty), password = the
    credential (sent by :meth:`auth_headers`), extra ``timeout`` in seconds.

    Subclasses name the service (``service``), say how the credential is sent (:meth:`auth_headers`) and, for a
    rate-limited API, return a :class:`RateLimiter` from :attr:`limiter`. :meth:`request` sends one logical request
    and maps the answer: 401/403 :class:`AuthError` (``auth_error``), 429 :class:`RateLimitedError`, 5xx
    :class:`TransientError` (:class:`AnswerUnknownError` for a write that must not repeat), other 4xx
    :class:`RefusedError` with the API's reason.
    """

    conn_name_attr = "conn_id"
    service = "API"
    default_host: str | None = None
    auth_error: type[AuthError] = AuthError
    pool_size = 16

    def __init__(self, *, conn_id: str, retry: RetryPolicy | None = None, logger_name: str | None = None) -> None:
        super().__init__(logger_name=logger_name)
        self.conn_id = conn_id
        self.retry = with_attempts(retry or RetryPolicy())
        self.breaker = CircuitBreaker(self.target)

    @property
    def target(self) -> str:
        """Name the peer in logs and errors: the service and the connection."""
        return f"{self.service} ({self.conn_id})"

    @cached_property
    def connection(self):
        return self.get_connection(self.conn_id)

    @cached_property
    def base_url(self) -> str:
        host = (self.connection.host or "").strip().rstrip("/") or (self.default_host or "")
        if not host:
            raise BadConfigError(f"Connection '{self.conn_id}' has no host: set it to the {self.service} URL")
        return host if "://" in host else f"https://{host}"

    @cached_property
    def timeout(self) -> float:
        return connection_timeout(self.connection, self.conn_id, DEFAULT_TIMEOUT)

    @cached_property
    def session(self) -> requests.Session:
        if not self.connection.password:
            raise BadConfigError(f"Connection '{self.conn_id}' has no password (the {self.service} credential)")
        session = pooled_session(pool_size=self.pool_size, base_url=self.base_url)
        session.headers.update({"Accept": "application/json", **self.auth_headers(self.connection.password)})
        return session

    def get_conn(self) -> requests.Session:
        return self.session

    def auth_headers(self, secret: str) -> dict[str, str]:
        """Return the headers that carry the credential."""
        raise NotImplementedError

    @property
    def limiter(self) -> RateLimiter | None:
        """Return the limiter the API's documented limits need (None: none)."""
        return None

    def request(self, method: str, path: str, *, safe_to_repeat: bool = True, **kwargs: Any) -> requests.Response:
        """
        Send one request to ``base_url + path`` through the transport; return the 2xx response or raise.

        ``safe_to_repeat=False`` (a create without an idempotency key): only a 429, documented as not processed, is
        retried; a 5xx or no answer raises :class:`AnswerUnknownError`, since it may have been applied.
        """
        response = send(
            self.session,
            method,
            self.base_url + path,
            timeout=self.timeout,
            policy=self.retry,
            target=self.target,
            limiter=self.limiter,
            breaker=self.breaker,
            repeatable=safe_to_repeat,
            **kwargs,
        )
        if response.ok:
            return response
        status, reason = response.status_code, self.reason(response)
        if status in (401, 403):
            raise self.auth_error(
                f"{self.target} refused the credentials (HTTP {status}: {reason}); check connection '{self.conn_id}'",
                status,
                reason,
            )
        if status == 429:
            raise RateLimitedError(f"{self.target}: {method} still answered HTTP 429 after its attempts")
        if status >= 500:
            unknown = AnswerUnknownError if not safe_to_repeat else TransientError
            raise unknown(f"{self.target}: {method} answered HTTP {status}")
        raise RefusedError(f"{self.target} answered HTTP {status}: {reason}", status, reason, json_body(response))

    def reason(self, response: requests.Response) -> str:
        """Return the API's reason for a refusal, short, from its JSON error body or the status line."""
        data = json_body(response)
        if data is None:
            return (response.text or response.reason or "")[:REASON_LIMIT].strip()
        if not isinstance(data, dict):
            return str(data)[:REASON_LIMIT]
        parts = [str(data[f]) for f in ("message", "error") if data.get(f)]
        for error in data.get("errors") or []:  # [{"code", "message"}], [{"message", "field"}], JSON:API's
            if isinstance(error, dict):
                pointer = (error.get("source") or {}).get("pointer") if isinstance(error.get("source"), dict) else None
                words = [str(error[f]) for f in ("code", "field", "message", "detail") if error.get(f)]
                parts.append(" ".join(words + ([f"({pointer})"] if pointer else [])))
        return "; ".join(parts)[:REASON_LIMIT] or str(data)[:REASON_LIMIT]


def json_body(response: requests.Response) -> Any:
    """Return the answer's JSON, or None when it has none."""
    try:
        return response.json()
    except ValueError:
        return None
