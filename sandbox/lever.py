"""
Lever API emulator, written from Lever's public reference (https://hire.lever.co/developer/documentation).

``/lever`` stands for ``https://api.lever.co``.

- Authentication ("Authentication"): HTTP Basic with the API key as the user name and an empty password.
- Opportunities ("Create an opportunity"): ``POST /v1/opportunities?perform_as=<user id>`` (``perform_as`` is
  required for every write) with ``name``, ``emails`` (strings), ``phones`` (``[{value, type}]``), ``headline``,
  ``tags``, ``sources``, ``origin`` -> 201 ``{"data": {"id", "contact", ...}}``. De-duplication is by contact:
  an email Lever already knows links the new opportunity to that contact, whose data takes precedence; the
  opportunity itself is always new, so a create sent twice is two opportunities for one person.
  ``GET /v1/opportunities?email=`` -> ``{"data": [...], "hasNext", "next"}`` ("List all opportunities").
- Contacts ("Update a contact"): ``PUT /v1/contacts/{contact}`` with ``name``, ``emails``, ``phones``,
  ``headline``, ``location`` -> 200 ``{"data": {...}}``; unknown id -> 404.
- Archive ("Update opportunity archived state"): ``PUT /v1/opportunities/{id}/archived`` with an archive ``reason``
  id; the API has no opportunity delete.
- Rate limits ("Rate limits"): a token bucket per API key, 10 requests per second with bursts up to 20; a 429
  carries no rate headers.
- Postings ("Create an opportunity"): ``postings: [<posting id>]`` makes the opportunity a candidacy for that
  posting (one per opportunity); the account's postings are ``account.jobs``. A posting it does not have is
  refused: 400 ``BadRequestError`` naming the posting (the reference's error section was not retrieved; the
  client also reads a 404 so).
- Files: ``sandbox/lever_files.py``.
- Errors: ``{"code", "message"}`` (400 ``BadRequestError``, 401 ``UnauthorizedError``, 404 ``ResourceNotFound``,
  429 ``TooManyRequests``).
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sandbox.accounts import EMAIL, VendorAts, Vendors, finish, read_json
from sandbox.lever_files import serve_files
from sandbox.vendor import Vendor

API_KEY = "lever-sandbox-api-key"
PERFORM_AS = "8d49b010-cc6a-4f40-ace5-e86061c677ed"  # the Lever user writes are made as
ARCHIVE_REASON = "63dd55b2-a99f-4e7b-985f-22c7bf80ab42"  # an archive reason id of the account
RATE, BURST = 10.0, 20
CONTACT_FIELDS = ("name", "emails", "phones", "headline", "location")


@dataclass
class LeverAccount(VendorAts):
    """The Lever account, with its contacts (an opportunity's person) and the token bucket of its API key."""

    contacts: dict[str, dict] = field(default_factory=dict)  # contact id -> contact
    bucket: dict[str, float] = field(default_factory=lambda: {"tokens": float(BURST), "at": 0.0})


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def _take(vendors: Vendors, now: float) -> bool:
    """Take one token from the key's bucket (10 per second, up to 20 held); return False when it is empty."""
    bucket = vendors.lever.bucket
    bucket["tokens"] = min(BURST, bucket["tokens"] + (now - bucket["at"]) * RATE)
    bucket["at"] = now
    if bucket["tokens"] < 1:
        return False
    bucket["tokens"] -= 1
    return True


def serve(handler: Any, vendors: Vendors, method: str, route: str, query: dict[str, str], body: bytes, fault: Any):
    """Answer one Lever request: the key and its rate limit first, then the route."""
    files = route.startswith("/v1/opportunities/") and route.strip("/").split("/")[3:4] == ["files"]
    if not _admit(handler, vendors, method, route, files):
        return None
    if method == "GET" and route == "/v1/opportunities":
        return _search(handler, vendors, query)
    if files and query.get("perform_as", PERFORM_AS if method == "GET" else "") != PERFORM_AS:
        return handler._send(400, _error("BadRequestError", "perform_as must be the id of an active Lever user"))
    if files:
        return serve_files(handler, vendors, method, route, body, fault)
    if method == "GET" and route.startswith("/v1/opportunities/"):
        return _show(handler, vendors, route.removeprefix("/v1/opportunities/"))
    if method in ("POST", "PUT") and query.get("perform_as", PERFORM_AS if method == "PUT" else "") != PERFORM_AS:
        return handler._send(400, _error("BadRequestError", "perform_as must be the id of an active Lever user"))
    if method == "POST" and route == "/v1/opportunities":
        return _create(handler, vendors, read_json(body), fault)
    if method == "PUT" and route.startswith("/v1/contacts/"):
        return _update_contact(handler, vendors, route.removeprefix("/v1/contacts/"), read_json(body), fault)
    if method == "PUT" and route.startswith("/v1/opportunities/") and route.endswith("/archived"):
        return _archive(handler, vendors, route.split("/")[3], read_json(body), fault)
    return handler._send(404, _error("ResourceNotFound", f"Not found: {method} {route}"))


def _admit(handler: Any, vendors: Vendors, method: str, route: str, files: bool) -> bool:
    """Check the key (Basic, the key as user name), count the request, take a token; False once refused."""
    account = vendors.lever
    try:
        user = base64.b64decode(handler.headers.get("Authorization", "")[6:]).decode().partition(":")[0]
    except ValueError:
        user = ""
    if user != API_KEY:
        handler._send(401, _error("UnauthorizedError", "Invalid API key"))
        return False
    with vendors.lock:
        now = time.time()
        account.received_at.append(now)
        label = "/v1/contacts/{id}" if route.startswith("/v1/contacts/") else route
        label = "/v1/opportunities/{id}/archived" if route.endswith("/archived") else label
        label = "/v1/opportunities/{id}/files" if files else label
        account.requests[f"{method} {label}"] += 1
        if not _take(vendors, now):
            account.refused_for_rate += 1
            handler._send(429, _error("TooManyRequests", "Rate limit exceeded"))
            return False
    return True


def _search(handler: Any, vendors: Vendors, query: dict[str, str]) -> None:
    """Answer "List all opportunities", filtered by ``email``, ``origin`` and ``created_at_start``."""
    email = (query.get("email") or "").casefold()
    origin, start = query.get("origin"), query.get("created_at_start")
    with vendors.lock:
        found = [
            dict(o)
            for o in vendors.lever.candidates.values()
            if (not email or _has(o, email, vendors))
            and (not origin or o.get("origin") == origin)
            and (not start or o["createdAt"] >= int(start))
            and vendors.lever.searchable(o["id"])
        ]
    return handler._send(200, {"data": found[:100], "hasNext": False})


def _show(handler: Any, vendors: Vendors, opportunity_id: str) -> None:
    """Answer "Retrieve a single opportunity"."""
    with vendors.lock:
        stored = vendors.lever.candidates.get(opportunity_id)
        answer = dict(stored) if stored is not None else None
    if answer is None:
        return handler._send(404, _error("ResourceNotFound", "Opportunity not found"))
    return handler._send(200, {"data": answer})


def _update_contact(handler: Any, vendors: Vendors, contact_id: str, data: Any, fault: Any) -> None:
    """``PUT /v1/contacts/{id}``: the contact's fields, shown by each of its opportunities."""
    if (problem := _invalid(data, create=False)) is not None:
        return handler._send(400, problem)
    account = vendors.lever
    with vendors.lock:
        contact = account.contacts.get(contact_id)
        if contact is None:
            return handler._send(404, _error("ResourceNotFound", "Contact not found"))
        contact.update({k: data[k] for k in CONTACT_FIELDS if k in data})
        for opportunity in account.candidates.values():  # an opportunity shows its contact's details
            if opportunity["contact"] == contact_id:
                opportunity.update({k: contact[k] for k in CONTACT_FIELDS if k in contact})
        account.updates[contact_id] += 1
        answer = dict(contact)
    return finish(handler, 200, {"data": answer}, {}, fault)


def _archive(handler: Any, vendors: Vendors, opportunity_id: str, data: Any, fault: Any) -> None:
    """Answer "Update opportunity archived state": ``{"reason": <archive reason id>}``."""
    if not isinstance(data, dict) or data.get("reason") != ARCHIVE_REASON:
        return handler._send(400, _error("BadRequestError", "reason must be an archive reason id"))
    account = vendors.lever
    with vendors.lock:
        opportunity = account.candidates.get(opportunity_id)
        if opportunity is None:
            return handler._send(404, _error("ResourceNotFound", "Opportunity not found"))
        opportunity["archived"] = {"reason": data["reason"], "archivedAt": int(time.time() * 1000)}
        account.removed[opportunity["id"]] = "archive"
        answer = dict(opportunity)
    return finish(handler, 200, {"data": answer}, {}, fault)


def _has(opportunity: dict, email: str, vendors: Vendors) -> bool:
    contact = vendors.lever.contacts.get(opportunity["contact"], {})
    return any(str(e).casefold() == email for e in contact.get("emails") or opportunity.get("emails") or [])


def _invalid(data: Any, *, create: bool) -> dict[str, str] | None:
    if not isinstance(data, dict):
        return _error("BadRequestError", "Body must be a JSON object")
    if create and not data.get("name"):
        return _error("BadRequestError", "name is required")
    emails = data.get("emails") or []
    if not isinstance(emails, list) or not all(EMAIL.fullmatch(str(e)) for e in emails):
        return _error("BadRequestError", "emails must be a list of valid email addresses")
    return None


def _create(handler: Any, vendors: Vendors, data: Any, fault: Any) -> None:
    """Create an opportunity, linked to the contact that already has one of its emails (that contact's data wins)."""
    if (problem := _invalid(data, create=True)) is not None:
        return handler._send(400, problem)
    account = vendors.lever
    postings = data.get("postings") or []
    if not isinstance(postings, list) or len(postings) > 1:
        return handler._send(400, _error("BadRequestError", "postings must be a list of at most one posting id"))
    if unknown := [str(p) for p in postings if str(p) not in account.jobs]:
        return handler._send(400, _error("BadRequestError", f"Invalid posting: {unknown[0]} is not a posting"))
    with vendors.lock:
        emails = {str(e).casefold() for e in data.get("emails") or []}
        contact = next(
            (c for c in vendors.lever.contacts.values() if emails & {str(e).casefold() for e in c["emails"]}), None
        )
        if contact is None:
            contact = {"id": str(uuid.uuid4()), **{k: data.get(k) for k in CONTACT_FIELDS}}
            contact["emails"] = list(data.get("emails") or [])
            vendors.lever.contacts[contact["id"]] = contact
        opportunity = {
            "id": str(uuid.uuid4()),
            "contact": contact["id"],
            **{k: contact.get(k) for k in CONTACT_FIELDS},
            "tags": data.get("tags") or [],
            "sources": data.get("sources") or [],
            "origin": data.get("origin"),
            "createdAt": int(time.time() * 1000),
            "applications": [str(p) for p in postings],
        }
        for posting in postings:
            account.apply(opportunity["id"], str(posting))
        account.candidates[opportunity["id"]] = opportunity
        account.made(opportunity["id"])
        account.creates += 1
    return finish(handler, 201, {"data": dict(opportunity)}, {}, fault)


def stranger(vendors: Vendors, first: str, last: str, email: str) -> str:
    """Give the account an opportunity of its own for ``email`` (see :func:`earlier_opportunity`)."""
    return earlier_opportunity(vendors, f"{first} {last}", email)


def earlier_opportunity(vendors: Vendors, name: str, email: str, *, days_ago: int = 30) -> str:
    """
    Give the account an opportunity of its own for ``email`` (a job-board application, another source), made
    ``days_ago`` days before, listed before any later one: the account in use a sync meets. Return its id.
    """
    with vendors.lock:
        emails = {email.casefold()}
        contact = next(
            (c for c in vendors.lever.contacts.values() if emails & {str(e).casefold() for e in c["emails"]}), None
        )
        if contact is None:
            contact = {
                "id": str(uuid.uuid4()),
                "name": name,
                "emails": [email],
                "phones": [],
                "headline": None,
                "location": None,
            }
            vendors.lever.contacts[contact["id"]] = contact
        opportunity = {
            "id": str(uuid.uuid4()),
            "contact": contact["id"],
            **{k: contact.get(k) for k in CONTACT_FIELDS},
            "tags": ["Job board"],
            "sources": ["LinkedIn"],
            "origin": "applied",
            "createdAt": int((time.time() - days_ago * 86400) * 1000),
        }
        vendors.lever.candidates = {opportunity["id"]: opportunity, **vendors.lever.candidates}  # listed first
        vendors.lever.strangers.add(opportunity["id"])
    return opportunity["id"]


def connection(base_url: str, **extra: Any) -> dict[str, Any]:
    """Return an ``ats_default`` connection of type ``lever`` to the sandbox."""
    return {
        "conn_type": "lever",
        "host": f"{base_url}/lever",
        "password": API_KEY,
        "extra": {"perform_as": PERFORM_AS, "archive_reason_id": ARCHIVE_REASON, "timeout": 5, **extra},
    }


VENDOR = Vendor(
    "lever",
    "/lever",
    serve,
    lambda: LeverAccount("lever", interval=1.0, email_of=lambda o: (o.get("emails") or [""])[0]),
    connection,
    "/lever/v1/opportunities",
    API_KEY,
    fields=lambda i: {"name": f"F{i} L{i}", "email": f"c{i}@example.com"},
    removal="archive",
    unsupported="delete",
    update_route=("PUT", "/lever/v1/contacts/", None),
    remove_route=("PUT", "/lever/v1/opportunities/", "reason"),
    lookup_route=("GET", "/lever/v1/opportunities", None),
    stranger=stranger,
)
