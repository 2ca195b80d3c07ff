"""
Teamtailor emulator, the whole candidate: job applications and custom field values, from Teamtailor's reference
(the Teamtailor/docs sources, ``source/includes``).

- ``POST /v1/job-applications`` (``job_applications/_create``): ``{"data": {"type": "job-applications",
  "attributes": {"sourced", "cover-letter", "send-user-notifications"}, "relationships": {"candidate", "job"}}}``;
  both relationships are required. A candidate or job the company lacks is refused as a validation of the
  relationship: 422 ``must exist`` at ``/data/relationships/<name>`` (the reference names no other answer;
  Rails' required ``belongs_to``, which the JSON:API validation errors come from). A candidate already on that
  job: 422 ``has already been taken``. -> 201 with the application. One candidate has many applications.
- ``GET /v1/candidates/{id}/job-applications`` (the candidate's relationship link): its applications; with
  ``include=job`` each carries ``relationships.job.data``.
- ``GET /v1/custom-fields`` (``custom-fields/_list``): the company's fields, ``attributes: {name, field-type}``.
- ``POST /v1/custom-field-values`` (``custom_field_values/_create``): ``value`` and the ``custom-field`` and
  ``owner`` relationships are required; ``PATCH /v1/custom-field-values/{id}`` changes the value;
  ``GET /v1/candidates/{id}/custom-field-values`` lists a candidate's (``include=custom-field``: each one's
  field). A ``CustomField::Number`` takes numbers only (422); a second value of one field for one candidate is
  422 ``has already been taken`` (an assumption: the reference says nothing of it).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.accounts import VendorAts, Vendors, finish

FIELD_TYPES = {"text": "CustomField::Text", "number": "CustomField::Number"}  # the account's kinds -> Teamtailor's
_applications = itertools.count(9_100_001)


@dataclass
class TeamtailorAts(VendorAts):
    """The Teamtailor account: what every account keeps, and its job applications by id."""

    applications: dict = field(default_factory=dict)  # application id -> (candidate id, job id)


def errors(status: int, detail: str, pointer: str | None = None) -> dict[str, Any]:
    """Return a JSON:API error document."""
    error: dict[str, Any] = {"status": str(status), "detail": detail}
    if pointer:
        error["source"] = {"pointer": pointer}
    return {"errors": [error]}


def serve_whole(
    handler: Any, vendors: Vendors, method: str, route: str, query: dict, data: Any, headers: dict, fault: Any
) -> bool:
    """Answer a request about applications or custom field values; return False when the route is not one."""
    owned = re.fullmatch(r"/v1/candidates/([^/]+)/(job-applications|custom-field-values)", route)
    value = re.fullmatch(r"/v1/custom-field-values/([^/]+)", route)
    if method == "POST" and route == "/v1/job-applications":
        _apply(handler, vendors, data, headers, fault)
    elif method == "GET" and owned:
        _owned(handler, vendors, owned.group(1), owned.group(2), "include" in query, headers)
    elif method == "GET" and route == "/v1/custom-fields":
        handler._send(200, {"data": _fields(vendors), "meta": {"record-count": len(_fields(vendors))}}, headers)
    elif method == "POST" and route == "/v1/custom-field-values":
        _set_value(handler, vendors, None, data, headers, fault)
    elif method == "PATCH" and value:
        _set_value(handler, vendors, value.group(1), data, headers, fault)
    else:
        return False
    return True


def _related(data: Any, name: str) -> str | None:
    resource = data.get("data") if isinstance(data, dict) else None
    linked = ((resource or {}).get("relationships") or {}).get(name) if isinstance(resource, dict) else None
    target = (linked or {}).get("data") if isinstance(linked, dict) else None
    return str(target["id"]) if isinstance(target, dict) and target.get("id") is not None else None


def _apply(handler: Any, vendors: Vendors, data: Any, headers: dict, fault: Any) -> None:
    if not isinstance(data, dict) or (data.get("data") or {}).get("type") != "job-applications":
        return handler._send(422, errors(422, "data.type must be job-applications", "/data/type"), headers)
    candidate, job = _related(data, "candidate"), _related(data, "job")
    account = vendors.teamtailor
    with vendors.lock:
        for name, found in (("candidate", candidate in account.candidates), ("job", job in account.jobs)):
            if not found:
                return handler._send(422, errors(422, "must exist", f"/data/relationships/{name}"), headers)
        if job in account.applied.get(candidate, []):
            return handler._send(422, errors(422, "has already been taken", "/data/relationships/job"), headers)
        account.applied.setdefault(candidate, []).append(job)
        application_id = str(next(_applications))
        account.applications[application_id] = (candidate, job)
    return finish(handler, 201, {"data": _application(application_id, job, True)}, headers, fault)


def _application(application_id: str, job: str, include: bool) -> dict[str, Any]:
    job_link: dict[str, Any] = {"links": {"related": f"/v1/job-applications/{application_id}/job"}}
    if include:
        job_link["data"] = {"id": job, "type": "jobs"}
    attributes = {"sourced": True, "cover-letter": None}
    return {
        "id": application_id,
        "type": "job-applications",
        "attributes": attributes,
        "relationships": {"job": job_link},
    }


def _owned(handler: Any, vendors: Vendors, candidate: str, kind: str, include: bool, headers: dict) -> None:
    account = vendors.teamtailor
    with vendors.lock:
        if candidate not in account.candidates:
            return handler._send(404, errors(404, "Record not found"), headers)
        if kind == "job-applications":
            found = [_application(i, job, include) for i, (c, job) in account.applications.items() if c == candidate]
        else:
            ids = {name: str(n) for n, name in enumerate(account.custom_fields, 1)}
            values = account.custom_values.get(candidate, {})
            found = [_value(candidate, ids[name], value, include) for name, value in values.items()]
    return handler._send(200, {"data": found, "meta": {"record-count": len(found)}}, headers)


def _value(candidate: str, field: str, value: Any, include: bool) -> dict[str, Any]:
    field_link: dict[str, Any] = {"data": {"id": field, "type": "custom-fields"}} if include else {}
    return {
        "id": f"{candidate}-{field}",
        "type": "custom-field-values",
        "attributes": {"value": value},
        "relationships": {"custom-field": field_link},
    }


def _fields(vendors: Vendors) -> list[dict[str, Any]]:
    with vendors.lock:
        kinds = list(vendors.teamtailor.custom_fields.items())
    return [
        {"id": str(n), "type": "custom-fields", "attributes": {"name": name, "field-type": FIELD_TYPES[kind]}}
        for n, (name, kind) in enumerate(kinds, 1)
    ]


def _set_value(handler: Any, vendors: Vendors, value_id: str | None, data: Any, headers: dict, fault: Any) -> None:
    """Create (``value_id`` None) or change one custom field value."""
    attributes = ((data or {}).get("data") or {}).get("attributes") if isinstance(data, dict) else None
    if not isinstance(attributes, dict) or attributes.get("value") in (None, ""):
        return handler._send(422, errors(422, "can't be blank", "/data/attributes/value"), headers)
    if value_id is None:
        owner, field_id = _related(data, "owner"), _related(data, "custom-field")
    else:
        owner, _, field_id = value_id.rpartition("-")
    account = vendors.teamtailor
    with vendors.lock:
        names = {str(n): (name, kind) for n, (name, kind) in enumerate(account.custom_fields.items(), 1)}
        held = account.custom_values.get(str(owner), {})
        if owner not in account.candidates or field_id not in names:
            missing = "owner" if owner not in account.candidates else "custom-field"
            status = 404 if value_id is not None else 422
            return handler._send(status, errors(status, "must exist", f"/data/relationships/{missing}"), headers)
        name, kind = names[field_id]
        if (value_id is None) == (name in held):  # a second value of one field, or a change of none
            status, detail = (422, "has already been taken") if value_id is None else (404, "Record not found")
            return handler._send(status, errors(status, detail, "/data/relationships/custom-field"), headers)
        number = isinstance(attributes["value"], (int, float)) and not isinstance(attributes["value"], bool)
        if kind == "number" and not number:
            return handler._send(422, errors(422, "is not a number", "/data/attributes/value"), headers)
        account.custom_values.setdefault(str(owner), {})[name] = attributes["value"]
    answer = _value(str(owner), str(field_id), attributes["value"], True)
    return finish(handler, 200 if value_id else 201, {"data": answer}, headers, fault)
