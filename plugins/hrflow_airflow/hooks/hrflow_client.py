"""
The HrFlow SDK on the project's transport: the SDK client whose four HTTP methods go through
:func:`hrflow_airflow.hooks.http.send` (one retry loop, the attempt budget, the circuit breaker), HrFlow's error
envelope turned into the package's typed errors, and those errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hrflow import Hrflow

from hrflow_airflow.dates import hrflow_datetime
from hrflow_airflow.errors import AuthError, RefusedError, TransientError
from hrflow_airflow.hooks.http import RETRYABLE_STATUSES, CircuitBreaker, RateLimiter, RetryPolicy, send

if TYPE_CHECKING:
    import requests


class HrFlowError(RefusedError):
    """Raise when HrFlow answers with an error envelope (a 4xx other than 429); ``code`` is its status."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message, code or 0, message)
        self.code = code


class HrFlowAuthError(HrFlowError, AuthError):
    """Raise on 401/403: wrong API secret or user. Never retried."""


class HrFlowListingError(HrFlowError):
    """Raise when a listing cannot be read in full (one day holds more than a listing can page to)."""


class HrFlowNotFoundError(HrFlowError):
    """Raise when the object or its source/board does not exist. Never retried."""


class HrFlowQuotaError(HrFlowError):
    """
    Raise on 402 "Over plan quota on this endpoint". Never retried: only a plan change lifts it.

    Documented status: https://developers.hrflow.ai/reference/errors
    """


class HrFlowEmptyAnswerError(TransientError):
    """Raise when HrFlow answered 2xx without the envelope's ``data`` (or a listing's ``meta``) on every attempt."""


class SessionClient(Hrflow):
    """The SDK client with its four HTTP methods routed through one pooled, retrying, rate-limited session."""

    def __init__(
        self,
        *,
        session: requests.Session,
        timeout: float,
        policy: RetryPolicy,
        limiter: RateLimiter,
        breaker: CircuitBreaker,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.session, self.timeout, self.policy, self.limiter = session, timeout, policy, limiter
        self.breaker = breaker

    def send(self, method: str, resource: str, **kwargs: Any) -> requests.Response:
        """Send one request to ``resource`` (a path under the API URL) through :func:`send`."""
        return send(
            self.session,
            method,
            f"{self.api_url}{resource}",
            headers=self.auth_header,
            timeout=self.timeout,
            policy=self.policy,
            limiter=self.limiter,
            breaker=self.breaker,
            target=f"HrFlow {resource}",
            **kwargs,
        )

    def get(self, resource_endpoint, query_params=None):
        return self.send("GET", resource_endpoint, params=lists_as_json(query_params))

    def post(self, resource_endpoint, data=None, json=None, files=None):
        if files:
            return self.send("POST", resource_endpoint, files=files, data=lists_as_json(data))
        return self.send("POST", resource_endpoint, data=data or {}, json=json or {})

    def patch(self, resource_endpoint, json=None):
        return self.send("PATCH", resource_endpoint, json=lists_as_json(json))

    def put(self, resource_endpoint, json=None):
        # a PUT whose answer is lost may have been applied: HrFlowHook.add_sync_tag re-reads before trying again
        return self.send("PUT", resource_endpoint, json=json or {}, retry_connection_errors=False)


def lists_as_json(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``params`` with list values as JSON text, as the SDK's own methods send them."""
    return {key: json.dumps(value) if isinstance(value, list) else value for key, value in (params or {}).items()}


def unwrap(response: dict[str, Any], what: str, conn_id: str) -> Any:
    """Return ``data`` of an HrFlow envelope, or raise a typed error carrying HrFlow's message and ``conn_id``."""
    code = int(response.get("code") or 0)
    if 200 <= code < 300:
        return response.get("data")
    message = str(response.get("message") or "no message")
    text = f"HrFlow {what}: HTTP {code}: {message}"
    if code in RETRYABLE_STATUSES:
        raise TransientError(text)
    if code in (401, 403):
        raise HrFlowAuthError(f"{text} (check connection '{conn_id}')", code)
    if code == 402:
        raise HrFlowQuotaError(
            f"{text}: the HrFlow plan's quota for this endpoint is used up; "
            f"raise the plan or wait for the quota to reset (connection '{conn_id}')",
            code,
        )
    if code == 404 or "unable to find" in message.lower() or "not found" in message.lower():
        raise HrFlowNotFoundError(text, code)
    raise HrFlowError(text, code)


def dated(filters: dict[str, Any]) -> dict[str, Any]:
    """Return ``filters`` with datetime values in HrFlow's documented date form."""
    return {k: hrflow_datetime(v) if isinstance(v, datetime) else v for k, v in filters.items()}
