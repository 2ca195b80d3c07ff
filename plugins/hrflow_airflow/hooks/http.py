"""
The one HTTP path of every hook: one retry loop (:func:`send`), one attempt budget per logical request
(:func:`one_request`), a circuit breaker per peer and task (:class:`CircuitBreaker`) and one rate limiter
(:class:`RateLimiter`). Supported library APIs only (requests, urllib3, msgspec).

The bound that holds whatever the nesting: a logical request (a read, a tag PUT with its re-reads, an ATS
create with its lookups, an SMS) goes out at most ``[hrflow] max_attempts`` times in one task try. Callers that
loop over several sends (re-read then PUT, create then look up) open :func:`one_request` around the loop, and
every :func:`send` inside spends from that one budget.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from hrflow_airflow.errors import AnswerUnknownError, BadConfigError, CircuitOpenError, TransientError
from hrflow_airflow.hooks.lean import pooled_session
from hrflow_airflow.hooks.limits import RateLimiter

__all__ = [
    "Budget",
    "CircuitBreaker",
    "RateLimiter",
    "RetryPolicy",
    "connection_timeout",
    "max_attempts",
    "never_sent",
    "one_request",
    "with_attempts",
    "parse_retry_after",
    "pooled_session",
    "send",
]

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def max_attempts() -> int:
    """Return ``[hrflow] max_attempts``: how many times one logical request may go out in one task try."""
    from hrflow_airflow.settings import setting

    return setting("max_attempts")


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait between attempts, and at most how many (None: ``[hrflow] max_attempts``)."""

    attempts: int | None = None
    backoff: float = 0.5
    max_delay: float = 60.0

    def delay(self, attempt: int, response: requests.Response | None = None) -> float:
        """Return the wait before the next attempt, honouring ``Retry-After`` when the server sent one."""
        if response is not None and (header := response.headers.get("Retry-After")):
            if (seconds := parse_retry_after(header)) is not None:
                return min(seconds, self.max_delay)
        base = self.backoff * 2 ** (attempt - 1)
        return min(base + random.uniform(0, base / 2), self.max_delay)


def with_attempts(policy: RetryPolicy) -> RetryPolicy:
    """Return ``policy`` with its attempts set: its own, else ``[hrflow] max_attempts`` read now (once per hook)."""
    return policy if policy.attempts else replace(policy, attempts=max_attempts())


