"""
SmartRecruiters emulator, written from the vendor's public API docs.

``/smartrecruiters/...`` stands for ``https://api.smartrecruiters.com``.

- Candidate API (https://dev.smartrecruiters.com/customer-api/live-docs/candidate-api/): header
  ``X-SmartToken``; ``POST /candidates`` with ``firstName``, ``lastName`` and ``email`` required -> 201
  ``{id, ...}``; ``PATCH /candidates/{id}`` updates the personal information it carries -> 200, 404 for an
  unknown id (https://developers.smartrecruiters.com/reference/candidatespatch-1); ``GET /candidates?q=`` keyword
  search -> ``{totalFound, offset, limit, content: [...]}``;
  errors ``{message, errors: [{code, message}]}``.
- Rate limiting (https://developers.smartrecruiters.com/docs/rate-limiting): 10 requests per second and 8
  concurrent requests per credential, ``GET /candidates`` one at a time; every answer carries
  ``X-RateLimit-Limit``/``X-RateLimit-Remaining`` and ``X-RateLimit-Concurrent-Limit``/``-Remaining``;
  429 beyond.

- Attachments and jobs: ``sandbox/smartrecruiters_files.py`` (``POST /jobs/{jobId}/candidates`` is answered here:
  the create on a job, 404 for a job the account does not have).

Faults (5xx, a create applied whose answer is lost or replaced by a gateway's 502) come from the sandbox's generic
fault list, matched on these paths.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sandbox.accounts import EMAIL, VendorAts, Vendors, Window, earlier, finish, read_json
from sandbox.smartrecruiters_files import serve_attachments
from sandbox.vendor import Vendor

SMARTRECRUITERS_TOKEN = "smartrecruiters-sandbox-key"
SR_LIMIT, SR_INTERVAL, SR_CONCURRENT = 10, 1.0, 8
SR_UPDATABLE = ("firstName", "lastName", "email", "phoneNumber", "location", "web")


def serve(
    handler: Any,
    vendors: Vendors,
    method: str,
    route: str,
    query: dict[str, str],
    body: bytes,
    fault: Any,
    latency: float,
) -> None:
    """Answer one SmartRecruiters request, taking ``latency`` seconds to answer.

    The latency is spent once the request counts as in flight, as a real vendor's answer time is: the concurrency
    limits then hold across the whole answer, not across microseconds.
    """
    account = vendors.smartrecruiters
    lookup = method == "GET" and route == "/candidates"
    headers = _admit(handler, vendors, method, route, lookup)
    if headers is None:
        return None
    try:
        if latency:
            time.sleep(latency)  # in flight while it takes
        if lookup:
            found = _search(vendors, (query.get("q") or "").casefold())
            lookup = False  # answered: no longer in flight once the answer is on its way (_search counted it out)
            return handler._send(
                200, {"totalFound": len(found), "offset": 0, "limit": 10, "content": found[:10]}, headers
            )
        return _route(handler, vendors, method, route, body, headers, fault)
    finally:
        with vendors.lock:
            account.in_flight -= 1
            account.lookups_in_flight -= lookup


def _admit(handler: Any, vendors: Vendors, method: str, route: str, lookup: bool) -> dict[str, str] | None:
    """
    Check the token, count the request, and let it in flight within the rate and concurrency limits (one lookup
    at a time); return the rate headers, or None once refused.
    """
    account = vendors.smartrecruiters
    if handler.headers.get("X-SmartToken") != SMARTRECRUITERS_TOKEN:
        unauthorized = [{"code": "UNAUTHORIZED", "message": "Invalid token"}]
        handler._send(401, {"message": "Unauthorized: invalid or missing X-SmartToken", "errors": unauthorized})
        return None
    with vendors.lock:
        now = time.time()
        account.received_at.append(now)
        account.requests[f"{method} {_label(route)}"] += 1
        window = account.windows.setdefault(SMARTRECRUITERS_TOKEN, Window(SR_LIMIT, SR_INTERVAL))
        allowed, remaining, _reset = window.take(now)
        too_many_at_once = account.in_flight >= SR_CONCURRENT or (lookup and account.lookups_in_flight >= 1)
        headers = {
            "X-RateLimit-Limit": str(SR_LIMIT),
            "X-RateLimit-Remaining": str(max(remaining, 0)),
            "X-RateLimit-Concurrent-Limit": str(SR_CONCURRENT),
            "X-RateLimit-Concurrent-Remaining": str(max(SR_CONCURRENT - account.in_flight - 1, 0)),
        }
        refused = not allowed or too_many_at_once
        if refused:
            account.refused_for_rate += 1
        else:
            account.in_flight += 1
            account.max_in_flight = max(account.max_in_flight, account.in_flight)
            account.lookups_in_flight += lookup
    if refused:
        exceeded = [{"code": "RATE_LIMIT_EXCEEDED", "message": "API rate limit exceeded"}]
        handler._send(429, {"message": "Too Many Requests", "errors": exceeded}, headers)
        return None
    return headers


def _search(vendors: Vendors, q: str) -> list[dict]:
    """Return the candidates keyword ``q`` finds (search items carry no tags); count the lookup out of flight."""
    account = vendors.smartrecruiters
    with vendors.lock:
        found = [
            {k: v for k, v in c.items() if k != "tags"}
            for c in account.candidates.values()
            if q
            and account.searchable(c["id"])
            and any(q in str(c.get(f, "")).casefold() for f in ("email", "firstName", "lastName"))
        ]
        account.lookups_in_flight -= 1
    return found


def _route(handler: Any, vendors: Vendors, method: str, route: str, body: bytes, headers: dict, fault: Any) -> None:
    """Answer a request let in flight, by its route."""
    account = vendors.smartrecruiters
    if route.startswith("/candidates/") and route.endswith("/attachments"):
        return serve_attachments(handler, vendors, method, route.split("/")[2], body, headers, fault)
    if method == "GET" and route.startswith("/candidates/"):  # "Get candidate details": tags, createdOn
        with vendors.lock:
            stored = account.candidates.get(route.removeprefix("/candidates/"))
            answer = dict(stored) if stored is not None else None
        if answer is None:
            return handler._send(404, {"message": "Candidate not found", "errors": []}, headers)
        return handler._send(200, answer, headers)
    job = route.removeprefix("/jobs/").removesuffix("/candidates") if route.startswith("/jobs/") else None
    if method == "POST" and job is not None and job not in account.jobs:
        return handler._send(404, {"message": "Job not found", "errors": []}, headers)
    if method == "POST" and (route == "/candidates" or job is not None):
        return _sr_create(handler, vendors, job, read_json(body), headers, fault)
    if method == "PATCH" and route.startswith("/candidates/"):
        return _sr_update(handler, account, vendors, route.removeprefix("/candidates/"), body, headers, fault)
    if method == "DELETE" and route.startswith("/candidates/"):  # candidatesDelete: 204, 404 when unknown
        with vendors.lock:
            gone = account.candidates.pop(route.removeprefix("/candidates/"), None)
            if gone is not None:
                account.removed[gone["id"]] = "delete"
        if gone is None:
            return handler._send(404, {"message": "Candidate not found", "errors": []}, headers)
        return finish(handler, 204, None, headers, fault)
    return handler._send(404, {"message": f"Not found: {method} {route}", "errors": []}, headers)


def _sr_refusal(data: Any) -> dict | None:
    """Return the 400 body refusing a create (``firstName``, ``lastName``, a valid ``email`` required), or None."""
    if not isinstance(data, dict):
        return {"message": "Malformed JSON body", "errors": []}
    missing = [f for f in ("firstName", "lastName", "email") if not data.get(f)]
    if missing:
        required = [{"code": "FIELD_REQUIRED", "message": f"{f} is required"} for f in missing]
        return {"message": "Validation failed", "errors": required}
    if not EMAIL.fullmatch(str(data["email"])):
        invalid = [{"code": "INVALID_EMAIL", "message": "email is not a valid email address"}]
        return {"message": "Validation failed", "errors": invalid}
    return None


def _sr_create(handler: Any, vendors: Vendors, job: str | None, data: Any, headers: dict, fault: Any) -> None:
    """``POST /candidates`` or ``POST /jobs/{jobId}/candidates`` ("Create a new candidate and assign to a job")."""
    if (refusal := _sr_refusal(data)) is not None:
        return handler._send(400, refusal, headers)
    account = vendors.smartrecruiters
    with vendors.lock:
        candidate = {
            "id": str(uuid.uuid4()),
            "internalId": str(len(account.candidates) + 1),
            "firstName": data["firstName"],
            "lastName": data["lastName"],
            "email": data["email"],
            "phoneNumber": data.get("phoneNumber"),
            "location": data.get("location"),
            "tags": [str(t) for t in data.get("tags") or []],
            "createdOn": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        }
        account.candidates[candidate["id"]] = candidate
        if job is not None:
            account.apply(candidate["id"], job)
        account.made(candidate["id"])
        account.creates += 1
    return finish(handler, 201, candidate, headers, fault)


def _label(route: str) -> str:
    """Return the route as the account counts it: ids replaced by ``{id}``."""
    if route.startswith("/jobs/"):
        return "/jobs/{id}/candidates"
    if route.startswith("/candidates/"):
        return "/candidates/{id}/attachments" if route.endswith("/attachments") else "/candidates/{id}"
    return route


def _sr_update(
    handler: Any, account: VendorAts, vendors: Vendors, candidate_id: str, body: bytes, headers: dict, fault: Any
) -> None:
    """``PATCH /candidates/{id}``: set the personal information fields the body carries."""
    data = read_json(body)
    if not isinstance(data, dict):
        return handler._send(400, {"message": "Malformed JSON body", "errors": []}, headers)
    if "email" in data and not EMAIL.fullmatch(str(data["email"])):
        return handler._send(
            400,
            {"message": "Validation failed", "errors": [{"code": "INVALID_EMAIL", "message": "email is not valid"}]},
            headers,
        )
    with vendors.lock:
        candidate = account.candidates.get(candidate_id)
        if candidate is None:
            return handler._send(404, {"message": "Candidate not found", "errors": []}, headers)
        candidate.update({name: data[name] for name in SR_UPDATABLE if name in data})
        account.updates[candidate_id] += 1
        answer = dict(candidate)
    return finish(handler, 200, answer, headers, fault)


def smartrecruiters_connection(base_url: str, **extra: Any) -> dict[str, Any]:
    """Return an ``ats_default`` connection of type ``smartrecruiters`` to the sandbox."""
    return {
        "conn_type": "smartrecruiters",
        "host": f"{base_url}/smartrecruiters",
        "password": SMARTRECRUITERS_TOKEN,
        "extra": {"timeout": 5, **extra},
    }


def smartrecruiters_stranger(vendors: Vendors, first: str, last: str, email: str) -> str:
    """Give the account a candidate of its own for ``email`` (another source, a month old); return its id."""
    candidate = {
        "id": str(uuid.uuid4()),
        "firstName": first,
        "lastName": last,
        "email": email,
        "tags": ["Referral"],
        "createdOn": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(earlier())),
    }
    with vendors.lock:
        vendors.smartrecruiters.candidates = {candidate["id"]: candidate, **vendors.smartrecruiters.candidates}
        vendors.smartrecruiters.strangers.add(candidate["id"])
    return candidate["id"]


VENDOR = Vendor(
    "smartrecruiters",
    "/smartrecruiters",
    serve,
    lambda: VendorAts("smartrecruiters", interval=SR_INTERVAL),
    smartrecruiters_connection,
    "/smartrecruiters/candidates",
    SMARTRECRUITERS_TOKEN,
    latency_in_flight=True,  # its concurrency limit holds across the whole answer time
    fields=lambda i: {"firstName": f"F{i}", "lastName": f"L{i}", "email": f"c{i}@example.com"},
    update_route=("PATCH", "/smartrecruiters/candidates/", None),
    remove_route=("DELETE", "/smartrecruiters/candidates/", None),
    lookup_route=("GET", "/smartrecruiters/candidates", None),
    stranger=smartrecruiters_stranger,
)
