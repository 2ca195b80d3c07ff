"""
The whole candidate in the Ashby emulator (``sandbox/ashby.py``): the resume, applications and custom fields.

- Presigned uploads ("file.createFileUploadHandle", https://developers.ashbyhq.com/reference/filecreatefileuploadhandle,
  and https://developers.ashbyhq.com/changelog/2026-02-23-presigned-file-uploads): ``fileUploadContext``
  (``CandidateResume``, ``CandidateFiles``, ``ApplicationForm``), ``fileName``, ``contentType``, ``contentLength``
  -> a presigned ``url``, its form ``fields`` and a ``handle``. The file is POSTed to ``url`` as
  ``multipart/form-data``: every field returned, the file last as ``file``; the URL expires after 10 minutes. Here
  the storage host is ``/ashby-storage/<handle>`` (no API key: the URL is the credential).
- ``candidate.uploadResume`` with ``{candidateId, resumeHandle}`` (JSON, the preferred mode; the multipart mode is
  deprecated) attaches the uploaded file as the candidate's resume (``resumeFileHandle``) -> the candidate.
- ``application.create`` (https://developers.ashbyhq.com/docs/applicationcreate): ``candidateId``, ``jobId`` -> the
  application; a job the account does not have is ``job_not_found`` (after the reference's ``<object>_not_found``
  codes).
- ``customField.list`` (``hiringProcessMetadataRead``) lists the account's fields (``id``, ``title``,
  ``objectType``, ``fieldType``); ``customField.setValue`` (https://developers.ashbyhq.com/docs/customfieldsetvalue)
  ``{objectId, objectType, fieldId, fieldValue}`` sets one.
"""

from __future__ import annotations

import copy
import hashlib
import time
import uuid
from typing import Any

from sandbox.accounts import Vendors, finish
from sandbox.ashby_candidate import error, ok
from sandbox.multipart import parse

STORAGE = "/ashby-storage"
CONTEXTS = ("CandidateResume", "CandidateFiles", "ApplicationForm")
EXPIRY = 600.0  # seconds a presigned URL stays valid
TYPES = {"text": "String", "number": "Number"}  # the account's custom field kinds, as Ashby names them

ENDPOINTS = {
    "/file.createFileUploadHandle": "candidatesWrite",
    "/candidate.uploadResume": "candidatesWrite",
    "/application.create": "candidatesWrite",
    "/customField.list": "hiringProcessMetadataRead",
    "/customField.setValue": "candidatesWrite",
}


def field_id(name: str) -> str:
    """Return the id of the account's custom field ``name`` (stable: the emulator's fields are fixed)."""
    return str(uuid.UUID(hashlib.md5(name.encode()).hexdigest()))


def _handle(handler: Any, vendors: Vendors, data: dict[str, Any], fault: Any) -> None:
    size = data.get("contentLength")
    if data.get("fileUploadContext") not in CONTEXTS:
        return handler._send(200, error("invalid_input", "fileUploadContext must be one of " + ", ".join(CONTEXTS)))
    if not (data.get("fileName") and data.get("contentType")) or not isinstance(size, int) or size < 0:
        return handler._send(200, error("invalid_input", "fileName, contentType and contentLength are required"))
    handle = uuid.uuid4().hex
    with vendors.lock:
        vendors.ashby.uploads[handle] = {"name": data["fileName"], "expires": time.time() + EXPIRY, "data": None}
    fields = {"key": f"uploads/{handle}", "policy": "sandbox-policy", "x-amz-signature": handle[:16]}
    url = f"http://{handler.headers.get('Host')}{STORAGE}/{handle}"
    return finish(handler, 200, ok({"url": url, "fields": fields, "handle": handle}), {}, fault)


