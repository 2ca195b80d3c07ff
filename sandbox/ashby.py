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
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sandbox.vendor import Vendor
from sandbox.vendors import EMAIL, VendorAts, Vendors, finish, read_json

API_KEY = "ashby-sandbox-api-key"
READ_ONLY_KEY = "ashby-sandbox-read-only-key"
KEYS = {API_KEY: {"candidatesRead", "candidatesWrite"}, READ_ONLY_KEY: {"candidatesRead"}}
PERMISSION = "missing_endpoint_permission"
ENDPOINTS = {
    "/candidate.create": "candidatesWrite",
    "/candidate.update": "candidatesWrite",
    "/candidate.anonymize": "candidatesWrite",
    "/candidate.search": "candidatesRead",
    "/candidate.info": "candidatesRead",
}
LINKS = {"linkedInUrl": "LinkedIn", "githubUrl": "GitHub", "website": "Website", "websiteUrl": "Website"}
SEARCH_LIMIT = 100


def _error(code: str, message: str) -> dict[str, Any]:
    info = {"code": code, "message": message, "requestId": uuid.uuid4().hex[:26].upper()}
    return {"success": False, "errors": [code], "errorInfo": info}


def _ok(results: Any) -> dict[str, Any]:
    return {"success": True, "results": results}


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"


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


# -- validation ----------------------------------------------------------------------------------------
def _url(value: Any) -> bool:
    parts = urlsplit(str(value))
    return isinstance(value, str) and parts.scheme in ("http", "https") and bool(parts.netloc)


def _date(value: Any) -> bool:
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return False
    return isinstance(value, str)


def _invalid(data: dict[str, Any], *, create: bool) -> str | None:
    """Return why ``data`` is refused (``invalid_input``), or None. Messages name fields, never values."""
    if (create or "name" in data) and not (isinstance(data.get("name"), str) and data["name"].strip()):
        return "name: a non-empty string is required"
    emails = [data[f] for f in ("email", "alternateEmail") if data.get(f) is not None]
    emails += list(data.get("alternateEmailAddresses") or [])
    if not all(isinstance(e, str) and EMAIL.fullmatch(e) for e in emails):
        return "email: not a valid email address"
    if "phoneNumber" in data and not isinstance(data["phoneNumber"], str):
        return "phoneNumber: a string is required"
    if any(data.get(field) is not None and not _url(data[field]) for field in LINKS):
        return "linkedInUrl, githubUrl, website: must be a valid URL"
    location = data.get("location")
    if location is not None and not (isinstance(location, dict) and all(isinstance(v, str) for v in location.values())):
        return "location: city, region and country must be strings"
    if data.get("createdAt") is not None and not _date(data["createdAt"]):
        return "createdAt: must be an ISO date string"
    return None


# -- the candidate record ---------------------------------------------------------------------------------
def _new(name: str, created: str) -> dict[str, Any]:
    candidate_id = str(uuid.uuid4())
    return {
        "id": candidate_id, "createdAt": created, "updatedAt": created, "name": name.strip(),
        "primaryEmailAddress": None, "emailAddresses": [], "primaryPhoneNumber": None, "phoneNumbers": [],
        "socialLinks": [], "tags": [], "applicationIds": [], "fileHandles": [], "customFields": [],
        "location": None, "source": None, "creditedToUser": None, "timezone": None,
        "profileUrl": f"https://app.ashbyhq.com/candidates/{candidate_id}",
    }  # fmt: skip


def _set_primary(candidate: dict[str, Any], kind: str, value: str) -> None:
    """Make ``value`` the primary ``kind`` ("EmailAddress", "PhoneNumber"); earlier ones are kept, not primary."""
    entries = candidate[{"EmailAddress": "emailAddresses", "PhoneNumber": "phoneNumbers"}[kind]]
    entry = next((e for e in entries if e["value"].casefold() == value.casefold()), None)
    if entry is None:
        entry = {"value": value, "type": "Personal", "isPrimary": True}
        entries.append(entry)
    for other in entries:
        other["isPrimary"] = other is entry
    candidate[f"primary{kind}"] = dict(entry)