def connection_timeout(connection, conn_id: str, default: float = 30.0) -> float:
    """Return extra ``timeout`` (seconds) of ``connection``, or raise a clear error naming ``conn_id``."""
    raw = connection.extra_dejson.get("timeout", default)
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise BadConfigError(
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


class Budget:
    """The attempts left to one logical request, shared by every send made for it (any thread may read it)."""

    def __init__(self, attempts: int) -> None:
        self.total = max(1, attempts)
        self.spent = 0

    @property
    def left(self) -> int:
        return self.total - self.spent

    def spend(self) -> int:
        """Spend one attempt; return its number (1-based)."""
        self.spent += 1
        return self.spent


_budget: ContextVar[Budget | None] = ContextVar("hrflow_request_budget", default=None)


@contextmanager
def one_request(attempts: int | None = None, *, own: bool = False) -> Iterator[Budget]:
    """
    Make every :func:`send` inside one logical request, sharing one budget of attempts.

    Nested, the outermost budget holds: a tag's re-read and PUT, or a create and its lookups, together go out at
    most ``attempts`` (default ``[hrflow] max_attempts``) times. ``own``: a request of its own even when nested
    (a custom field value set after the create it follows).
    """
    current = _budget.get()
    if current is not None and not own:
        yield current
        return
    budget = Budget(attempts or max_attempts())
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


class CircuitBreaker:
    """
    Stop sending to a peer after ``threshold`` failed attempts in a row (5xx, no answer), per method.

    Attempts are counted, not requests that spent their retries: once it opens, every request in flight stops
    before its next attempt (:func:`send` checks before each one). So a peer that fails everything costs one task
    try at most ``concurrency + threshold`` requests of that method. One per hook instance, so per peer and task:
    the task fails (:class:`CircuitOpenError`, transient) and Airflow's task retry takes over. Counted per method,
    so failing PUTs open it even while GETs succeed. Logged once, naming the peer and the last failure.
    """

    def __init__(self, peer: str, threshold: int | None = None) -> None:
        self.peer = peer
        self.threshold = threshold
        self.failures: dict[str, int] = {}
        self.opened: dict[str, str] = {}  # method -> what opened it
        self.lock = threading.Lock()

    def limit(self) -> int:
        if self.threshold is None:
            from hrflow_airflow.settings import setting

            self.threshold = setting("breaker_after")
        return max(1, self.threshold)

    def check(self, method: str) -> None:
        """Raise :class:`CircuitOpenError` if requests of ``method`` to the peer are stopped."""
        if method in self.opened:
            raise CircuitOpenError(
                f"{self.peer}: {method} stopped in this task after {self.limit()} failed attempts in a row "
                f"({self.opened[method]}); Airflow's task retry takes over"
            )

    def success(self, method: str) -> None:
        with self.lock:
            self.failures[method] = 0

    def failure(self, method: str, what: str) -> None:
        """Count one failed attempt; open the breaker at the threshold (logged once)."""
        with self.lock:
            self.failures[method] = self.failures.get(method, 0) + 1
            if self.failures[method] < self.limit() or method in self.opened:
                return
            self.opened[method] = what
        log.error(
            "%s: %s %s attempts in a row failed (last: %s); this task sends it no more %s requests and fails, "
            "Airflow's task retry takes over",
            self.peer,
            self.failures[method],
            method,
            what,
            method,
        )


def never_sent(exc: BaseException) -> bool:
    """
    Return True when ``exc`` proves the request never reached the peer: the connection was refused, the name did
    not resolve, the TLS handshake failed, or connecting timed out. Such a write may be sent again at once.
    """
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError)):
        return True
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, NewConnectionError):  # refused, or the name did not resolve (NameResolutionError)
            return True
        nested = getattr(cause, "reason", None)  # urllib3's MaxRetryError carries the cause as ``reason``
        if isinstance(nested, BaseException) and id(nested) not in seen:
            cause = nested
            continue
        args = getattr(cause, "args", ())
        cause = next((a for a in args if isinstance(a, BaseException)), None) or cause.__cause__ or cause.__context__
    return False


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    policy: RetryPolicy,
    target: str,
    limiter: RateLimiter | None = None,
    breaker: CircuitBreaker | None = None,
    repeatable: bool = True,
    retry_connection_errors: bool = True,
    **kwargs: Any,
) -> requests.Response:
    """
    Send one request, retrying 429, 5xx and connection errors with backoff; the one retry loop of the project.

    Attempts come from the current :func:`one_request` budget. Return the first response not retried, or the last
    one once the budget is spent. A 429 waits for ``Retry-After`` (else the window reset, else the backoff) and
    holds the whole ``limiter``. ``repeatable=False`` (a create without an idempotency key): only a 429 is retried,
    a 5xx is returned as it is, no answer raises :class:`AnswerUnknownError`. ``retry_connection_errors=False``:
    no answer raises at once (the caller re-reads first). URLs and bodies are never logged.
    """
    breaker = breaker or CircuitBreaker(target, threshold=1 << 30)  # none given: nothing to stop
    with one_request(policy.attempts) as budget:
        response: requests.Response | None = None
        while True:
            breaker.check(method)
            if not budget.left:
                if response is not None:
                    return response
                raise TransientError(f"{target}: {method} not sent: its {budget.total} attempts are spent")
            if limiter is not None:
                limiter.wait()
            attempt = budget.spend()
            try:
                response = session.request(method, url, timeout=timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                response = None
                breaker.failure(method, type(exc).__name__)
                again = (repeatable and retry_connection_errors) or never_sent(exc)  # never left: safe to resend
                if not again or not budget.left:
                    raise no_answer(target, method, attempt, exc, repeatable or never_sent(exc)) from exc
                pause(policy.delay(attempt), target, method, attempt, budget.total, type(exc).__name__)
                continue
            if limiter is not None:
                limiter.observe(response)
            status = response.status_code
            if status in RETRYABLE_STATUSES and status != 429:
                breaker.failure(method, f"HTTP {status}")
            elif status != 429:
                breaker.success(method)
            if not (status == 429 or (repeatable and status in RETRYABLE_STATUSES)) or not budget.left:
                return response
            response.close()
            wait_to_retry(
                retry_wait(policy, attempt, response, limiter), status, limiter, target, method, attempt, budget.total
            )


def wait_to_retry(
    wait: float, status: int, limiter: RateLimiter | None, target: str, method: str, attempt: int, attempts: int
) -> None:
    """Wait ``wait`` before retrying an answer of ``status``; a 429 holds every thread of the limiter."""
    if status == 429 and limiter is not None:
        log.warning("%s: %s attempt %s/%s: HTTP 429; retrying in %.1fs", target, method, attempt, attempts, wait)
        limiter.throttled += 1
        limiter.hold(wait)
    else:
        pause(wait, target, method, attempt, attempts, f"HTTP {status}")


def no_answer(target: str, method: str, attempt: int, exc: Exception, repeatable: bool) -> TransientError:
    """Return the error for a request that got no answer: unknown outcome for a write that must not repeat."""
    if not repeatable:
        return AnswerUnknownError(f"{target}: {method} got no answer: {type(exc).__name__}")
    return TransientError(f"{target}: {method} failed after {attempt} attempts: {type(exc).__name__}")


def pause(seconds: float, target: str, method: str, attempt: int, attempts: int, why: str) -> None:
    """Log why ``attempt`` of ``attempts`` is retried, and wait ``seconds`` before the next one."""
    log.warning("%s: %s attempt %s/%s: %s; retrying in %.1fs", target, method, attempt, attempts, why, seconds)
    time.sleep(seconds)


def retry_wait(policy: RetryPolicy, attempt: int, response: requests.Response, limiter: RateLimiter | None) -> float:
    """Return the wait before retrying ``response``: ``Retry-After``, else a 429's window reset, else backoff."""
    header = response.headers.get("Retry-After")
    no_retry_after = not header or parse_retry_after(header) is None
    if no_retry_after and response.status_code == 429 and limiter is not None:
        if limiter.remaining_header:
            return limiter.reset_in(response)
        # no rate headers (Lever, Recruitee): the window the vendor documents is the least to wait
        return max(policy.delay(attempt, response), limiter.interval)
    return policy.delay(attempt, response)  # Retry-After when sent (capped), else backoff
