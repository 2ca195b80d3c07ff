"""
Ashby API emulator, written from Ashby's public reference (https://developers.ashbyhq.com).

``/ashby`` stands for ``https://api.ashbyhq.com``.

- RPC style ("Introduction", https://developers.ashbyhq.com/reference/introduction): every endpoint is ``POST
  /<category>.<method>`` with a JSON body and ``Content-Type: application/json``. Here: ``candidate.create``,
  ``candidate.search``, ``candidate.info``, ``candidate.update`` and ``candidate.anonymize``; any other is 404.
- Authentication ("Authentication", https://developers.ashbyhq.com/reference/authentication): HTTP Basic, the API
  key as the user name and an empty password. No key: 401; a wrong or deactivated key: 403; a key without the
  endpoint's module permission: 403 ``missing_endpoint_permission``. ``candidate.search`` and ``candidate.info``
  need ``candidatesRead``; create, update and anonymize ``candidatesWrite``. ``READ_ONLY_KEY`` holds only the
  first. (The reference names only ``missing_endpoint_permission``; the 401 and other 403 codes are the
  emulator's.)
- Answers ("Responses & Errors", https://developers.ashbyhq.com/docs/responses): ``{"success": true,
  "results"}``; what would be 4XX errors are HTTP 200 with ``{"success": false, "errors": [code], "errorInfo":
  {"code", "message", "requestId"}}``. Validation failures are ``invalid_input`` (its documented code); an unknown
  candidate is ``candidate_not_found`` (after the reference's ``<object>_not_found`` codes, e.g.
  ``application_not_found``).
- ``candidate.create`` ("candidate.create", https://developers.ashbyhq.com/reference/candidatecreate): ``name``
  required; ``email``, ``phoneNumber``, ``linkedInUrl``, ``githubUrl``, ``website`` (valid URLs),
  ``alternateEmailAddresses``, ``sourceId``, ``creditedToUserId``, ``location`` (``city``, ``region``,
  ``country``), ``createdAt`` (an ISO date the client may set; default: now). It takes no tags (other fields are
  ignored, not stored). No de-duplication by email: each create is a new candidate. Results: the candidate
  (``id``, ``createdAt``, ``name``, ``primaryEmailAddress``, ``emailAddresses``, ``phoneNumbers``,
  ``socialLinks`` where ``website`` is ``{"type": "Website", "url"}``, ``tags``, ``applicationIds``, ...).
- ``candidate.search`` ("candidate.search", https://developers.ashbyhq.com/reference/candidatesearch): ``email``
  and / or ``name`` (combined with AND), at most 100 results; it sees a candidate ``lookup_lag`` seconds after
  its create (``account.searchable``). ``candidate.info`` (https://developers.ashbyhq.com/reference/candidateinfo):
  ``{"id"}``.
- ``candidate.update`` ("candidate.update", https://developers.ashbyhq.com/reference/candidateupdate):
  ``candidateId`` and the fields it sets (``email`` becomes the primary email, earlier ones are kept);
  ``sendNotifications`` defaults to true (counted in ``account.notified``).
- ``candidate.anonymize`` ("candidate.anonymize", https://developers.ashbyhq.com/docs/candidateanonymize):
  irreversible, refused (``invalid_input``) while one of the candidate's applications is neither archived nor
  hired. The reference does not say what the API answers for an anonymized candidate afterwards: here it answers
  as for an unknown id (``candidate_not_found``).
- The resume, applications and custom fields: ``sandbox/ashby_whole.py`` (its storage host is ``/ashby-storage``).
- Rate limits: none published for these endpoints (only the reports API's 15 per minute,
  https://developers.ashbyhq.com/reference/reportgenerate), so none is enforced; 429s come from the sandbox's
  faults. ``account.max_per_window(1.0)`` tells how the client paced itself.
"""

from __future__ import annotations

import base64
import binascii
import copy
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sandbox import ashby_whole
from sandbox.accounts import VendorAts, Vendors, finish, read_json
from sandbox.ashby_candidate import apply_fields, email_of, invalid, iso, new_candidate, set_primary
from sandbox.ashby_candidate import error as _error
from sandbox.ashby_candidate import ok as _ok
from sandbox.vendor import Vendor