def _apply(candidate: dict[str, Any], data: dict[str, Any]) -> None:
    """Set what a create or an update carries."""
    if data.get("name"):
        candidate["name"] = data["name"].strip()
    if data.get("email"):
        _set_primary(candidate, "EmailAddress", data["email"])
    for alternate in [*(data.get("alternateEmailAddresses") or []), data.get("alternateEmail")]:
        if alternate and all(e["value"].casefold() != alternate.casefold() for e in candidate["emailAddresses"]):
            candidate["emailAddresses"].append({"value": alternate, "type": "Personal", "isPrimary": False})
    if data.get("phoneNumber"):
        _set_primary(candidate, "PhoneNumber", data["phoneNumber"])
    if isinstance(data.get("socialLinks"), list):  # replaces every link; the single-link fields are then ignored
        candidate["socialLinks"] = [{"type": link.get("type"), "url": link.get("url")} for link in data["socialLinks"]]
    else:
        for field, kind in LINKS.items():
            if data.get(field):
                others = [link for link in candidate["socialLinks"] if link["type"] != kind]
                candidate["socialLinks"] = [*others, {"type": kind, "url": data[field]}]
    if location := data.get("location"):
        parts = [(kind, location.get(name)) for kind, name in (("Country", "country"), ("Region", "region"),
                                                               ("City", "city"))]  # fmt: skip
        candidate["location"] = {
            "id": str(uuid.uuid4()),
            "locationSummary": ", ".join(value for _, value in parts if value),
            "locationComponents": [{"type": kind, "name": value} for kind, value in parts if value],
        }
    if data.get("sourceId"):
        candidate["source"] = {"id": data["sourceId"]}
    if data.get("creditedToUserId"):
        candidate["creditedToUser"] = {"id": data["creditedToUserId"]}
    if data.get("createdAt"):
        candidate["createdAt"] = data["createdAt"]


def _email_of(candidate: dict[str, Any]) -> str:
    return str((candidate.get("primaryEmailAddress") or {}).get("value") or "")


def _not_found(handler: Any) -> None:
    handler._send(200, _error("candidate_not_found", "Candidate not found"))


# -- the endpoints ------------------------------------------------------------------------------------------
def _create(handler: Any, vendors: Vendors, data: dict[str, Any], fault: Any) -> None:
    if (problem := _invalid(data, create=True)) is not None:
        return handler._send(200, _error("invalid_input", problem))
    candidate = _new(data["name"], _iso(time.time()))
    _apply(candidate, data)
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
    if (problem := _invalid(data, create=False)) is not None:
        return handler._send(200, _error("invalid_input", problem))
    account = vendors.ashby
    with vendors.lock:
        candidate = account.candidates.get(data["candidateId"])
        if candidate is not None:
            _apply(candidate, data)
            candidate["updatedAt"] = _iso(time.time())
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
            answer = {**_new("Anonymized Candidate", candidate["createdAt"]), "id": candidate["id"]}
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
}


def account() -> VendorAts:
    """Return a new, empty Ashby account."""
    ats = VendorAts("ashby", interval=1.0, email_of=_email_of)
    ats.applications = {}  # application id -> {"candidateId", "status"}: "Active", "Archived" or "Hired"
    ats.notified = 0  # updates sent with sendNotifications true (Ashby's default): mail to subscribers
    return ats


def connection(base_url: str, **extra: Any) -> dict[str, Any]:
    """Return an ``ats_default`` connection of type ``ashby`` to the sandbox."""
    return {"conn_type": "ashby", "host": f"{base_url}/ashby", "password": API_KEY, "extra": {"timeout": 5, **extra}}


def stranger(vendors: Vendors, first: str, last: str, email: str) -> str:
    """
    Give the account a candidate of its own for ``email`` (a job-board application, still active, made 30 days
    before), listed before any later one; return its id.
    """
    candidate = _new(f"{first} {last}", _iso(time.time() - 30 * 86400))
    _set_primary(candidate, "EmailAddress", email)
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
)
