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
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from hrflow_airflow.errors import AnswerUnknownError, BadConfigError, CircuitOpenError, TransientError
from hrflow_airflow.hooks.lean import pooled_session

__all__ = [
    "Budget",
    "CircuitBreaker",
    "RateLimiter",
    "RetryPolicy",
    "connection_timeout",
    "max_attempts",
    "one_request",
    "parse_retry_after",
    "pooled_session",
    "send",
]

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BREAKER_AFTER = 3


def max_attempts() -> int:
    """Return ``[hrflow] max_attempts``: how many times one logical request may go out in one task try."""
    from hrflow_airflow.settings import settings

    return settings().max_attempts


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
def one_request(attempts: int | None = None) -> Iterator[Budget]:
    """
    Make every :func:`send` inside one logical request, sharing one budget of attempts.

    Nested, the outermost budget holds: a tag's re-read and PUT, or a create and its lookups, together go out at
    most ``attempts`` (default ``[hrflow] max_attempts``) times.
    """
    current = _budget.get()
    if current is not None:
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
    Stop sending to a peer after ``threshold`` of its requests in a row failed even after their retries.

    One per hook instance, so per peer and task: the task fails (:class:`CircuitOpenError`, transient) and
    Airflow's task retry takes over. Counted per method, so failing PUTs open it even while GETs succeed.
    Logged once, naming the peer and the last status.
    """

    def __init__(self, peer: str, threshold: int | None = None) -> None:
        self.peer = peer
        self.threshold = threshold
        self.failures: dict[str, int] = {}
        self.opened: dict[str, str] = {}  # method -> what opened it
        self.lock = threading.Lock()

    def limit(self) -> int:
        if self.threshold is None:
            from hrflow_airflow.settings import settings

            self.threshold = settings().breaker_after
        return max(1, self.threshold)

    def check(self, method: str) -> None:
        """Raise :class:`CircuitOpenError` if requests of ``method`` to the peer are stopped."""
        if method in self.opened:
            raise CircuitOpenError(
                f"{self.peer}: {method} stopped in this task after {self.limit()} failed requests in a row "
                f"({self.opened[method]}); Airflow's task retry takes over"
            )

    def success(self, method: str) -> None:
        with self.lock:
            self.failures[method] = 0

    def failure(self, method: str, what: str) -> None:
        """Count one request that failed after its retries; open the breaker at the threshold (logged once)."""
        with self.lock:
            self.failures[method] = self.failures.get(method, 0) + 1
            if self.failures[method] < self.limit() or method in self.opened:
                return
            self.opened[method] = what
        log.error(
            "%s: %s %s requests in a row failed after their retries (last: %s); this task sends it no more %s "
            "requests and fails, Airflow's task retry takes over", self.peer, self.failures[method], method, what,
            method,
        )  # fmt: skip


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

    Attempts come from the current :func:`one_request` budget (a new one when none is open). Return the first
    response that is not retried, or the last one once the budget is spent on a retryable status. A 429 waits
    for ``Retry-After`` (else the limiter's window reset, else the backoff) and holds the whole ``limiter``.
    ``target`` names the peer in logs; URLs and bodies are never logged.

    ``repeatable=False`` (a create without an idempotency key): only 429, documented as not processed, is
    retried; a 5xx is returned as it is, and a connection error raises :class:`AnswerUnknownError` at once.
    ``retry_connection_errors=False`` raises a connection error at once too (the caller re-reads before it
    writes again). Raise :class:`TransientError` when no attempt got an answer, and
    :class:`CircuitOpenError` when ``breaker`` stopped this peer.
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
                if not repeatable or not budget.left or not retry_connection_errors:
                    breaker.failure(method, type(exc).__name__)
                    raise no_answer(target, method, attempt, exc, repeatable) from exc
                pause(policy.delay(attempt), target, method, attempt, budget.total, type(exc).__name__)
                continue
            if limiter is not None:
                limiter.observe(response)
            status = response.status_code
            if not (status == 429 or (repeatable and status in RETRYABLE_STATUSES)) or not budget.left:
                if status in RETRYABLE_STATUSES:
                    breaker.failure(method, f"HTTP {status}")
                else:
                    breaker.success(method)
                return response
            wait = retry_wait(policy, attempt, response, limiter)
            response.close()
            if status == 429 and limiter is not None:
                log.warning(
                    "%s: %s attempt %s/%s: HTTP 429; retrying in %.1fs", target, method, attempt, budget.total, wait
                )  # fmt: skip; every thread of the limiter waits
                limiter.throttled += 1
                limiter.hold(wait)  # every thread of the limiter waits, not only this one
            else:
                pause(wait, target, method, attempt, budget.total, f"HTTP {status}")


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
    if no_retry_after and response.status_code == 429 and limiter is not None and limiter.remaining_header:
        return limiter.reset_in(response)
    return policy.delay(attempt, response)  # Retry-After when sent (capped), else backoff
