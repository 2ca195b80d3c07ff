"""
Greenhouse Harvest API v3 emulator, written from Greenhouse's public reference (harvestdocs.greenhouse.io).

``/greenhouse-auth`` stands for ``https://auth.greenhouse.io`` and ``/greenhouse`` for
``https://harvest.greenhouse.io``.

- Authentication (https://harvestdocs.greenhouse.io/docs/authentication): custom integrations use the OAuth 2.0
  client credentials grant: ``POST /token`` with HTTP Basic ``client_id:client_secret`` and the form fields
  ``grant_type=client_credentials`` and ``sub=<user_id>`` (a Greenhouse user the calls are attributed to). The
  answer carries ``access_token``, ``token_type`` and ``expires_at``; tokens live an hour
  (https://harvestdocs.greenhouse.io/docs/harvest-partner-oauth, "Key Token Lifetimes"). Calls send
  ``Authorization: Bearer <token>``; an expired or unknown token is 401.
- Candidates (https://harvestdocs.greenhouse.io/reference, "Candidates"): ``POST /v3/candidates`` with
  ``first_name``, ``last_name`` (required), ``email_addresses`` and ``phone_numbers`` (``[{value, type}]``) ->
  201 ``{"candidate": {...}, "application": null}``; no de-duplication: the same body twice is two candidates.
  ``GET /v3/candidates?email=`` -> a JSON array; lists page by cursor in the ``Link`` header, and a request
  carrying ``cursor`` must carry nothing else (https://harvestdocs.greenhouse.io/docs/pagination).
  ``PATCH /v3/candidates/{id}`` sets the fields it carries -> 200; ``DELETE /v3/candidates/{id}`` -> 204;
  unknown id -> 404.
- Errors (https://harvestdocs.greenhouse.io/docs/standardizations): 422
  ``{"message": "Validation error", "errors": [{"message", "field"}]}``.
- Scopes (https://harvestdocs.greenhouse.io/docs/handling-scope-changes): each route needs
  ``harvest:<resource>:<list|show|create|update|destroy>``; the credential's scopes are the account's ``scopes``
  (tests remove some), a request without its scope is 403.
- Applications, attachments and custom fields (the whole candidate): ``sandbox/greenhouse_whole.py``.
- Rate limits (https://harvestdocs.greenhouse.io/docs/api-rate-limiting): a rolling 10-second window whose size
  each answer states in ``X-RateLimit-Limit``, with ``X-RateLimit-Remaining``; beyond it, 429 with
  ``Retry-After`` and ``X-RateLimit-Reset``.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

from sandbox import greenhouse_whole as whole
from sandbox.accounts import EMAIL, VendorAts, Vendors, finish, first_value, read_json
from sandbox.vendor import Vendor

CLIENT_ID = "greenhouse-sandbox-client"
CLIENT_SECRET = "greenhouse-sandbox-client-secret"
USER_ID = "4080"  # the Greenhouse user writes are attributed to (sub)
LIMIT, INTERVAL = 50, 10.0  # the rolling window this account's answers state
UPDATABLE = ("first_name", "last_name", "email_addresses", "phone_numbers", "tags", "company", "title")
SCOPES = frozenset({
    *(f"harvest:candidates:{a}" for a in ("list", "show", "create", "update", "destroy")),
    "harvest:applications:list", "harvest:applications:create",  # the jobs applied to
    "harvest:attachments:list", "harvest:attachments:create",  # the CV
    "harvest:custom_fields:list",  # the field map's custom fields, checked at the start of a run
})  # fmt: skip
_ids = itertools.count(4_000_001)


@dataclass
class GreenhouseAccount(VendorAts):
    """The Greenhouse account, with its credential's access tokens and scopes."""

    token_life: float = 3600.0  # seconds an access token lives (tests shorten it)
    scopes: set[str] = field(default_factory=lambda: set(SCOPES))  # the credential's scopes (tests remove some)
    tokens: dict[str, float] = field(default_factory=dict)  # access token -> when it expires (time.time())
    applications: dict[str, dict] = field(default_factory=dict)  # application id -> the application


def serve_auth(handler: Any, vendors: Vendors, method: str, route: str, body: bytes) -> None:
    """``POST /token``: the client credentials grant."""
    if method != "POST" or route != "/token":
        return handler._send(404, {"error": "not_found"})
    try:
        user, _, password = base64.b64decode(handler.headers.get("Authorization", "")[6:]).decode().partition(":")
    except ValueError:
        user, password = "", ""
    if (user, password) != (CLIENT_ID, CLIENT_SECRET):
        return handler._send(401, {"error": "invalid_client"})
    form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
    if form.get("grant_type") != "client_credentials":
        return handler._send(400, {"error": "unsupported_grant_type"})
    if form.get("sub") != USER_ID:
        return handler._send(400, {"error": "invalid_request", "error_description": "sub is not a user"})
    token = secrets.token_urlsafe(24)
    with vendors.lock:
        expires = time.time() + vendors.greenhouse.token_life
        vendors.greenhouse.tokens[token] = expires
        vendors.greenhouse.requests["POST /token"] += 1
    at = datetime.fromtimestamp(expires, timezone.utc).isoformat(timespec="seconds")
    return handler._send(200, {"access_token": token, "token_type": "Bearer", "expires_at": at})


