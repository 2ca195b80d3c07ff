"""
The whole candidate in the Greenhouse Harvest v3 emulator (``sandbox/greenhouse.py`` routes here): applications,
attachments and custom fields, from Greenhouse's public reference (harvestdocs.greenhouse.io).

- Applications tie a candidate to jobs: a candidate application has exactly one job, a prospect application none
  (or several prospective ones). ``POST /v3/candidates`` may carry a nested ``application`` (``{job_id}`` or
  ``{prospect: true}``) and answers it beside the candidate; ``POST /v3/applications`` with ``candidate_id`` and
  ``job_id`` (or ``prospect``) adds one -> 201 the application; ``GET /v3/applications?candidate_ids=`` lists
  them (``id``, ``candidate_id``, a flat ``job_id``, null for a jobless prospect, ``prospect``, ``status``)
  (https://harvestdocs.greenhouse.io/docs/write-endpoint-migration-guide). A job the account does not have, or a
  candidate it does not hold, is a 422 validation error naming the field (write endpoints document 401, 403 and
  422; https://harvestdocs.greenhouse.io/docs/standardizations).
- ``POST /v3/attachments`` (https://harvestdocs.greenhouse.io/reference/post_v3-attachments): ``application_id``,
  ``filename``, ``type`` (resume, cover_letter, ...) required, and exactly one of ``content`` (base64) or ``url``
  ("a publicly fetchable url and we will download the file on your behalf": fetched here; one that cannot be
  fetched is a 422). A new ``resume`` re-classifies the application's earlier resume as ``other``.
  ``GET /v3/attachments?candidate_ids=|application_ids=`` lists files (``id``, ``application_id``,
  ``candidate_id``, ``filename``, ``type``, ``url``; https://harvestdocs.greenhouse.io/reference/get_v3-attachments).
  No attachment delete is emulated (none was seen on Greenhouse's own pages).
- ``GET /v3/custom_fields?field_type=candidate`` (https://harvestdocs.greenhouse.io/reference/get_v3-custom-fields)
  lists the account's definitions with their ``name_key``; a candidate's ``custom_fields`` (``[{name_key, value}]``,
  Harvest v1's write shape) naming another key is a 422.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import urllib.request
from datetime import datetime, timezone
from typing import Any

from sandbox.accounts import finish, read_json

ATTACHMENT_TYPES = frozenset({
    "resume", "cover_letter", "take_home_test", "offer_packet", "offer_letter", "signed_offer_letter",
    "midfunnel_agreement", "automated_agreement", "form_attachment", "other",
})  # fmt: skip
FETCH_TIMEOUT = 5.0
_application_ids = itertools.count(7_000_001)


def invalid(field_name: str, message: str) -> dict[str, Any]:
    """Return Harvest's 422 body naming ``field_name``."""
    return {"message": "Validation error", "errors": [{"message": message, "field": field_name}]}


def _ids(query: dict[str, str], name: str) -> set[str]:
    return {i for i in (query.get(name) or "").split(",") if i}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# -- checks and writes the candidate routes make (called under the vendors' lock) ------------------
def application_problem(account: Any, wanted: Any) -> dict[str, Any] | None:
    """Return the 422 body for a nested or posted application the account cannot make, or None."""
    if wanted is None:
        return None
    if not isinstance(wanted, dict):
        return invalid("application", "must be an object")
    if wanted.get("job_id") is None and not wanted.get("prospect"):
        return invalid("job_id", "is required for a candidate application")
    if wanted.get("job_id") is not None and str(wanted["job_id"]) not in account.jobs:
        return invalid("job_id", "Job not found")
    return None


def open_application(account: Any, candidate_id: str, wanted: dict[str, Any] | None) -> dict[str, Any] | None:
    """Make the application ``wanted`` of candidate ``candidate_id``; return it (None: none asked for)."""
    if wanted is None:
        return None
    job = wanted.get("job_id")
    application = {
        "id": next(_application_ids),
        "candidate_id": int(candidate_id),
        "job_id": job,
        "prospect": job is None,
        "status": "in_process",
        "created_at": _now(),
    }
    account.applications[str(application["id"])] = application
    account.candidates[candidate_id].setdefault("application_ids", []).append(application["id"])
    if job is not None:
        account.apply(candidate_id, str(job))
    return dict(application)


def custom_problem(account: Any, data: dict[str, Any]) -> dict[str, Any] | None:
    """Return the 422 body when ``custom_fields`` names a key the account does not define, or None."""
    for entry in data.get("custom_fields") or []:
        key = entry.get("name_key") if isinstance(entry, dict) else None
        if key not in account.custom_fields:
            return invalid("custom_fields", f"unknown custom field {key!r}")
    return None


def keep_custom(account: Any, candidate_id: str, data: dict[str, Any]) -> None:
    """Keep the custom field values a create or an update carries."""
    values = {e["name_key"]: e.get("value") for e in data.get("custom_fields") or []}
    if values:
        account.custom_values.setdefault(candidate_id, {}).update(values)


