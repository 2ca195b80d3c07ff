"""
What a per-object adapter declares and does for the whole candidate: the CV, the jobs applied to, the team's
custom fields. Mixed into :class:`~.candidate_api.CandidateApiHook`; the defaults send nothing beyond the record.
:mod:`.completion` drives these per object, once each (the ledger's parts).

How the CV goes (``cv_route``):

* ``"body"``: the create (and an update whose CV changed) carries HrFlow's ``public_url``: :meth:`body` reads
  ``record["resume"]["url"]`` (Workable ``resume_url``, Teamtailor ``resume``);
* ``"url"``: one call after the create hands the ATS the URL (:meth:`cv_request`);
* ``"upload"``: one call streams the bytes (:meth:`cv_upload`: a multipart body, built as it is read).

:meth:`cv_calls` describes the CV's calls without sending them (``python -m hrflow_airflow.preview``).

A file is named :func:`cv_file_name` (the file's own name with a tag unique to the object and that file), so
after a lost answer the file list (:meth:`files_request`) tells whether our upload landed.

How the job goes: ``one_record_per_job`` (Workable and SmartRecruiters candidates, Lever opportunities): each job
is its own record, made by a create on that job (:meth:`job_create`); otherwise one candidate gets an application
per job (:meth:`apply_request`), its jobs listed by :meth:`applications_request` after a lost answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from hrflow_airflow.errors import RefusedError
from hrflow_airflow.hooks.files import MultipartBody


def cv_file_name(key: str, resume: Mapping[str, Any]) -> str:
    """Return the name our upload gives a CV: its own stem, and a tag of the object and the file's fingerprint."""
    name = str(resume.get("file_name") or "cv")
    stem, dot, extension = name.rpartition(".")
    stem, extension = (stem, f".{extension}") if dot and stem else (name, "")
    tag = hashlib.sha256(f"{key}/{resume.get('fingerprint')}".encode()).hexdigest()[:12]
    return f"{stem[:80]}-hrflow-{tag}{extension}"


