"""
The package's one error tree. Hooks and destinations raise these; tasks decide what fails the task.

::

    HrFlowAirflowError
    ├── TransientError           a later try may succeed: 429, 5xx, no answer (Airflow's task retry takes over)
    │   ├── AnswerUnknownError   a write that may have been applied: look it up before writing again
    │   ├── RateLimitedError     still 429 after every attempt: not processed
    │   └── CircuitOpenError     the peer failed several attempts in a row: this task sends it nothing more
    ├── RefusedError             the peer refused this request (a 4xx); ``reason`` is short and redacted
    │   └── AuthError            the peer refused the credentials (401/403): check the connection
    ├── OutcomeUnknownError      a write that may have been applied is not repeated (at most once): names its key
    ├── NotYourTurnError         another run is writing the same objects: the task waits (an Airflow reschedule)
    └── BadConfigError           a connection, setting or Variable is missing or wrong (names which)

:func:`fails_fast` turns an error no retry can help (refused, bad setup) into Airflow's
``AirflowFailException`` at the task boundary; a :class:`TransientError` stays retryable.
Everything but a transient error fails the task at once. A task that must wait for another run is rescheduled.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class HrFlowAirflowError(Exception):
    """Root of every error this package raises on purpose."""


class TransientError(HrFlowAirflowError):
    """Raise when retries are exhausted on 429, 5xx or connection errors: a later task try may succeed."""


class AnswerUnknownError(TransientError):
    """Raise when a request that must not be repeated may have been applied, but no answer came."""


class RateLimitedError(TransientError):
    """Raise when a peer still answers 429 after every attempt: the request was not processed."""


class CircuitOpenError(TransientError):
    """Raise instead of sending when the peer failed several attempts in a row in this task."""


class RefusedError(HrFlowAirflowError):
    """
    Raise when a peer refused a request with a 4xx other than 429: the same request would be refused again.

    ``reason`` is the peer's short reason, redacted (no values of the record); ``body`` its JSON answer when it
    had one. ``retry_task`` says whether the task it ends may retry: False for a refusal, so the task fails at
    once (:func:`fails_fast`). The delivery code catches it per record instead: a refused record fails alone.
    """

    def __init__(self, message: str, status: int, reason: str, body: Any = None, *, retry_task: bool = False) -> None:
        super().__init__(message)
        self.status, self.reason, self.body = status, reason, body
        self.retry_task = retry_task


class AuthError(RefusedError):
    """Raise when a peer refused the credentials (401/403): the message names the connection to check."""


class OutcomeUnknownError(HrFlowAirflowError):
    """Raise when a write may have been applied and must not be repeated (an SMS): the run fails naming its key."""


class NotYourTurnError(HrFlowAirflowError):
    """Raise before reading or sending when another run holds the turn ``name`` (:mod:`hrflow_airflow.ledger.turns`)."""

    def __init__(self, name: str, holder: str, wait: float) -> None:
        super().__init__(f"run {holder} is writing {name}")
        self.name, self.holder, self.wait = name, holder, wait  # seconds before the task asks again


class BadConfigError(HrFlowAirflowError, ValueError):
    """
    Raise when a connection, setting, Variable or run conf is missing or wrong; the message names it.

    ``label`` heads the message the failed task shows (:func:`for_task`); a subclass may name its own.
    """

    label = "Bad configuration"


def for_task(exc: BaseException) -> BaseException:
    """
    Return what a task raises for ``exc``: ``AirflowFailException`` when no task retry can help, a reschedule when
    another run holds the turn.
    """
    from datetime import datetime, timedelta, timezone

    from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException

    if isinstance(exc, NotYourTurnError):  # the task gives its slot back and asks again later
        return AirflowRescheduleException(datetime.now(timezone.utc) + timedelta(seconds=exc.wait))
    if isinstance(exc, TransientError) or (isinstance(exc, RefusedError) and exc.retry_task):
        return exc
    if isinstance(exc, BadConfigError):
        return AirflowFailException(f"{exc.label}: {exc}")
    if isinstance(exc, HrFlowAirflowError):
        return AirflowFailException(str(exc))
    return exc


def fails_fast(func: F) -> F:
    """Decorate a task callable: refusals and bad setup fail the task at once, transient errors stay retryable."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HrFlowAirflowError as exc:
            converted = for_task(exc)
            if converted is exc:
                raise
            raise converted from exc

    return wrapper  # type: ignore[return-value]
