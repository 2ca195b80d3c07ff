"""
SmartRecruiters' candidate attachments and job applications in the emulator (``sandbox/smartrecruiters.py``), from
the Candidate API (https://dev.smartrecruiters.com/customer-api/live-docs/candidate-api/; the operations as
roksela/smartrecruiters-python-client ``docs/CandidatesApi.md`` lists them, generated from SmartRecruiters' spec):

- ``POST /candidates/{id}/attachments`` ("Attach files to a candidate"): ``multipart/form-data`` with ``file`` and
  ``attachmentType`` (``RESUME``, ``COVER_LETTER``, ``GENERIC_FILE``, the default) -> 201 the attachment ``{id,
  name, type, contentType}``;
- ``GET /candidates/{id}/attachments`` -> ``{"totalFound", "content": [attachment, ...]}``;
- ``POST /jobs/{jobId}/candidates`` ("Create a new candidate and assign to a job"): the body of ``POST
  /candidates``; an unknown job -> 404. The API documents no call that adds an existing candidate to another job.
"""

from __future__ import annotations

from typing import Any

from sandbox.accounts import Vendors, finish
from sandbox.multipart import parse

TYPES = ("RESUME", "COVER_LETTER", "GENERIC_FILE")


def _listed(file: dict[str, Any]) -> dict[str, Any]:
    return {"id": file["id"], "name": file["name"], "type": file["type"], "contentType": "application/pdf"}


def serve_attachments(
    handler: Any, vendors: Vendors, method: str, candidate_id: str, body: bytes, headers: dict, fault: Any
) -> None:
    """Answer ``/candidates/{candidate_id}/attachments``."""
    account = vendors.smartrecruiters
    with vendors.lock:
        known = candidate_id in account.candidates
        files = [_listed(f) for f in account.files.get(candidate_id, [])]
    if not known:
        return handler._send(404, {"message": "Candidate not found", "errors": []}, headers)
    if method == "GET":
        return handler._send(200, {"totalFound": len(files), "content": files}, headers)
    if method != "POST":
        return handler._send(405, {"message": f"{method} not allowed", "errors": []}, headers)
    form = parse(handler.headers.get("Content-Type"), body)
    if form is None or "file" not in form.files:
        problem = {"code": "FIELD_REQUIRED", "message": "file is required (multipart/form-data)"}
        return handler._send(400, {"message": "Validation failed", "errors": [problem]}, headers)
    kind = form.fields.get("attachmentType") or "GENERIC_FILE"
    if kind not in TYPES:
        problem = {"code": "INVALID_VALUE", "message": "attachmentType is not a known type"}
        return handler._send(400, {"message": "Validation failed", "errors": [problem]}, headers)
    name, data = form.files["file"]
    with vendors.lock:
        account.add_file(candidate_id, name, data=data)
        stored = account.files[candidate_id][-1]
        stored["type"] = kind
        answer = _listed(stored)
    return finish(handler, 201, answer, headers, fault)