class WholeCandidate:
    """The CV, applications and custom fields of one vendor (the defaults: none of them)."""

    cv_route: str | None = None  # "body", "url", "upload" (see the module's docstring); None: no CV
    cv_deletable = False  # an erasure deletes the file (:meth:`cv_delete_request`); False: it stays, said so
    one_record_per_job = False  # each job its own record (:meth:`job_create`); False: applications
    applies = False  # the vendor takes applications of a candidate to jobs (:meth:`apply_request`)
    custom_fields = False  # the vendor has custom fields the field map may fill (``custom:<name>``)

    # -- the job --------------------------------------------------------------------------------
    def job_create(self, path: str, payload: dict[str, Any], ats_job_id: str) -> tuple[str, dict[str, Any]]:
        """Return the path and body of the create ``(path, payload)`` made on job ``ats_job_id`` instead."""
        raise NotImplementedError(f"{type(self).__name__} makes no record per job")

    def apply_request(self, remote_id: str, ats_job_id: str) -> tuple[str, str, dict[str, Any] | None]:
        """Return the method, path and JSON body that apply candidate ``remote_id`` to job ``ats_job_id``."""
        raise NotImplementedError(f"{type(self).__name__} takes no applications")

    def applied_id(self, answer: Any) -> str | None:
        """Return the application's id from the answer to :meth:`apply_request`."""
        return (answer or {}).get("id") if isinstance(answer, dict) else None

    def applications_request(self, remote_id: str) -> str:
        """Return the path listing candidate ``remote_id``'s applications (read after a lost answer)."""
        raise NotImplementedError

    def applied_jobs(self, answer: Any) -> dict[str, str]:
        """Return ``{ATS job id: application id}`` from the answer to :meth:`applications_request`."""
        raise NotImplementedError

    def unknown_job(self, exc: RefusedError) -> bool:
        """Return True when a refusal says the job does not exist (the candidate stays, without it)."""
        return exc.status == 404

    # -- the CV ---------------------------------------------------------------------------------
    def cv_request(self, remote_id: str, resume: Mapping[str, Any], file_name: str) -> tuple[str, str, dict[str, Any]]:
        """Return the method, path and JSON body that hand candidate ``remote_id`` the CV's URL (route "url")."""
        raise NotImplementedError

    def cv_upload(self, remote_id: str, resume: Mapping[str, Any]) -> tuple[str, dict[str, str], str]:
        """Return the path, the text fields and the file field of the multipart upload (route "upload")."""
        raise NotImplementedError

    def cv_send(self, remote_id: str, resume: Mapping[str, Any], name: str, stream: Iterable[bytes]) -> Any:
        """
        Send the CV's bytes (route "upload"), ``stream`` read as it is sent; return the JSON answer (or None). The
        default: one multipart POST of :meth:`cv_upload`'s fields; a vendor whose upload takes several calls
        (Ashby's presigned upload) overrides it.
        """
        path, fields, file_field = self.cv_upload(remote_id, resume)
        body = MultipartBody(fields, file_field, name, resume.get("content_type") or "application/pdf", stream)
        response = self.request(  # type: ignore[attr-defined]
            "POST", path, data=body, headers={"Content-Type": body.content_type}, safe_to_repeat=False
        )
        return response.json() if response.content else None

    def cv_calls(self, remote_id: str, resume: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
        """
        Describe, sending and reading nothing, the calls that give record ``remote_id`` the CV named ``name`` (the
        preview's): each ``{does, method, path, body | multipart}``, by ``cv_route``; none for "body" (the create
        carries it). A vendor whose CV takes several calls (Ashby) or whose call reads first (Greenhouse) overrides it.
        """
        if self.cv_route == "url":
            method, path, body = self.cv_request(remote_id, resume, name)
            return [{"does": "the CV, by URL: the ATS fetches it", "method": method, "path": path, "body": body}]
        if self.cv_route == "upload":
            path, fields, file_field = self.cv_upload(remote_id, resume)
            does = f"the CV, streamed from {resume['url']} (at most [hrflow] max_cv_mb)"
            return [{"does": does, "method": "POST", "path": path, "multipart": {**fields, file_field: name}}]
        return []

    def cv_id(self, answer: Any) -> str | None:
        """Return the file's id from the answer to the CV call (kept, for an erasure)."""
        return (answer or {}).get("id") if isinstance(answer, dict) else None

    def files_request(self, remote_id: str) -> str:
        """Return the path listing candidate ``remote_id``'s files (read after a lost answer)."""
        raise NotImplementedError

    def file_names(self, answer: Any) -> dict[str, str]:
        """Return ``{file name: file id}`` from the answer to :meth:`files_request`."""
        raise NotImplementedError

    def cv_delete_request(self, remote_id: str, file_id: str) -> tuple[str, str]:
        """Return the method and path that delete file ``file_id`` of ``remote_id`` (``cv_deletable``)."""
        raise NotImplementedError

    @classmethod
    def record_url(cls, remote_id: str) -> str | None:
        """Return the record's page in the vendor's app, where it documents the pattern (None: it does not)."""
        return None

    # -- custom fields --------------------------------------------------------------------------
    def custom_fields_request(self) -> str:
        """Return the path listing the account's custom fields of candidates."""
        raise NotImplementedError

    def custom_field_names(self, answer: Any) -> set[str]:
        """Return the names a field map's ``custom:<name>`` may target, from :meth:`custom_fields_request`'s answer."""
        raise NotImplementedError

    def custom_requests(
        self, remote_id: str, values: Mapping[str, Any], *, read: bool = True
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """
        Return the calls (method, path, JSON body) that set custom field ``values`` on record ``remote_id`` where the
        vendor takes them apart from the candidate (Workable, Teamtailor, Ashby); none where they ride in
        :meth:`body`. A POST is sent once; other methods set a value, and are retried like reads. ``read=False``
        (the preview): read nothing; the ids a vendor would read are placeholders, and a new record holds no value.
        """
        return []
