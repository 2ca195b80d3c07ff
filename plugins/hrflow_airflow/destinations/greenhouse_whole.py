"""
The whole candidate in Greenhouse Harvest v3: the CV, the jobs applied to and the team's custom fields, mixed into
:class:`~.greenhouse.GreenhouseHook`. From Greenhouse's public reference (harvestdocs.greenhouse.io):

- **The CV** hangs on an application, not on the candidate: ``POST /v3/attachments`` with ``application_id``,
  ``filename``, ``type`` ``resume`` and exactly one of ``content`` (base64) or ``url`` ("a publicly fetchable URL
  ... we will download the file on your behalf"); a new resume re-classifies the one before it as ``other``
  (https://harvestdocs.greenhouse.io/reference/post_v3-attachments). We send HrFlow's ``public_url`` (route
  "url": the bytes never pass through us). ``GET /v3/attachments?candidate_ids=`` lists a candidate's files (each
  with ``application_id``, ``filename``, ``type``; https://harvestdocs.greenhouse.io/reference/get_v3-attachments):
  after a lost answer, the file named by :func:`~.whole.cv_file_name` is ours.
- **The application the create makes.** ``POST /v3/candidates`` takes a nested ``application``: a candidate
  application needs its ``job_id``, a prospect application none (the candidate-ingestion guidance: "create a
  candidate and their first application in a single call"; the v3 body schema itself was not in the stored
  pages). Every create carries a prospect application (the talent pool: where a profile without application
  tag goes, as today), so every candidate we make has an application for its CV.
- **Jobs.** ``POST /v3/applications`` with ``candidate_id`` and ``job_id`` (WRITE migration guide:
  ``POST /v1/candidates/{id}/applications`` -> ``POST /v3/applications``,
  https://harvestdocs.greenhouse.io/docs/write-endpoint-migration-guide). One candidate has many applications,
  one job each. ``GET /v3/applications?candidate_ids=`` lists them, each with a flat ``job_id`` (null for a
  jobless prospect) and ``prospect``. A job the account does not have is a 404 or, as Harvest's write endpoints
  document their refusals, a 422 validation error on ``job_id``
  (https://harvestdocs.greenhouse.io/docs/standardizations).
- **Custom fields.** ``GET /v3/custom_fields?field_type=candidate`` lists the definitions, each with its
  ``name_key`` ("the stable lowercase identifier used when setting values on parent resources",
  https://harvestdocs.greenhouse.io/reference/get_v3-custom-fields). A field map's ``custom:<name_key>`` goes in
  the candidate's ``custom_fields`` as ``[{name_key, value}]`` (Harvest v1's documented write shape,
  https://developers.greenhouse.io/harvest.html#patch-edit-candidate; v3's was not in the stored pages).
- **Erasure.** No attachment delete was found on Greenhouse's own pages (``cv_deletable`` False); an erasure
  deletes the candidate (``DELETE /v3/candidates/{id}``), its applications and their files with it.
- **The candidate's page**: ``https://app.greenhouse.io/people/{candidate id}`` (Greenhouse's webhook and
  candidate-ingestion examples).

Scopes these calls need beyond the candidates' (https://harvestdocs.greenhouse.io/docs/handling-scope-changes):
``harvest:applications:list``, ``harvest:applications:create``, ``harvest:attachments:list``,
``harvest:attachments:create``, ``harvest:custom_fields:list``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any
from urllib.parse import quote

from hrflow_airflow.candidate import custom_values
from hrflow_airflow.errors import RefusedError

APPLICATIONS = "/v3/applications"
ATTACHMENTS = "/v3/attachments"
NO_APPLICATION = "the candidate has no application to attach the CV to"


def job_value(ats_job_id: str) -> int | str:
    """Return a job id as Harvest's JSON takes it: an integer (a board's reference may carry it as text)."""
    return int(ats_job_id) if ats_job_id.isdigit() else ats_job_id


def attachment(application_id: int | str, resume: Mapping[str, Any], file_name: str) -> dict[str, Any]:
    """Return the body of ``POST /v3/attachments`` handing application ``application_id`` the CV's URL."""
    return {"application_id": application_id, "filename": file_name, "type": "resume", "url": str(resume["url"])}