def _admit(handler: Any, vendors: Vendors, method: str, route: str) -> tuple[int, dict[str, str]]:
    """Check the token and the rolling window; return (status to refuse with or 0, rate headers)."""
    account = vendors.greenhouse
    token = handler.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    with vendors.lock:
        now = time.time()
        if account.tokens.get(token, 0) <= now:
            account.requests["401"] += 1
            return 401, {}
        account.received_at.append(now)
        parts = route.split("/")  # "", "v3", resource[, id]
        account.requests[f"{method} {'/'.join(parts[:3]) + '/{id}' if len(parts) > 3 else route}"] += 1
        sent = account.recent  # when each request of the rolling window came
        while sent and now - sent[0] >= INTERVAL:
            sent.popleft()
        headers = {"X-RateLimit-Limit": str(LIMIT), "X-RateLimit-Remaining": str(max(LIMIT - len(sent) - 1, 0))}
        if len(sent) >= LIMIT:
            account.refused_for_rate += 1
            wait = sent[0] + INTERVAL - now
            return 429, {**headers, "Retry-After": str(max(1, round(wait))), "X-RateLimit-Reset": str(int(now + wait))}
        sent.append(now)
    return 0, headers


def serve(handler: Any, vendors: Vendors, method: str, route: str, query: dict[str, str], body: bytes, fault: Any):
    """Answer one Harvest v3 request."""
    status, headers = _admit(handler, vendors, method, route)
    if status == 401:
        return handler._send(401, {"message": "Unauthorized: invalid or expired access token"})
    if status:
        return handler._send(status, {"message": "Rate limit exceeded"}, headers)
    account = vendors.greenhouse
    needed = _scope(method, route)
    if needed not in account.scopes:  # https://harvestdocs.greenhouse.io/docs/handling-scope-changes
        return handler._send(403, {"message": f"Forbidden: the credential lacks the scope {needed}"}, headers)
    if whole.serve(handler, vendors, method, route, query, body, fault, headers):
        return None
    if method == "GET" and route == "/v3/candidates":
        return _list(handler, vendors, query, headers)
    if method == "POST" and route == "/v3/candidates":
        return _create(handler, vendors, read_json(body), headers, fault)
    if method == "PATCH" and route.startswith("/v3/candidates/"):
        return _update(handler, vendors, route.removeprefix("/v3/candidates/"), read_json(body), headers, fault)
    if method == "DELETE" and route.startswith("/v3/candidates/"):
        return _delete(handler, vendors, route.removeprefix("/v3/candidates/"), headers, fault)
    return handler._send(404, {"message": f"Not found: {method} {route}"}, headers)


def _list(handler: Any, vendors: Vendors, query: dict[str, str], headers: dict) -> None:
    """``GET /v3/candidates``: filtered by ``email`` or ``ids`` ("ids: Filter results by specific IDs")."""
    if "cursor" in query and len(query) > 1:
        return handler._send(422, whole.invalid("cursor", "cursor must be the only query parameter"), headers)
    account = vendors.greenhouse
    email = (query.get("email") or "").casefold()
    ids = {i for i in (query.get("ids") or "").split(",") if i}
    with vendors.lock:
        found = [
            dict(c)
            for c in account.candidates.values()
            if (not email or account.email(c).casefold() == email)
            and (not ids or str(c["id"]) in ids)
            and (ids or account.searchable(str(c["id"])))
        ]
    return handler._send(200, found[: int(query.get("per_page") or 100)], headers)


def _create(handler: Any, vendors: Vendors, data: Any, headers: dict, fault: Any) -> None:
    """``POST /v3/candidates``: 201 with the candidate and, when one was asked for, its application."""
    account = vendors.greenhouse
    with vendors.lock:
        problem = _validate(data, create=True) or whole.application_problem(account, data.get("application"))
        if (problem := problem or whole.custom_problem(account, data)) is not None:
            return handler._send(422, problem, headers)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        candidate = {"id": next(_ids), "created_at": now, "updated_at": now, "application_ids": []}
        candidate.update({k: data.get(k) for k in UPDATABLE if k in data})
        account.candidates[str(candidate["id"])] = candidate
        account.made(str(candidate["id"]))
        account.creates += 1
        whole.keep_custom(account, str(candidate["id"]), data)
        application = whole.open_application(account, str(candidate["id"]), data.get("application"))
        answer = {"candidate": dict(candidate), "application": application}
    return finish(handler, 201, answer, headers, fault)


