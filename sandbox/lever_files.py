"""
Lever's files of an opportunity in the emulator (``sandbox/lever.py``), from Lever's reference
(https://hire.lever.co/developer/documentation, "Files"; its limits summarised at
https://developers.getknit.dev/docs/lever-usecases):

- ``POST /v1/opportunities/{id}/files?perform_as=`` with a ``multipart/form-data`` body whose ``file`` part is the
  file, at most 30 MB -> 201 ``{"data": {"id", "name", "ext", "size", "uploadedAt", "status", "downloadUrl"}}``;
- ``GET /v1/opportunities/{id}/files`` -> ``{"data": [...]}``;
- ``DELETE /v1/opportunities/{id}/files/{file}?perform_as=`` -> 204;
- an unknown opportunity or file -> 404 ``ResourceNotFound``.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.accounts import Vendors, finish
from sandbox.multipart import parse

MAX_FILE = 30_000_000  # bytes


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def _listed(file: dict[str, Any]) -> dict[str, Any]:
    name = str(file["name"])
    return {
        "id": file["id"],
        "name": name,
        "ext": name.rpartition(".")[2] if "." in name else "",
        "size": len(file["data"] or b""),
        "uploadedAt": file.get("at"),
        "status": "processed",
        "downloadUrl": f"https://api.lever.co/v1/opportunities/{file['record']}/files/{file['id']}/download",
    }


def serve_files(handler: Any, vendors: Vendors, method: str, route: str, body: bytes, fault: Any) -> None:
    """Answer ``/v1/opportunities/{id}/files[/{file}]`` (``route``); perform_as was checked by the caller."""
    parts = route.strip("/").split("/")  # v1, opportunities, {id}, files[, {file}]
    opportunity, file_id = parts[2], parts[4] if len(parts) > 4 else None
    account = vendors.lever
    with vendors.lock:
        known = opportunity in account.candidates
        files = account.files.get(opportunity, [])
    if not known:
        return handler._send(404, _error("ResourceNotFound", "Opportunity not found"))
    if method == "GET" and file_id is None:
        with vendors.lock:
            listed = [_listed({**f, "record": opportunity}) for f in files]
        return handler._send(200, {"data": listed})
    if method == "DELETE" and file_id is not None:
        with vendors.lock:
            kept = [f for f in files if f["id"] != file_id]
            gone = len(kept) != len(files)
            account.files[opportunity] = kept
        if not gone:
            return handler._send(404, _error("ResourceNotFound", "File not found"))
        return finish(handler, 204, None, {}, fault)
    if method == "POST" and file_id is None:
        return _upload(handler, vendors, opportunity, body, fault)
    return handler._send(404, _error("ResourceNotFound", f"Not found: {method} {route}"))


def _upload(handler: Any, vendors: Vendors, opportunity: str, body: bytes, fault: Any) -> None:
    form = parse(handler.headers.get("Content-Type"), body)
    if form is None or "file" not in form.files:
        return handler._send(400, _error("BadRequestError", "A multipart/form-data body with a file part is required"))
    name, data = form.files["file"]
    if len(data) > MAX_FILE:
        return handler._send(400, _error("BadRequestError", "The file is over 30 MB"))
    with vendors.lock:
        file_id = vendors.lever.add_file(opportunity, name, data=data)
        stored = vendors.lever.files[opportunity][-1]
        stored["at"] = int(time.time() * 1000)
        answer = _listed({**stored, "record": opportunity})
    return finish(handler, 201, {"data": {**answer, "id": file_id}}, {}, fault)
