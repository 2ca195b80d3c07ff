"""
Ashby's candidate record as the emulator (``sandbox/ashby.py``) keeps it: how a create or an update is validated
(``invalid_input`` reasons), the record a create makes, and how the fields a request carries set it.

From "candidate.create" (https://developers.ashbyhq.com/reference/candidatecreate) and "candidate.update"
(https://developers.ashbyhq.com/reference/candidateupdate): ``name`` required on create; ``email`` becomes the
primary email, earlier ones are kept; ``linkedInUrl``, ``githubUrl``, ``website`` must be valid URLs and each sets
one ``socialLinks`` entry (``socialLinks`` itself replaces them all); ``location`` is ``city``, ``region``,
``country``; ``createdAt`` an ISO date.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sandbox.accounts import EMAIL


def error(code: str, message: str) -> dict[str, Any]:
    """Return Ashby's answer to what would be a 4XX: HTTP 200, ``success: false``, ``errorInfo``."""
    info = {"code": code, "message": message, "requestId": uuid.uuid4().hex[:26].upper()}
    return {"success": False, "errors": [code], "errorInfo": info}


def ok(results: Any) -> dict[str, Any]:
    return {"success": True, "results": results}


LINKS = {"linkedInUrl": "LinkedIn", "githubUrl": "GitHub", "website": "Website", "websiteUrl": "Website"}


def iso(at: float) -> str:
    """Return ``at`` (a Unix time) as Ashby writes its dates: ISO 8601 UTC, with milliseconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1000) % 1000:03d}Z"


# -- validation ----------------------------------------------------------------------------------------
def valid_url(value: Any) -> bool:
    parts = urlsplit(str(value))
    return isinstance(value, str) and parts.scheme in ("http", "https") and bool(parts.netloc)


def valid_date(value: Any) -> bool:
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return False
    return isinstance(value, str)


def invalid(data: dict[str, Any], *, create: bool) -> str | None:
    """Return why ``data`` is refused (``invalid_input``), or None. Messages name fields, never values."""
    if (create or "name" in data) and not (isinstance(data.get("name"), str) and data["name"].strip()):
        return "name: a non-empty string is required"
    emails = [data[f] for f in ("email", "alternateEmail") if data.get(f) is not None]
    emails += list(data.get("alternateEmailAddresses") or [])
    if not all(isinstance(e, str) and EMAIL.fullmatch(e) for e in emails):
        return "email: not a valid email address"
    if "phoneNumber" in data and not isinstance(data["phoneNumber"], str):
        return "phoneNumber: a string is required"
    if any(data.get(field) is not None and not valid_url(data[field]) for field in LINKS):
        return "linkedInUrl, githubUrl, website: must be a valid URL"
    location = data.get("location")
    if location is not None and not (isinstance(location, dict) and all(isinstance(v, str) for v in location.values())):
        return "location: city, region and country must be strings"
    if data.get("createdAt") is not None and not valid_date(data["createdAt"]):
        return "createdAt: must be an ISO date string"
    return None


# -- the candidate record ---------------------------------------------------------------------------------
def new_candidate(name: str, created: str) -> dict[str, Any]:
    candidate_id = str(uuid.uuid4())
    return {
        "id": candidate_id,
        "createdAt": created,
        "updatedAt": created,
        "name": name.strip(),
        "primaryEmailAddress": None,
        "emailAddresses": [],
        "primaryPhoneNumber": None,
        "phoneNumbers": [],
        "socialLinks": [],
        "tags": [],
        "applicationIds": [],
        "fileHandles": [],
        "customFields": [],
        "location": None,
        "source": None,
        "creditedToUser": None,
        "timezone": None,
        "profileUrl": f"https://app.ashbyhq.com/candidates/{candidate_id}",
    }


def set_primary(candidate: dict[str, Any], kind: str, value: str) -> None:
    """Make ``value`` the primary ``kind`` ("EmailAddress", "PhoneNumber"); earlier ones are kept, not primary."""
    entries = candidate[{"EmailAddress": "emailAddresses", "PhoneNumber": "phoneNumbers"}[kind]]
    entry = next((e for e in entries if e["value"].casefold() == value.casefold()), None)
    if entry is None:
        entry = {"value": value, "type": "Personal", "isPrimary": True}
        entries.append(entry)
    for other in entries:
        other["isPrimary"] = other is entry
    candidate[f"primary{kind}"] = dict(entry)


def apply_fields(candidate: dict[str, Any], data: dict[str, Any]) -> None:
    """Set what a create or an update carries."""
    if data.get("name"):
        candidate["name"] = data["name"].strip()
    if data.get("email"):
        set_primary(candidate, "EmailAddress", data["email"])
    for alternate in [*(data.get("alternateEmailAddresses") or []), data.get("alternateEmail")]:
        if alternate and all(e["value"].casefold() != alternate.casefold() for e in candidate["emailAddresses"]):
            candidate["emailAddresses"].append({"value": alternate, "type": "Personal", "isPrimary": False})
    if data.get("phoneNumber"):
        set_primary(candidate, "PhoneNumber", data["phoneNumber"])
    if isinstance(data.get("socialLinks"), list):  # replaces every link; the single-link fields are then ignored
        candidate["socialLinks"] = [{"type": link.get("type"), "url": link.get("url")} for link in data["socialLinks"]]
    else:
        for field, kind in LINKS.items():
            if data.get(field):
                others = [link for link in candidate["socialLinks"] if link["type"] != kind]
                candidate["socialLinks"] = [*others, {"type": kind, "url": data[field]}]
    if location := data.get("location"):
        parts = [
            (kind, location.get(name))
            for kind, name in (("Country", "country"), ("Region", "region"), ("City", "city"))
        ]
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


def email_of(candidate: dict[str, Any]) -> str:
    return str((candidate.get("primaryEmailAddress") or {}).get("value") or "")