def serve_storage(handler: Any, vendors: Vendors, method: str, route: str, body: bytes) -> None:
    """Answer a POST to a presigned URL: the form's fields as returned, the file last as ``file`` -> 204."""
    handle = route.strip("/")
    with vendors.lock:
        upload = vendors.ashby.uploads.get(handle)
    form = parse(handler.headers.get("Content-Type"), body)
    if method != "POST" or upload is None or upload["expires"] < time.time():
        return handler._send_raw(403, b"<Error><Code>AccessDenied</Code></Error>", {"Content-Type": "application/xml"})
    if form is None or "file" not in form.files or form.fields.get("key") != f"uploads/{handle}":
        return handler._send_raw(
            400, b"<Error><Code>InvalidArgument</Code></Error>", {"Content-Type": "application/xml"}
        )
    with vendors.lock:
        upload["data"] = form.files["file"][1]
    return handler._send_raw(204, b"")


def _upload_resume(handler: Any, vendors: Vendors, data: dict[str, Any], fault: Any) -> None:
    account = vendors.ashby
    with vendors.lock:
        candidate = account.candidates.get(str(data.get("candidateId")))
        upload = account.uploads.get(str(data.get("resumeHandle")))
    if candidate is None:
        return handler._send(200, error("candidate_not_found", "Candidate not found"))
    if upload is None or upload["data"] is None:
        return handler._send(200, error("invalid_input", "resumeHandle: no file was uploaded with this handle"))
    with vendors.lock:
        file_id = account.add_file(candidate["id"], upload["name"], data=upload["data"])
        candidate["resumeFileHandle"] = {"id": file_id, "name": upload["name"], "handle": data["resumeHandle"]}
        answer = copy.deepcopy(candidate)
    return finish(handler, 200, ok(answer), {}, fault)


def _apply(handler: Any, vendors: Vendors, data: dict[str, Any], fault: Any) -> None:
    account = vendors.ashby
    with vendors.lock:
        candidate = account.candidates.get(str(data.get("candidateId")))
        if candidate is not None and account.apply(candidate["id"], str(data.get("jobId"))):
            application = {
                "id": str(uuid.uuid4()),
                "candidate": {"id": candidate["id"]},
                "job": {"id": str(data["jobId"])},
                "status": "Active",
            }
            account.applications[application["id"]] = {"candidateId": candidate["id"], "status": "Active"}
            candidate["applicationIds"].append(application["id"])
        else:
            application = None
    if candidate is None:
        return handler._send(200, error("candidate_not_found", "Candidate not found"))
    if application is None:
        return handler._send(200, error("job_not_found", "Job not found"))
    return finish(handler, 200, ok(application), {}, fault)


def _fields(handler: Any, vendors: Vendors, data: dict[str, Any], fault: Any) -> None:
    listed = [
        {
            "id": field_id(name),
            "title": name,
            "objectType": "Candidate",
            "fieldType": TYPES.get(kind, "String"),
            "isArchived": False,
        }
        for name, kind in vendors.ashby.custom_fields.items()
    ]
    return finish(handler, 200, {**ok(listed), "moreDataAvailable": False}, {}, fault)


def _set_value(handler: Any, vendors: Vendors, data: dict[str, Any], fault: Any) -> None:
    account = vendors.ashby
    names = {field_id(name): name for name in account.custom_fields}
    if data.get("objectType") != "Candidate" or data.get("fieldId") not in names or "fieldValue" not in data:
        return handler._send(200, error("invalid_input", "objectType, fieldId and fieldValue are required"))
    with vendors.lock:
        candidate = account.candidates.get(str(data.get("objectId")))
        if candidate is not None:
            account.custom_values.setdefault(candidate["id"], {})[names[data["fieldId"]]] = data["fieldValue"]
    if candidate is None:
        return handler._send(200, error("candidate_not_found", "Candidate not found"))
    return finish(handler, 200, ok({"id": data["fieldId"], "value": data["fieldValue"]}), {}, fault)


ANSWER = {
    "/file.createFileUploadHandle": _handle,
    "/candidate.uploadResume": _upload_resume,
    "/application.create": _apply,
    "/customField.list": _fields,
    "/customField.setValue": _set_value,
}
