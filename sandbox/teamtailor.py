"""
Teamtailor API emulator, written from Teamtailor's public reference (https://docs.teamtailor.com), a JSON:API.

``/teamtailor`` stands for ``https://api.teamtailor.com`` (``https://api.na.teamtailor.com`` in North America).

- Authentication and versions ("Authentication", "Versioning"): ``Authorization: Token token=<API key>`` (writes
  need an Admin-scope key) and ``X-Api-Version`` on every request; a missing or unknown version is 406.
- Writes send ``Content-Type: application/vnd.api+json`` (JSON:API); anything else is 415.
- Candidates ("Candidates"): ``POST /v1/candidates`` with ``{"data": {"type": "candidates", "attributes":
  {"first-name", "last-name", "email", "phone", ...}}}`` -> 201 ``{"data": {"id": "<string>", ...}}``. The email
  is unique per company: a second create with a taken email is 422 ``has already been taken``, unless the
  attributes carry ``"merge": true``, which merges into the existing candidate.
  ``GET /v1/candidates?filter[email]=`` -> ``{"data": [...], "links": {...}, "meta": {...}}``, paged by
  ``page[size]`` (at most 30) and ``page[number]``.
  ``PATCH /v1/candidates/{id}`` with ``{"data": {"id", "type", "attributes"}}`` -> 200; ``DELETE
  /v1/candidates/{id}`` -> 204; unknown id -> 404.
- Rate limits ("Rate limiting"): each answer carries ``X-Rate-Limit-Limit``, ``X-Rate-Limit-Remaining`` and
  ``X-Rate-Limit-Reset``; beyond the limit, 429. Here: 50 requests per 10-second window, the reset as the Unix
  time of the next window (the reference names the headers; the window and the reset's unit are assumptions,
  and the client paces from the headers whatever they say).
- Errors: JSON:API ``{"errors": [{"status", "title", "detail", "source": {"pointer"}}]}``.
- The whole candidate: the ``resume`` attribute of a create or an update is a file of the candidate (Teamtailor
  fetches the URL; kept here as the URL). Job applications and custom field values: :mod:`sandbox.teamtailor_whole`.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

from sandbox.accounts import EMAIL, VendorAts, Vendors, Window, finish, read_json
from sandbox.teamtailor_whole import TeamtailorAts, serve_whole
from sandbox.teamtailor_whole import errors as _errors
from sandbox.vendor import Vendor

API_KEY = "teamtailor-sandbox-admin-key"
API_VERSIONS = ("20240404", "20240904")
LIMIT, INTERVAL = 50, 10.0
JSONAPI = "application/vnd.api+json"
ATTRIBUTES = ("first-name", "last-name", "email", "phone", "pitch", "tags", "sourced", "resume")
_ids = itertools.count(7_000_001)


def serve(handler: Any, vendors: Vendors, method: str, route: str, query: dict[str, str], body: bytes, fault: Any):
    """Answer one Teamtailor request: the key, the API version and the rate limit first, then the route."""
    headers = _admit(handler, vendors, method, route)
    if headers is None:
        return None
    one = re.fullmatch(r"/v1/candidates/[^/]+", route) is not None
    if method in ("POST", "PATCH") and (handler.headers.get("Content-Type") or "").split(";")[0] != JSONAPI:
        return handler._send(415, _errors(415, f"Content-Type must be {JSONAPI}"), headers)
    if method == "GET" and route == "/v1/candidates":
        return _list(handler, vendors, query, headers)
    if serve_whole(handler, vendors, method, route, query, read_json(body), headers, fault):
        return None
    if method == "GET" and one:
        return _show(handler, vendors, route.removeprefix("/v1/candidates/"), headers)
    if method == "POST" and route == "/v1/candidates":
        return _create(handler, vendors, read_json(body), headers, fault)
    if method == "PATCH" and one:
        return _update(handler, vendors, route.removeprefix("/v1/candidates/"), read_json(body), headers, fault)
    if method == "DELETE" and one:
        return _delete(handler, vendors, route.removeprefix("/v1/candidates/"), headers, fault)
    return handler._send(404, _errors(404, f"Not found: {method} {route}"), headers)


def _admit(handler: Any, vendors: Vendors, method: str, route: str) -> dict[str, str] | None:
    """Check the key and the API version, count the request, take it from the window; None once refused."""
    account = vendors.teamtailor
    if handler.headers.get("Authorization", "") != f"Token token={API_KEY}":
        handler._send(401, _errors(401, "Invalid or missing API key"))
        return None
    if handler.headers.get("X-Api-Version") not in API_VERSIONS:
        handler._send(406, _errors(406, "Missing or unsupported X-Api-Version"))
        return None
    with vendors.lock:
        now = time.time()
        account.received_at.append(now)
        account.requests[f"{method} {re.sub(r'/v1/candidates/[^/]+', '/v1/candidates/{id}', route)}"] += 1
        allowed, remaining, reset = account.windows.setdefault(API_KEY, Window(LIMIT, INTERVAL)).take(now)
        headers = {
            "X-Rate-Limit-Limit": str(LIMIT),
            "X-Rate-Limit-Remaining": str(max(remaining, 0)),
            "X-Rate-Limit-Reset": str(int(reset)),
        }
        if not allowed:
            account.refused_for_rate += 1
    if not allowed:
        handler._send(429, _errors(429, "Too many requests"), headers)
        return None
    return headers


def _show(handler: Any, vendors: Vendors, candidate_id: str, headers: dict) -> None:
    """Answer "Show a Candidate"."""
    with vendors.lock:
        stored = vendors.teamtailor.candidates.get(candidate_id)
        answer = (
            {"id": stored["id"], "type": "candidates", "attributes": dict(stored["attributes"])} if stored else None
        )
    if answer is None:
        return handler._send(404, _errors(404, "Record not found"), headers)
    return handler._send(200, {"data": answer}, headers)


def _update(handler: Any, vendors: Vendors, candidate_id: str, data: Any, headers: dict, fault: Any) -> None:
    """``PATCH /v1/candidates/{id}``: ``data.id`` must match the URL; an email another candidate has is taken."""
    account = vendors.teamtailor
    resource = data.get("data") if isinstance(data, dict) else None
    if not isinstance(resource, dict) or resource.get("id") != candidate_id:
        return handler._send(409, _errors(409, "data.id must match the URL"), headers)
    attributes = resource.get("attributes") or {}
    if (problem := _invalid(attributes)) is not None:
        return handler._send(422, problem, headers)
    with vendors.lock:
        candidate = account.candidates.get(candidate_id)
        if candidate is None:
            return handler._send(404, _errors(404, "Record not found"), headers)
        if _taken(vendors, attributes.get("email"), but=candidate_id):
            return handler._send(422, _errors(422, "has already been taken", "/data/attributes/email"), headers)
        candidate["attributes"].update({k: attributes[k] for k in ATTRIBUTES if k in attributes})
        account.updates[candidate_id] += 1
        _keep_resume(account, candidate_id, attributes)
        answer = {"id": candidate_id, "type": "candidates", "attributes": dict(candidate["attributes"])}
    return finish(handler, 200, {"data": answer}, headers, fault)


def _delete(handler: Any, vendors: Vendors, candidate_id: str, headers: dict, fault: Any) -> None:
    """Answer "Delete candidate": 204, 404 when unknown."""
    with vendors.lock:
        gone = vendors.teamtailor.candidates.pop(candidate_id, None)
        if gone is not None:
            vendors.teamtailor.removed[gone["id"]] = "delete"
    if gone is None:
        return handler._send(404, _errors(404, "Record not found"), headers)
    return finish(handler, 204, None, headers, fault)


def _keep_resume(account: VendorAts, candidate_id: str, attributes: dict) -> None:
    """Keep the file a create or an update points to (``resume``), as Teamtailor fetches it (under the lock)."""
    if url := attributes.get("resume"):
        account.add_file(candidate_id, str(url).rsplit("/", 1)[-1], url=str(url))


def _list(handler: Any, vendors: Vendors, query: dict[str, str], headers: dict[str, str]) -> None:
    size = min(int(query.get("page[size]") or 10), 30)
    number = max(int(query.get("page[number]") or 1), 1)
    email = (query.get("filter[email]") or "").casefold()
    with vendors.lock:
        found = [
            {"id": c["id"], "type": "candidates", "attributes": dict(c["attributes"])}
            for c in vendors.teamtailor.candidates.values()
            if (not email or vendors.teamtailor.email(c).casefold() == email) and vendors.teamtailor.searchable(c["id"])
        ]
    page = found[(number - 1) * size : number * size]
    more = number * size < len(found)
    links = {"next": f"/v1/candidates?page[number]={number + 1}&page[size]={size}"} if more else {}
    return handler._send(200, {"data": page, "links": links, "meta": {"record-count": len(found)}}, headers)


def _invalid(attributes: Any) -> dict[str, Any] | None:
    if not isinstance(attributes, dict):
        return _errors(422, "attributes must be an object", "/data/attributes")
    if "email" in attributes and attributes["email"] and not EMAIL.fullmatch(str(attributes["email"])):
        return _errors(422, "is invalid", "/data/attributes/email")
    return None


def _taken(vendors: Vendors, email: Any, but: str | None = None) -> dict | None:
    if not email:
        return None
    return next(
        (c for c in vendors.teamtailor.by_email(str(email)) if c["id"] != but),
        None,
    )


def _create(handler: Any, vendors: Vendors, data: Any, headers: dict[str, str], fault: Any) -> None:
    resource = data.get("data") if isinstance(data, dict) else None
    if not isinstance(resource, dict) or resource.get("type") != "candidates":
        return handler._send(422, _errors(422, "data.type must be candidates", "/data/type"), headers)
    attributes = resource.get("attributes") or {}
    if (problem := _invalid(attributes)) is not None:
        return handler._send(422, problem, headers)
    if not attributes.get("email") and not attributes.get("sourced"):  # "required ... unless sourced is true"
        return handler._send(422, _errors(422, "can't be blank", "/data/attributes/email"), headers)
    account = vendors.teamtailor
    with vendors.lock:
        existing = _taken(vendors, attributes.get("email"))
        if existing is not None and not attributes.get("merge"):
            return handler._send(422, _errors(422, "has already been taken", "/data/attributes/email"), headers)
        if existing is not None:  # merge: the existing candidate takes what the body carries
            existing["attributes"].update({k: attributes[k] for k in ATTRIBUTES if k in attributes})
            candidate = existing
        else:
            candidate = {"id": str(next(_ids)), "attributes": {k: attributes.get(k) for k in ATTRIBUTES}}
            candidate["attributes"]["created-at"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            account.candidates[candidate["id"]] = candidate
            account.made(candidate["id"])
            account.creates += 1
        _keep_resume(account, candidate["id"], attributes)
        answer = {"id": candidate["id"], "type": "candidates", "attributes": dict(candidate["attributes"])}
    return finish(handler, 201, {"data": answer}, headers, fault)


def connection(base_url: str, **extra: Any) -> dict[str, Any]:
    """Return an ``ats_default`` connection of type ``teamtailor`` to the sandbox."""
    return {
        "conn_type": "teamtailor",
        "host": f"{base_url}/teamtailor",
        "password": API_KEY,
        "extra": {"api_version": API_VERSIONS[0], "timeout": 5, **extra},
    }


def stranger(vendors: Vendors, first: str, last: str, email: str) -> str:
    """Give the company a candidate of its own for ``email`` (a career-site application); return its id."""
    made = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 30 * 86400))
    attributes = {k: None for k in ATTRIBUTES}
    attributes.update(
        {"first-name": first, "last-name": last, "email": email, "tags": ["Career site"], "created-at": made}
    )
    candidate = {"id": str(next(_ids)), "attributes": attributes}
    with vendors.lock:
        vendors.teamtailor.candidates = {candidate["id"]: candidate, **vendors.teamtailor.candidates}
        vendors.teamtailor.strangers.add(candidate["id"])
    return candidate["id"]


VENDOR = Vendor(
    "teamtailor",
    "/teamtailor",
    serve,
    lambda: TeamtailorAts("teamtailor", interval=10.0, email_of=lambda c: c["attributes"].get("email")),
    connection,
    "/teamtailor/v1/candidates",
    API_KEY,
    fields=lambda i: {"first-name": f"F{i}", "last-name": f"L{i}", "email": f"c{i}@example.com"},
    update_route=("PATCH", "/teamtailor/v1/candidates/", None),
    remove_route=("DELETE", "/teamtailor/v1/candidates/", None),
    lookup_route=("GET", "/teamtailor/v1/candidates", None),
    stranger=stranger,
)
