"""
Greenhouse, Harvest API v3: one candidate per ``POST /v3/candidates``, looked up with ``GET /v3/candidates?email=``.

From Greenhouse's public reference (harvestdocs.greenhouse.io):
- auth (https://harvestdocs.greenhouse.io/docs/authentication): OAuth 2.0 client credentials. ``POST
  {auth_url}/token`` with HTTP Basic ``client_id:client_secret`` and the form ``grant_type=client_credentials``,
  ``sub=<user_id>`` (the Greenhouse user writes are attributed to); the answer holds ``access_token`` and its
  expiry (``expires_at``, or ``expires_in``); access tokens live an hour
  (https://harvestdocs.greenhouse.io/docs/harvest-partner-oauth). Calls send ``Authorization: Bearer``;
- ``POST /v3/candidates`` with ``first_name``, ``last_name``, ``email_addresses`` and ``phone_numbers``
  (``[{value, type}]``) answers the new candidate (``{"candidate": {"id", ...}, "application": ...}``); there is
  no de-duplication, so a create sent again is a second candidate: after a lost answer, look up by email and
  adopt only the candidate carrying our tag ``hrflow-key:<key>`` (``tags`` on create, as Harvest v1's "Add
  Candidate" documents), created no earlier than our send;
- ``GET /v3/candidates?email=`` answers a JSON array (lists page by cursor in the ``Link`` header,
  https://harvestdocs.greenhouse.io/docs/pagination); ``PATCH /v3/candidates/{id}`` sets the fields it carries;
- rate limits (https://harvestdocs.greenhouse.io/docs/api-rate-limiting): a rolling 10-second window whose size
  each answer states (``X-RateLimit-Limit``, ``X-RateLimit-Remaining``); 429 with ``Retry-After`` and
  ``X-RateLimit-Reset`` beyond it. Paced from those headers (50 per 10 s until the first answer says);
- scopes (https://harvestdocs.greenhouse.io/docs/handling-scope-changes): ``harvest:candidates:list``,
  ``create``, ``update``, ``destroy``; a missing one is a 403, which stops the run naming the scope to add;
- validation errors: 422 ``{"message": "Validation error", "errors": [{"message", "field"}]}``;
- the CV (by URL, on the application the create makes), the jobs (``POST /v3/applications``) and the custom
  fields: :mod:`.greenhouse_whole`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from typing import Any
from urllib.parse import quote

import requests

from hrflow_airflow.dates import read_datetime
from hrflow_airflow.destinations import PER_OBJECT
from hrflow_airflow.destinations.base import AtsAuthError
from hrflow_airflow.destinations.candidate_api import CandidateApiHook
from hrflow_airflow.destinations.greenhouse_whole import GreenhouseWhole
from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.forms import TIMEOUT, Form, extra_field, rate_limit_field
from hrflow_airflow.hooks.http import pooled_session, send

DEFAULT_AUTH_URL = "https://auth.greenhouse.io"
REFRESH_BEFORE = 120.0  # seconds: a token this close to its expiry is replaced before use


class TokenSource:
    """
    One access token per credential, shared by every thread and client of the process: fetched on first use,
    replaced before it expires (a tenth of its life early, at most ``REFRESH_BEFORE``) and once after a 401. Kept
    in memory only; never logged.
    """

    def __init__(self, fetch: Any) -> None:
        self.fetch, self.lock = fetch, threading.Lock()
        self.token: str | None = None
        self.renew_at = 0.0  # time.monotonic() after which the token is replaced before use

    def current(self) -> str:
        with self.lock:
            if self.token is None or time.monotonic() >= self.renew_at:
                self.renew()
            return self.token

    def replace(self, stale: str) -> str:
        """Return a new token unless another thread already replaced ``stale``."""
        with self.lock:
            if self.token == stale or self.token is None:
                self.renew()
            return self.token

    def renew(self) -> None:
        self.token, life = self.fetch()
        self.renew_at = time.monotonic() + life - min(REFRESH_BEFORE, life / 10)


_SOURCES: dict[tuple[str, str, str, str], TokenSource] = {}
_SOURCES_LOCK = threading.Lock()


class GreenhouseHook(GreenhouseWhole, CandidateApiHook):
    """
    Create Greenhouse candidates through Harvest v3. Connection: host = Harvest URL (https://harvest.greenhouse.io),
    login = OAuth client id, password = client secret, extra ``user_id`` (sent as ``sub``) and ``auth_url``.
    """

    conn_type = "greenhouse"
    hook_name = "Greenhouse Harvest v3 (ATS)"
    engine = PER_OBJECT
    form = Form(
        fields={
            "user_id": extra_field(
                "Greenhouse user id (required)",
                description=(
                    "The numeric id of the user writes are attributed to (sent as sub when the token is "
                    "requested); it is in the URL of the user's page in Greenhouse."
                ),
            ),
            "auth_url": extra_field("Token URL base (empty: https://auth.greenhouse.io)"),
            "rate_limit": rate_limit_field(
                "Requests per 10 s until an answer states X-RateLimit-Limit (empty: 50)",
                "Greenhouse states the window's size on every answer; requests are then paced from it.",
            ),
            "timeout": TIMEOUT,
        },
        relabeling={
            "host": "Harvest URL (empty: https://harvest.greenhouse.io)",
            "login": "OAuth client id (Harvest V3 OAuth credential)",
            "password": "OAuth client secret",
        },
        placeholders={"host": "https://harvest.greenhouse.io", "password": "the client secret"},
    )
    name = "greenhouse"
    default_host = "https://harvest.greenhouse.io"
    rate_limit, rate_interval = 50, 10.0  # until an answer states X-RateLimit-Limit
    concurrency = 2
    lookup_concurrency = 1
    remaining_header = "X-RateLimit-Remaining"
    reset_header = "X-RateLimit-Reset"
    limit_header = "X-RateLimit-Limit"
    email_field = "email"
    profile_field_map = {
        "first_name": "info.first_name",
        "last_name": "info.last_name",
        "email": "info.email",
        "phone": "info.phone",
    }

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {}  # the bearer token goes on each request (it expires)

    # -- the access token -------------------------------------------------------------------------
    @cached_property
    def tokens(self) -> TokenSource:
        extra = self.connection.extra_dejson
        client_id, user_id = self.connection.login or "", str(extra.get("user_id") or "").strip()
        if not client_id or not user_id:
            missing = "login (the OAuth client id)" if not client_id else "extra user_id (sent as sub)"
            raise BadConfigError(f"Connection '{self.ats_conn_id}' has no {missing}: Harvest v3 needs it")
        secret = hashlib.sha256((self.connection.password or "").encode()).hexdigest()  # a new secret, a new token
        with _SOURCES_LOCK:
            return _SOURCES.setdefault((self.auth_url, client_id, user_id, secret), TokenSource(self.fetch_token))

    def fetch_token(self) -> tuple[str, float]:
        """Return a new access token and the seconds it lives (the client credentials grant)."""
        extra = self.connection.extra_dejson
        response = send(
            self.token_session,
            "POST",
            f"{self.auth_url}/token",
            timeout=self.timeout,
            policy=self.retry,
            target=f"greenhouse auth ({self.ats_conn_id})",
            auth=(self.connection.login, self.connection.password),
            data={"grant_type": "client_credentials", "sub": str(extra.get("user_id"))},
        )
        if response.status_code in (400, 401, 403):
            raise AtsAuthError(
                f"greenhouse auth refused the credentials (HTTP {response.status_code}: "
                f"{self.reason(response)}); check connection '{self.ats_conn_id}' (login, password, extra user_id)",
                response.status_code,
                self.reason(response),
            )
        if not response.ok:
            raise BadConfigError(f"greenhouse auth ({self.ats_conn_id}) answered HTTP {response.status_code}")
        answer = response.json()
        self.log.info("greenhouse (%s): new access token, valid %.0f s", self.ats_conn_id, lifetime(answer))
        return answer["access_token"], lifetime(answer)

    @cached_property
    def auth_url(self) -> str:
        """Return the token endpoint's base: extra ``auth_url``, else Greenhouse's."""
        return str(self.connection.extra_dejson.get("auth_url") or DEFAULT_AUTH_URL).rstrip("/")

    @cached_property
    def token_session(self) -> requests.Session:
        return pooled_session(pool_size=2)

    def request(self, method: str, path: str, *, safe_to_repeat: bool = True, **kwargs: Any) -> requests.Response:
        """
        Send with the current token; after a 401 (expired early, revoked), once more with a new one. A 403 names
        the scope the credential lacks (https://harvestdocs.greenhouse.io/docs/handling-scope-changes).
        """
        token = self.tokens.current()
        try:
            try:
                return super().request(method, path, safe_to_repeat=safe_to_repeat, **with_bearer(kwargs, token))
            except AtsAuthError as exc:
                if exc.status != 401:
                    raise
                self.log.info("greenhouse (%s): access token refused (401); fetching a new one", self.ats_conn_id)
                fresh = self.tokens.replace(token)
                return super().request(method, path, safe_to_repeat=safe_to_repeat, **with_bearer(kwargs, fresh))
        except AtsAuthError as exc:
            if exc.status != 403:
                raise
            scope = required_scope(method, path)
            raise AtsAuthError(
                f"greenhouse ({self.ats_conn_id}) refused {method} {path.split('?')[0]} (HTTP 403: {exc.reason}): "
                f"the credential lacks the scope {scope}; add it to the API credential in Greenhouse (Configure > "
                f"Dev Center > API Credentials), then rerun",
                403,
                f"missing scope {scope}",
            ) from None

    # -- candidates -------------------------------------------------------------------------------
    def body(self, record: Any) -> dict[str, Any]:
        candidate = super().body(record)
        email, phone = candidate.pop("email", None), candidate.pop("phone", None)
        if email:
            candidate["email_addresses"] = [{"value": email, "type": "personal"}]
        if phone:
            candidate["phone_numbers"] = [{"value": phone, "type": "mobile"}]
        return self.whole_body(candidate, record)

    def create_request(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "/v3/candidates", self.with_prospect(body)

    def created_id(self, answer: Any) -> str | None:
        self.remember_application(answer)
        candidate = (answer or {}).get("candidate") if isinstance(answer, dict) else None
        return (candidate or answer or {}).get("id")

    def lookup_request(self, email: str, since: datetime | None = None) -> tuple[str, dict[str, str]]:
        return "/v3/candidates", {"email": email}

    def read_request(self, remote_id: str) -> tuple[str, dict[str, str]]:
        # list endpoints take "ids: Filter results by specific IDs" (https://harvestdocs.greenhouse.io/docs/list-endpoints)
        return "/v3/candidates", {"ids": remote_id}

    def emails_of(self, found: Mapping[str, Any]) -> list[str]:
        return [str(e.get("value", "")) for e in found.get("email_addresses") or [] if isinstance(e, dict)]

    def update_request(self, remote_id: str, body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        return "PATCH", f"/v3/candidates/{quote(remote_id, safe='')}", body

    def removal_request(self, remote_id: str, mode: str) -> tuple[str, str, None] | str:
        """
        Delete: ``DELETE /v3/candidates/{id}``. Archive: Harvest has no candidate archive; its closest,
        ``PATCH /v3/candidates/{id}/anonymize``, destroys data for good, which an archive in HrFlow (reversible)
        does not ask for: not done, reported (docs/destinations.md).
        """
        if mode != "delete":
            return "Harvest v3 has no candidate archive (anonymize is irreversible: use delete)"
        return "DELETE", f"/v3/candidates/{quote(remote_id, safe='')}", None


def required_scope(method: str, path: str) -> str:
    """Return the Harvest v3 scope a request needs: ``harvest:<resource>:<list|create|update|destroy>``."""
    parts = [p for p in path.split("?")[0].split("/") if p and p != "v3"]
    resource = parts[0] if parts else "candidates"
    action = {"POST": "create", "PATCH": "update", "PUT": "update", "DELETE": "destroy"}.get(method)
    if action is None:
        action = "list" if len(parts) <= 1 else "show"
    return f"harvest:{resource}:{action}"


def with_bearer(kwargs: dict[str, Any], token: str) -> dict[str, Any]:
    """Return request arguments carrying ``token`` as the bearer."""
    return {**kwargs, "headers": {**(kwargs.get("headers") or {}), "Authorization": f"Bearer {token}"}}


def lifetime(answer: dict[str, Any]) -> float:
    """Return the seconds a token answer says it lives (``expires_in``, else ``expires_at``; an hour if neither)."""
    if isinstance(answer.get("expires_in"), (int, float)):
        return float(answer["expires_in"])
    if (expires := read_datetime(answer.get("expires_at"))) is not None:
        return max(expires.timestamp() - time.time(), 0.0)
    return 3600.0