def forget(account: Any, candidate_id: str) -> None:
    """Drop a deleted candidate's applications and files."""
    account.applications = {k: a for k, a in account.applications.items() if str(a["candidate_id"]) != candidate_id}
    account.files.pop(candidate_id, None)
    account.applied.pop(candidate_id, None)
    account.custom_values.pop(candidate_id, None)


# -- the routes -------------------------------------------------------------------------------------
def serve(
    handler: Any,
    vendors: Any,
    method: str,
    route: str,
    query: dict[str, str],
    body: bytes,
    fault: Any,
    headers: dict[str, str],
) -> bool:
    """Answer an applications, attachments or custom fields request; return False for another route."""
    account = vendors.greenhouse
    if route == "/v3/custom_fields" and method == "GET":
        kind = query.get("field_type")
        fields = [
            {
                "id": 900 + i,
                "name": key.replace("_", " ").title(),
                "name_key": key,
                "field_type": "candidate",
                "value_type": "number" if value_type == "number" else "short_text",
                "active": True,
            }
            for i, (key, value_type) in enumerate(sorted(account.custom_fields.items()))
        ]
        handler._send(200, [f for f in fields if not kind or f["field_type"] == kind], headers)
    elif route == "/v3/applications" and method == "GET":
        candidates = _ids(query, "candidate_ids")
        with vendors.lock:
            found = [dict(a) for a in account.applications.values() if str(a["candidate_id"]) in candidates]
        handler._send(200, found, headers)
    elif route == "/v3/applications" and method == "POST":
        _post_application(handler, vendors, read_json(body), fault, headers)
    elif route == "/v3/attachments" and method == "GET":
        candidates, applications = _ids(query, "candidate_ids"), _ids(query, "application_ids")
        with vendors.lock:
            found = [
                _listed(cid, f)
                for cid, files in account.files.items()
                for f in files
                if cid in candidates or str(f.get("application_id")) in applications
            ]
        handler._send(200, found, headers)
    elif route == "/v3/attachments" and method == "POST":
        _post_attachment(handler, vendors, read_json(body), fault, headers)
    else:
        return False
    return True


def _listed(candidate_id: str, file: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": file["id"],
        "application_id": file.get("application_id"),
        "candidate_id": int(candidate_id),
        "filename": file["name"],
        "type": file["type"],
        "url": file.get("url"),
    }


def _post_application(handler: Any, vendors: Any, data: Any, fault: Any, headers: dict[str, str]) -> None:
    account = vendors.greenhouse
    if not isinstance(data, dict):
        return handler._send(422, invalid("body", "must be a JSON object"), headers)
    with vendors.lock:
        candidate_id = str(data.get("candidate_id"))
        if candidate_id not in account.candidates:
            return handler._send(422, invalid("candidate_id", "Candidate not found"), headers)
        wanted = {k: data[k] for k in ("job_id", "prospect") if k in data}
        if (problem := application_problem(account, wanted)) is not None:
            return handler._send(422, problem, headers)
        application = open_application(account, candidate_id, wanted)
    return finish(handler, 201, application, headers, fault)


def _post_attachment(handler: Any, vendors: Any, data: Any, fault: Any, headers: dict[str, str]) -> None:
    account = vendors.greenhouse
    if not isinstance(data, dict):
        return handler._send(422, invalid("body", "must be a JSON object"), headers)
    for name in ("application_id", "filename", "type"):
        if not data.get(name):
            return handler._send(422, invalid(name, "can't be blank"), headers)
    if data["type"] not in ATTACHMENT_TYPES:
        return handler._send(422, invalid("type", "is not included in the list"), headers)
    if ("content" in data) == ("url" in data):
        return handler._send(422, invalid("content", "provide either content or url, not both"), headers)
    with vendors.lock:
        application = account.applications.get(str(data["application_id"]))
    if application is None:
        return handler._send(422, invalid("application_id", "Application not found"), headers)
    received = _received(data)
    if received is None:
        return handler._send(422, invalid("url" if "url" in data else "content", "could not be read"), headers)
    candidate_id = str(application["candidate_id"])
    with vendors.lock:
        for earlier in account.files.get(candidate_id, []):  # "replaces any prior attachment of that type"
            if earlier.get("application_id") == application["id"] and earlier["type"] == data["type"] == "resume":
                earlier["type"] = "other"
        file_id = account.add_file(candidate_id, data["filename"], url=data.get("url"), data=received)
        file = account.files[candidate_id][-1]
        file.update(application_id=application["id"], type=data["type"])
        answer = _listed(candidate_id, file)
    return finish(handler, 201, {**answer, "id": file_id}, headers, fault)


def _received(data: dict[str, Any]) -> bytes | None:
    """Return the file's bytes: decoded from ``content``, or downloaded from ``url`` (None: it cannot be read)."""
    if "content" in data:
        try:
            return base64.b64decode(str(data["content"]), validate=True)
        except (binascii.Error, ValueError):
            return None
    try:
        with urllib.request.urlopen(str(data["url"]), timeout=FETCH_TIMEOUT) as response:  # noqa: S310
            return response.read()
    except (OSError, ValueError):
        return None