API_KEY = "ashby-sandbox-api-key"
READ_ONLY_KEY = "ashby-sandbox-read-only-key"
KEYS = {API_KEY: {"candidatesRead", "candidatesWrite", "hiringProcessMetadataRead"}, READ_ONLY_KEY: {"candidatesRead"}}
PERMISSION = "missing_endpoint_permission"
ENDPOINTS = {
    "/candidate.create": "candidatesWrite",
    "/candidate.update": "candidatesWrite",
    "/candidate.anonymize": "candidatesWrite",
    "/candidate.search": "candidatesRead",
    "/candidate.info": "candidatesRead",
    **ashby_whole.ENDPOINTS,  # the resume, applications, custom fields
}
SEARCH_LIMIT = 100


def _key(header: str) -> str | None:
    """Return the API key of a Basic ``Authorization`` header (the user name), or None when there is none."""
    if not header.startswith("Basic "):
        return None
    try:
        user = base64.b64decode(header[6:], validate=True).decode().partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return user or None


def serve(handler: Any, vendors: Vendors, method: str, route: str, query: dict[str, str], body: bytes, fault: Any):
    """Answer one Ashby request."""
    account = vendors.ashby
    key = _key(handler.headers.get("Authorization", ""))
    if key is None:
        return handler._send(401, _error("missing_api_key", "An API key is required: the Basic auth user name"))
    if key not in KEYS:
        return handler._send(403, _error("invalid_api_key", "The API key is wrong or deactivated"))
    with vendors.lock:
        account.received_at.append(time.time())
        account.requests[f"{method} {route}"] += 1
    permission = ENDPOINTS.get(route)
    if method != "POST" or permission is None:
        return handler._send(404, _error("endpoint_not_found", f"No endpoint {method} {route}"))
    if permission not in KEYS[key]:
        return handler._send(403, _error(PERMISSION, f"The API key lacks the {permission} permission"))
    if (handler.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
        return handler._send(200, _error("invalid_input", "Content-Type must be application/json"))
    data = read_json(body)
    if not isinstance(data, dict):
        return handler._send(200, _error("invalid_input", "The body must be a JSON object"))
    return ANSWER[route](handler, vendors, data, fault)


def _not_found(handler: Any) -> None:
    handler._send(200, _error("candidate_not_found", "Candidate not found"))


# -- the endpoints ------------------------------------------------------------------------------------------
def _create(handler: Any, vendors: Vendors, data: dict[str, Any], fault: Any) -> None:
    if (problem := invalid(data, create=True)) is not None:
        return handler._send(200, _error("invalid_input", problem))
    candidate = new_candidate(data["name"], iso(time.time()))
    apply_fields(candidate, data)
    account = vendors.ashby
    with vendors.lock:
        account.candidates[candidate["id"]] = candidate
        account.made(candidate["id"])
        account.creates += 1
        answer = copy.deepcopy(candidate)
    return finish(handler, 200, _ok(answer), {}, fault)


def _search(handler: Any, vendors: Vendors, data: dict[str, Any], fault: Any) -> None:
    email, name = str(data.get("email") or "").casefold(), str(data.get("name") or "").casefold()
    if not email and not name:
        return handler._send(200, _error("invalid_input", "email or name is required"))
    account = vendors.ashby
    with vendors.lock:
        found = [
            copy.deepcopy(c)
            for c in account.candidates.values()
            if (not email or any(e["value"].casefold() == email for e in c["emailAddresses"]))
            and (not name or name in c["name"].casefold())
            and account.searchable(c["id"])
        ]
    return finish(handler, 200, _ok(found[:SEARCH_LIMIT]), {}, fault)


def _info(handler: Any, vendors: Vendors, data: dict[str, Any], fault: Any) -> None:
    if not isinstance(data.get("id"), str):
        return handler._send(200, _error("invalid_input", "id is required"))
    with vendors.lock:
        stored = vendors.ashby.candidates.get(data["id"])
        answer = copy.deepcopy(stored) if stored is not None else None
    if answer is None:
        return _not_found(handler)
    return finish(handler, 200, _ok(answer), {}, fault)


def _update(handler: Any, vendors: Vendors, data: dict[str, Any], fault: Any) -> None:
    if not isinstance(data.get("candidateId"), str):
        return handler._send(200, _error("invalid_input", "candidateId is required"))
    if (problem := invalid(data, create=False)) is not None:
        return handler._send(200, _error("invalid_input", problem))
    account = vendors.ashby
    with vendors.lock:
        candidate = account.candidates.get(data["candidateId"])
        if candidate is not None:
            apply_fields(candidate, data)
            candidate["updatedAt"] = iso(time.time())
            account.updates[candidate["id"]] += 1
            account.notified += data.get("sendNotifications", True) is not False
            answer = copy.deepcopy(candidate)
    if candidate is None:
        return _not_found(handler)
    return finish(handler, 200, _ok(answer), {}, fault)


def _anonymize(handler: Any, vendors: Vendors, data: dict[str, Any], fault: Any) -> None:
    if not isinstance(data.get("candidateId"), str):
        return handler._send(200, _error("invalid_input", "candidateId is required"))
    account = vendors.ashby
    with vendors.lock:
        candidate = account.candidates.get(data["candidateId"])
        open_applications = candidate is not None and any(
            account.applications.get(a, {}).get("status") not in ("Archived", "Hired")
            for a in candidate["applicationIds"]
        )
        if candidate is not None and not open_applications:
            del account.candidates[candidate["id"]]
            account.removed[candidate["id"]] = "delete"
            answer = {**new_candidate("Anonymized Candidate", candidate["createdAt"]), "id": candidate["id"]}
    if candidate is None:
        return _not_found(handler)
    if open_applications:
        message = "All of the candidate's applications must be archived or hired to anonymize it"
        return handler._send(200, _error("invalid_input", message))
    return finish(handler, 200, _ok(answer), {}, fault)


ANSWER = {
    "/candidate.create": _create,
    "/candidate.search": _search,
    "/candidate.info": _info,
    "/candidate.update": _update,
    "/candidate.anonymize": _anonymize,
    **ashby_whole.ANSWER,
}


@dataclass
class AshbyAccount(VendorAts):
    """The Ashby account, with its candidates' applications and the notifications updates sent."""

    # application id -> {"candidateId", "status"}: "Active", "Archived" or "Hired"
    applications: dict[str, dict] = field(default_factory=dict)
    notified: int = 0  # updates sent with sendNotifications true (Ashby's default): mail to subscribers
    uploads: dict[str, dict] = field(default_factory=dict)  # presigned upload handle -> {"name", "expires", "data"}


def account() -> AshbyAccount:
    """Return a new, empty Ashby account."""
    return AshbyAccount("ashby", interval=1.0, email_of=email_of)


def connection(base_url: str, **extra: Any) -> dict[str, Any]:
    """Return an ``ats_default`` connection of type ``ashby`` to the sandbox."""
    return {"conn_type": "ashby", "host": f"{base_url}/ashby", "password": API_KEY, "extra": {"timeout": 5, **extra}}


def stranger(vendors: Vendors, first: str, last: str, email: str) -> str:
    """
    Give the account a candidate of its own for ``email`` (a job-board application, still active, made 30 days
    before), listed before any later one; return its id.
    """
    candidate = new_candidate(f"{first} {last}", iso(time.time() - 30 * 86400))
    set_primary(candidate, "EmailAddress", email)
    application = str(uuid.uuid4())
    candidate["applicationIds"] = [application]
    candidate["source"] = {"id": str(uuid.uuid4()), "title": "LinkedIn", "isArchived": False}
    candidate["tags"] = [{"id": str(uuid.uuid4()), "title": "Job board", "isArchived": False}]
    with vendors.lock:
        account = vendors.ashby
        account.applications[application] = {"candidateId": candidate["id"], "status": "Active"}
        account.candidates = {candidate["id"]: candidate, **account.candidates}
        account.strangers.add(candidate["id"])
    return candidate["id"]


VENDOR = Vendor(
    "ashby",
    "/ashby",
    serve,
    account,
    connection,
    "/ashby/candidate.create",
    API_KEY,
    fields=lambda i: {"name": f"F{i} L{i}", "email": f"c{i}@example.com"},
    removal="delete",
    unsupported="archive",
    update_route=("POST", "/ashby/candidate.update", None),
    remove_route=("POST", "/ashby/candidate.anonymize", None),
    lookup_route=("POST", "/ashby/candidate.search", None),
    stranger=stranger,
    auth=(ashby_whole.STORAGE, ashby_whole.serve_storage),  # the presigned uploads' storage host
)