def _update(handler: Any, vendors: Vendors, candidate_id: str, data: Any, headers: dict, fault: Any) -> None:
    """``PATCH /v3/candidates/{id}``: the fields it carries; 404 for an unknown id."""
    account = vendors.greenhouse
    if (problem := _validate(data, create=False) or whole.custom_problem(account, data)) is not None:
        return handler._send(422, problem, headers)
    with vendors.lock:
        candidate = account.candidates.get(candidate_id)
        if candidate is None:
            return handler._send(404, {"message": "Resource not found"}, headers)
        candidate.update({k: data[k] for k in UPDATABLE if k in data})
        whole.keep_custom(account, candidate_id, data)
        candidate["updated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        account.updates[candidate_id] += 1
        answer = dict(candidate)
    return finish(handler, 200, answer, headers, fault)


def _delete(handler: Any, vendors: Vendors, candidate_id: str, headers: dict, fault: Any) -> None:
    """Answer "Delete candidate": 204, 404 when unknown."""
    account = vendors.greenhouse
    with vendors.lock:
        gone = account.candidates.pop(candidate_id, None)
        if gone is not None:
            account.removed[str(gone["id"])] = "delete"
            whole.forget(account, str(gone["id"]))
    if gone is None:
        return handler._send(404, {"message": "Resource not found"}, headers)
    return finish(handler, 204, None, headers, fault)


def _scope(method: str, route: str) -> str:
    """Return the scope a request needs: ``harvest:<resource>:<list|show|create|update|destroy>``."""
    parts = route.split("/")  # "", "v3", resource[, id]
    action = {"POST": "create", "PATCH": "update", "PUT": "update", "DELETE": "destroy"}.get(method)
    resource = parts[2] if len(parts) > 2 else "candidates"
    return f"harvest:{resource}:{action or ('list' if len(parts) <= 3 else 'show')}"


def _validate(data: Any, *, create: bool) -> dict[str, Any] | None:
    """Return the 422 body for an invalid candidate, or None."""
    if not isinstance(data, dict):
        return whole.invalid("body", "must be a JSON object")
    for name in ("first_name", "last_name"):
        if (create and not data.get(name)) or (name in data and not data[name]):
            return whole.invalid(name, "can't be blank")
    for entry in data.get("email_addresses") or []:
        if not isinstance(entry, dict) or not EMAIL.fullmatch(str(entry.get("value", ""))):
            return whole.invalid("email_addresses", "is not a valid email address")
    return None


def connection(base_url: str, **extra: Any) -> dict[str, Any]:
    """Return an ``ats_default`` connection of type ``greenhouse`` to the sandbox."""
    return {
        "conn_type": "greenhouse",
        "host": f"{base_url}/greenhouse",
        "login": CLIENT_ID,
        "password": CLIENT_SECRET,
        "extra": {"user_id": USER_ID, "auth_url": f"{base_url}/greenhouse-auth", "timeout": 5, **extra},
    }


def stranger(vendors: Vendors, first: str, last: str, email: str) -> str:
    """Give the account a candidate of its own for ``email`` (an application, a month old); return its id."""
    made = datetime.fromtimestamp(time.time() - 30 * 86400, timezone.utc).isoformat(timespec="seconds")
    candidate = {
        "id": next(_ids),
        "first_name": first,
        "last_name": last,
        "created_at": made,
        "updated_at": made,
        "email_addresses": [{"value": email, "type": "personal"}],
        "tags": ["Job board"],
        "application_ids": [],
    }
    with vendors.lock:
        vendors.greenhouse.candidates = {str(candidate["id"]): candidate, **vendors.greenhouse.candidates}
        vendors.greenhouse.strangers.add(str(candidate["id"]))
    return str(candidate["id"])


VENDOR = Vendor(
    "greenhouse",
    "/greenhouse",
    serve,
    lambda: GreenhouseAccount("greenhouse", interval=10.0, email_of=first_value("email_addresses")),
    connection,
    "/greenhouse/v3/candidates",
    CLIENT_SECRET,
    auth=("/greenhouse-auth", serve_auth),  # https://auth.greenhouse.io
    fields=lambda i: {"first_name": f"F{i}", "last_name": f"L{i}", "email": f"c{i}@example.com"},
    update_route=("PATCH", "/greenhouse/v3/candidates/", None),
    remove_route=("DELETE", "/greenhouse/v3/candidates/", None),
    lookup_route=("GET", "/greenhouse/v3/candidates", None),
    stranger=stranger,
)