class GreenhouseWhole:
    """The CV (by URL, on the candidate's first application), its applications and its custom fields."""

    cv_route = "url"
    cv_deletable = False
    applies = True
    custom_fields = True
    request: Any  # the hook's (GreenhouseHook.request)
    timeout: float

    def whole_body(self, candidate: dict[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
        """Return the candidate body with the record's custom fields (``custom_fields: [{name_key, value}]``)."""
        values = custom_values(record)
        if values:
            candidate["custom_fields"] = [{"name_key": name, "value": value} for name, value in values.items()]
        return candidate

    def with_prospect(self, body: dict[str, Any]) -> dict[str, Any]:
        """Return a create body carrying the prospect application the create makes (the CV's application)."""
        return {**body, "application": {"prospect": True}}

    def remember_application(self, answer: Any) -> None:
        """Keep the id of the application a create answered (``{"candidate", "application"}``) for the CV call."""
        if not isinstance(answer, dict):
            return
        candidate, application = answer.get("candidate") or {}, answer.get("application") or {}
        if isinstance(candidate, dict) and isinstance(application, dict) and candidate.get("id") and application:
            self.first_applications[str(candidate["id"])] = application.get("id")

    @cached_property
    def first_applications(self) -> dict[str, Any]:
        """Return candidate id -> the application its create made (this client's creates only)."""
        return {}

    def application_for_cv(self, remote_id: str) -> int | str:
        """
        Return the application the CV goes on: the one our create made, else the candidate's first, listed (a
        candidate adopted after a lost answer, a CV sent by a later run). None listed: refused, the CV isolated.
        """
        if (known := self.first_applications.get(remote_id)) is not None:
            return known
        listed = self.request("GET", self.applications_request(remote_id)).json()
        ids = [a["id"] for a in listed or [] if isinstance(a, dict) and a.get("id") is not None]
        if not ids:
            raise RefusedError(f"greenhouse: {NO_APPLICATION}", 422, NO_APPLICATION)
        return min(ids)

    # -- the CV ---------------------------------------------------------------------------------
    def cv_request(self, remote_id: str, resume: Mapping[str, Any], file_name: str) -> tuple[str, str, dict[str, Any]]:
        """
        Return the attachment call handing Greenhouse the CV's URL (the engine checked first that the URL answers
        and the file is within ``[hrflow] max_cv_mb``: Greenhouse fetches it).
        """
        return "POST", ATTACHMENTS, attachment(self.application_for_cv(remote_id), resume, file_name)

    def cv_calls(self, remote_id: str, resume: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
        """Describe the attachment call on the application the create makes (the preview's: nothing is read)."""
        body = attachment("<the application the create makes>", resume, name)
        return [{"does": "the CV, by URL: Greenhouse fetches it", "method": "POST", "path": ATTACHMENTS, "body": body}]

    def files_request(self, remote_id: str) -> str:
        return f"{ATTACHMENTS}?candidate_ids={quote(remote_id, safe='')}&per_page=500"

    def file_names(self, answer: Any) -> dict[str, str]:
        files = answer if isinstance(answer, list) else []
        return {str(f.get("filename")): str(f.get("id")) for f in files if isinstance(f, dict) and f.get("filename")}

    # -- the jobs -------------------------------------------------------------------------------
    def apply_request(self, remote_id: str, ats_job_id: str) -> tuple[str, str, dict[str, Any] | None]:
        return "POST", APPLICATIONS, {"candidate_id": job_value(remote_id), "job_id": job_value(ats_job_id)}

    def applications_request(self, remote_id: str) -> str:
        return f"{APPLICATIONS}?candidate_ids={quote(remote_id, safe='')}&per_page=500"

    def applied_jobs(self, answer: Any) -> dict[str, str]:
        applications = answer if isinstance(answer, list) else []
        return {
            str(a["job_id"]): str(a.get("id"))
            for a in applications
            if isinstance(a, dict) and a.get("job_id") is not None and not a.get("prospect")
        }

    def unknown_job(self, exc: RefusedError) -> bool:
        """A 404, or a 422 whose errors name ``job_id`` (Harvest's validation errors: ``[{message, field}]``)."""
        if exc.status == 404:
            return True
        errors = exc.body.get("errors") if isinstance(exc.body, dict) else None
        return exc.status == 422 and any(isinstance(e, dict) and e.get("field") == "job_id" for e in errors or [])

    # -- custom fields --------------------------------------------------------------------------
    def custom_fields_request(self) -> str:
        return "/v3/custom_fields?field_type=candidate&per_page=500"

    def custom_field_names(self, answer: Any) -> set[str]:
        fields = answer if isinstance(answer, list) else []
        return {str(f["name_key"]) for f in fields if isinstance(f, dict) and f.get("name_key")}

    # -- the candidate's page -------------------------------------------------------------------
    @classmethod
    def record_url(cls, remote_id: str) -> str | None:
        """Return the candidate's page in Greenhouse (the id without the ``greenhouse:`` prefix)."""
        return f"https://app.greenhouse.io/people/{quote(remote_id.removeprefix('greenhouse:'), safe='')}"
