"""
The whole candidate in Ashby: the CV by Ashby's presigned upload, the jobs by ``application.create`` and the team's
custom fields by ``customField.setValue``, mixed into :class:`~.ashby.AshbyHook`. Ashby's reference for each call,
and what it cannot do (no file delete, no application listing per candidate), is in :mod:`.ashby`'s docstring
("The whole candidate").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import requests

from hrflow_airflow.errors import RefusedError
from hrflow_airflow.hooks.files import CvError, MultipartBody

CANDIDATE = "Candidate"  # the objectType of candidate custom fields


class AshbyWhole:
    """The CV (presigned upload), the applications (one per job) and the custom fields of an Ashby candidate."""

    request: Any  # the hook's (AshbyHook.request: RPC over POST)
    target: str
    timeout: float

    def cv_send(self, remote_id: str, resume: Mapping[str, Any], name: str, stream: Iterable[bytes]) -> Any:
        """Upload the CV to Ashby's storage by a presigned URL, then attach it as the candidate's resume."""
        size = resume["size"] if isinstance(resume.get("size"), int) else declared_length(stream)
        ask = upload_ask(resume, name, size)
        target = (self.request("POST", "/file.createFileUploadHandle", json=ask).json() or {}).get("results") or {}
        if not target.get("url") or not target.get("handle"):
            raise RefusedError(f"{self.target}: file.createFileUploadHandle gave no url or handle", 0, "no handle")
        body = MultipartBody(dict(target.get("fields") or {}), "file", name, ask["contentType"], stream)
        try:  # the presigned URL is the credential: no API key goes to the storage
            stored = requests.post(
                str(target["url"]), data=body, headers={"Content-Type": body.content_type}, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise CvError(f"Ashby's file storage could not be reached ({type(exc).__name__})") from None
        if not stored.ok:
            raise CvError(f"Ashby's file storage answered HTTP {stored.status_code}", stored.status_code)
        attach = {"candidateId": remote_id, "resumeHandle": target["handle"]}
        return self.request("POST", "/candidate.uploadResume", json=attach, safe_to_repeat=False).json()

    def cv_calls(self, remote_id: str, resume: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
        """Describe the presigned upload's three calls: the handle, the file to the storage, the resume attached."""
        size = resume["size"] if isinstance(resume.get("size"), int) else "<the Content-Length of the CV's URL>"
        ask = upload_ask(resume, name, size)
        stream = f"the CV, streamed from {resume['url']} to the storage (no API key; at most [hrflow] max_cv_mb)"
        handle = "<results.handle of file.createFileUploadHandle>"
        return [
            {
                "does": "the CV: its upload handle",
                "method": "POST",
                "path": "/file.createFileUploadHandle",
                "body": ask,
            },
            {
                "does": stream,
                "method": "POST",
                "path": "<results.url of file.createFileUploadHandle>",
                "multipart": {"<each of results.fields>": "<its value>", "file": name},
            },
            {
                "does": "the CV, attached as the candidate's resume",
                "method": "POST",
                "path": "/candidate.uploadResume",
                "body": {"candidateId": remote_id, "resumeHandle": handle},
            },
        ]

    def cv_id(self, answer: Any) -> str | None:
        results = (answer or {}).get("results") or {} if isinstance(answer, dict) else {}
        return (results.get("resumeFileHandle") or {}).get("id") if isinstance(results, dict) else None

    def files_request(self, remote_id: str) -> str:
        return f"/candidate.info?id={quote(remote_id, safe='')}"

    def file_names(self, answer: Any) -> dict[str, str]:
        found = (answer or {}).get("results") or {} if isinstance(answer, dict) else {}
        files = [found.get("resumeFileHandle"), *(found.get("fileHandles") or [])]
        return {
            str(f["name"]): str(f.get("id") or f.get("handle")) for f in files if isinstance(f, dict) and f.get("name")
        }

    def apply_request(self, remote_id: str, ats_job_id: str) -> tuple[str, str, dict[str, Any] | None]:
        return "POST", "/application.create", {"candidateId": remote_id, "jobId": ats_job_id}

    def applied_id(self, answer: Any) -> str | None:
        return ((answer or {}).get("results") or {}).get("id") if isinstance(answer, dict) else None

    def applications_request(self, remote_id: str) -> str:
        return f"/candidate.info?id={quote(remote_id, safe='')}"

    def applied_jobs(self, answer: Any) -> dict[str, str]:
        return {}  # candidate.info names application ids, not their jobs (see the module's docstring)

    def custom_fields_request(self) -> str:
        return "/customField.list"

    def custom_field_ids(self, answer: Any) -> dict[str, str]:
        """Return ``{title: id}`` of the candidate custom fields in a ``customField.list`` answer."""
        listed = (answer or {}).get("results") or [] if isinstance(answer, dict) else []
        return {
            str(f["title"]): str(f["id"])
            for f in listed
            if isinstance(f, dict) and f.get("objectType") == CANDIDATE and not f.get("isArchived") and f.get("id")
        }

    def custom_field_names(self, answer: Any) -> set[str]:
        return set(self.custom_field_ids(answer))

    def custom_requests(
        self, remote_id: str, values: Mapping[str, Any], *, read: bool = True
    ) -> list[tuple[str, str, dict[str, Any]]]:
        if read:
            ids = self.custom_field_ids(self.request("GET", self.custom_fields_request()).json())
        else:  # the preview: the fields' ids not read
            ids = {name: f"<the id of field {name}>" for name in values}
        return [
            (
                "POST",
                "/customField.setValue",
                {"objectId": remote_id, "objectType": CANDIDATE, "fieldId": ids[name], "fieldValue": value},
            )
            for name, value in values.items()
            if name in ids
        ]


def upload_ask(resume: Mapping[str, Any], name: str, size: int | str) -> dict[str, Any]:
    """Return the body of ``file.createFileUploadHandle`` for the CV named ``name``, of ``size`` bytes."""
    content_type = str(resume.get("content_type") or "application/pdf")
    return {
        "fileUploadContext": "CandidateResume",
        "fileName": name,
        "contentType": content_type,
        "contentLength": size,
    }


def declared_length(stream: Any) -> int:
    """Return the byte length the CV's URL declares (``Content-Length``), reading none of its bytes."""
    response = stream.open()
    response.close()
    length = response.headers.get("Content-Length") or ""
    return int(length) if length.isdigit() else 0
