"""
Teamtailor: one candidate per ``POST /v1/candidates`` (JSON:API), looked up with ``filter[email]``.

From Teamtailor's public reference (https://docs.teamtailor.com):
- auth: ``Authorization: Token token=<API key>`` (writes need an Admin-scope key); ``X-Api-Version`` on every
  request (extra ``api_version``, default 20240404; a missing or unknown version is 406). Hosts:
  ``https://api.teamtailor.com`` (EU) and ``https://api.na.teamtailor.com`` (North America);
- every request sends ``Content-Type`` and ``Accept: application/vnd.api+json`` (JSON:API);
- "A unique ``email`` is a required attribute unless ``sourced`` is set to true" (Teamtailor/docs,
  candidates/_create): a profile without an email is created with ``sourced: true``;
- create: ``{"data": {"type": "candidates", "attributes": {"first-name", "last-name", "email", "phone"}}}`` ->
  201 ``{"data": {"id": "<string>", ...}}``;
- the email is unique: a create with a taken email is 422 ``has already been taken`` unless ``"merge": true``
  merges into the existing candidate. **We do not send ``merge``**: merging would overwrite a candidate a
  recruiter may have edited, on every lost answer, and hide that the person was already there. A 422 on the
  email is read as "it exists": the engine looks it up by email; a candidate carrying our tag
  ``hrflow-key:<key>`` (``tags``), created no earlier than our send, is ours after a lost answer and adopted;
  any other is a person the company already had: *linked* (updated with the fields the sync owns, never
  removed or erased);
- find: ``GET /v1/candidates?filter[email]=`` (pages: ``page[size]`` at most 30, ``page[number]``,
  ``links.next``); update: ``PATCH /v1/candidates/{id}`` with ``{"data": {"id", "type", "attributes"}}``;
- rate limits: ``X-Rate-Limit-Limit``, ``X-Rate-Limit-Remaining``, ``X-Rate-Limit-Reset`` on each answer; paced
  from them (50 per 10 s until the first answer states the limit);
- errors: JSON:API ``{"errors": [{"status", "detail", "source": {"pointer"}}]}``;
- the whole candidate (issue 47), from Teamtailor/docs ``source/includes``: the CV's ``public_url`` is the
  ``resume`` attribute of the create (``candidates/_create``; Teamtailor fetches it; read back, ``resume`` is a
  signed PDF link) and of an update whose file changed. ``POST /v1/uploads`` (a public URL too) is not used: the
  attribute goes with the candidate itself. No file delete is documented: an erasure deletes the candidate. One
  candidate has many applications: ``POST /v1/job-applications`` with the ``candidate`` and ``job`` relationships
  ("required to be able to create a new job application", ``job_applications/_create``), ``sourced: true``; a
  candidate's are listed at its ``job-applications`` relationship (``include=job`` gives each one's job). A job
  the company lacks is refused as JSON:API validation of the relationship (422, pointer
  ``/data/relationships/job``; a 404 reads the same): the candidate stays, the job is counted. Custom fields: the
  company's are listed by ``GET /v1/custom-fields`` (``custom-fields/_list``; the field map targets their
  ``name``), a value is ``POST /v1/custom-field-values`` with ``value`` and the ``custom-field`` and ``owner``
  relationships (``custom_field_values/_create``), changed by ``PATCH /v1/custom-field-values/{id}``; an update
  reads the candidate's values (``custom-field-values`` relationship) to change them in place. No page URL of a
  candidate is documented (``links.self`` is the API's): :meth:`record_url` gives None.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from hrflow_airflow.candidate import RESUME
from hrflow_airflow.dates import read_datetime
from hrflow_airflow.destinations import PER_OBJECT
from hrflow_airflow.destinations.candidate_api import CandidateApiHook
from hrflow_airflow.errors import BadConfigError, RefusedError
from hrflow_airflow.forms import TIMEOUT, Form, extra_field, rate_limit_field

DEFAULT_API_VERSION = "20240404"
JSONAPI = "application/vnd.api+json"


class TeamtailorHook(CandidateApiHook):
    """
    Create Teamtailor candidates. Connection: host = https://api.teamtailor.com (https://api.na.teamtailor.com in
    North America), password = Admin-scope API key, extra ``api_version``.
    """

    conn_type = "teamtailor"
    hook_name = "Teamtailor (ATS)"
    engine = PER_OBJECT
    form = Form(
        fields={
            "api_version": extra_field("API version (X-Api-Version; empty: 20240404)"),
            "rate_limit": rate_limit_field(
                "Requests per 10 s until an answer states X-Rate-Limit-Limit (empty: 50)",
                "Teamtailor states the limit on every answer; requests are then paced from it.",
            ),
            "timeout": TIMEOUT,
        },
        hidden=("schema", "port", "login", "extra"),
        relabeling={
            "host": "API URL (empty: https://api.teamtailor.com, EU; N. America: https://api.na.teamtailor.com)",
            "password": "Admin-scope API key",
        },
        placeholders={"host": "https://api.teamtailor.com", "password": "the API key"},
    )
    name = "teamtailor"
    default_host = "https://api.teamtailor.com"
    rate_limit, rate_interval = 50, 10.0  # until an answer states X-Rate-Limit-Limit
    concurrency = 2
    lookup_concurrency = 1
    remaining_header = "X-Rate-Limit-Remaining"
    reset_header = "X-Rate-Limit-Reset"
    limit_header = "X-Rate-Limit-Limit"
    email_field = "email"
    profile_field_map = {
        "first-name": "info.first_name",
        "last-name": "info.last_name",
        "email": "info.email",
        "phone": "info.phone",
    }

    def auth_headers(self, secret: str) -> dict[str, str]:
        version = str(self.connection.extra_dejson.get("api_version") or DEFAULT_API_VERSION)
        return {
            "Authorization": f"Token token={secret}",
            "X-Api-Version": version,
            "Content-Type": JSONAPI,
            "Accept": JSONAPI,  # a JSON:API service: its media type both ways
        }

    def request(self, method: str, path: str, *, safe_to_repeat: bool = True, **kwargs: Any) -> requests.Response:
        """Send one request; a 406 (the API version refused) fails the run naming the extra, not the record."""
        try:
            return super().request(method, path, safe_to_repeat=safe_to_repeat, **kwargs)
        except RefusedError as exc:
            if exc.status != 406:
                raise
            version = self.connection.extra_dejson.get("api_version") or DEFAULT_API_VERSION
            raise BadConfigError(
                f"Connection '{self.ats_conn_id}': Teamtailor refused X-Api-Version {version!r} (HTTP 406); set "
                f"extra api_version to a version it supports (default {DEFAULT_API_VERSION})"
            ) from None

    cv_route = "body"
    applies = True
    custom_fields = True

    def body(self, record: Any) -> dict[str, Any]:
        attributes = super().body(record)
        if resume := record.get(RESUME):
            attributes["resume"] = resume["url"]  # Teamtailor fetches HrFlow's public_url
        return {"data": {"type": "candidates", "attributes": attributes}}

    # -- the whole candidate ----------------------------------------------------------------------
    def apply_request(self, remote_id: str, ats_job_id: str) -> tuple[str, str, dict[str, Any]]:
        relationships = {"candidate": link(remote_id, "candidates"), "job": link(ats_job_id, "jobs")}
        resource = {"type": "job-applications", "attributes": {"sourced": True}, "relationships": relationships}
        return "POST", "/v1/job-applications", {"data": resource}

    def applied_id(self, answer: Any) -> str | None:
        return ((answer or {}).get("data") or {}).get("id")

    def applications_request(self, remote_id: str) -> str:
        return f"/v1/candidates/{quote(remote_id, safe='')}/job-applications?include=job&page[size]=30"

    def applied_jobs(self, answer: Any) -> dict[str, str]:
        return {str(job): str(a["id"]) for a in (answer or {}).get("data") or [] if (job := related_id(a, "job"))}

    def unknown_job(self, exc: RefusedError) -> bool:
        # a job the company lacks fails the relationship's validation ("must exist"); a second application to a
        # job it has is refused too ("has already been taken"), but that job exists
        return exc.status == 404 or (exc.status == 422 and ("/data/relationships/job", "must exist") in problems(exc))

    def custom_fields_request(self) -> str:
        return "/v1/custom-fields?page[size]=30"

    def custom_field_names(self, answer: Any) -> set[str]:
        return set(self.custom_field_ids(answer))

    def custom_field_ids(self, answer: Any) -> dict[str, str]:
        """Return ``{name: id}`` of the company's custom fields, from the answer to :meth:`custom_fields_request`."""
        return {
            str((f.get("attributes") or {}).get("name")): str(f["id"])
            for f in (answer or {}).get("data") or []
            if isinstance(f, dict) and (f.get("attributes") or {}).get("name")
        }

    def custom_requests(
        self, remote_id: str, values: Mapping[str, Any], *, read: bool = True
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """Return a PATCH of each value the candidate has for a field, a POST of each it lacks (two reads first)."""
        if not read:  # the preview: a new candidate (no value held), the fields' ids not read
            return self.custom_value_calls(remote_id, values, {name: f"<the id of field {name}>" for name in values})
        fields = self.custom_field_ids(self.request("GET", self.custom_fields_request()).json())
        path = f"/v1/candidates/{quote(remote_id, safe='')}/custom-field-values?include=custom-field&page[size]=30"
        held = {related_id(v, "custom-field"): str(v["id"]) for v in self.request("GET", path).json().get("data") or []}
        return self.custom_value_calls(remote_id, values, fields, held)

    def custom_value_calls(
        self,
        remote_id: str,
        values: Mapping[str, Any],
        fields: Mapping[str, str],
        held: Mapping[str | None, str] | None = None,
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """Return the calls setting ``values``: ``fields`` the company's ``{name: id}``, ``held`` the record's."""
        held, calls = held or {}, []
        for name, value in values.items():
            if (field := fields.get(name)) is None:
                continue  # not the company's: the run's check names it
            if (value_id := held.get(field)) is not None:
                resource = {"id": value_id, "type": "custom-field-values", "attributes": {"value": value}}
                calls.append(("PATCH", f"/v1/custom-field-values/{quote(value_id, safe='')}", {"data": resource}))
                continue
            owner = {"custom-field": link(field, "custom-fields"), "owner": link(remote_id, "candidates")}
            resource = {"type": "custom-field-values", "attributes": {"value": value}, "relationships": owner}
            calls.append(("POST", "/v1/custom-field-values", {"data": resource}))
        return calls

    @classmethod
    def record_url(cls, remote_id: str) -> str | None:
        return None  # Teamtailor documents no page URL of a candidate

    def create_request(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        attributes = body["data"]["attributes"]
        if not attributes.get("email"):  # "A unique email is a required attribute unless sourced is set to true"
            body = {"data": {**body["data"], "attributes": {**attributes, "sourced": True}}}
        return "/v1/candidates", body

    def mark(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
        attributes = payload["data"]["attributes"]
        tags = [*attributes.get("tags", []), self.marker(key)]
        return {"data": {**payload["data"], "attributes": {**attributes, "tags": tags}}}

    def read_request(self, remote_id: str) -> tuple[str, dict[str, str]]:
        return f"/v1/candidates/{quote(remote_id, safe='')}", {}  # "Show a Candidate"

    def listed(self, answer: Any) -> list[dict[str, Any]]:
        return [c for c in (answer or {}).get("data") or [] if isinstance(c, dict)]

    def emails_of(self, found: Mapping[str, Any]) -> list[str]:
        return [str((found.get("attributes") or {}).get("email") or "")]

    def tags_of(self, found: Mapping[str, Any]) -> list[str]:
        return super().tags_of(found.get("attributes") or {})

    def created_of(self, found: Mapping[str, Any]) -> datetime | None:
        return read_datetime((found.get("attributes") or {}).get("created-at"))

    def created_id(self, answer: Any) -> str | None:
        return ((answer or {}).get("data") or {}).get("id")

    def already_exists(self, exc: RefusedError) -> bool:
        errors = (exc.body or {}).get("errors") if isinstance(exc.body, dict) else None
        return exc.status == 422 and any(
            isinstance(e, dict)
            and (e.get("source") or {}).get("pointer") == "/data/attributes/email"
            and "taken" in str(e.get("detail", ""))
            for e in errors or []
        )

    def lookup_request(self, email: str, since: datetime | None = None) -> tuple[str, dict[str, str]]:
        return "/v1/candidates", {"filter[email]": email, "page[size]": "30"}

    def update_request(self, remote_id: str, body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        resource = {"id": remote_id, "type": "candidates", "attributes": body["data"]["attributes"]}
        return "PATCH", f"/v1/candidates/{quote(remote_id, safe='')}", {"data": resource}

    def removal_request(self, remote_id: str, mode: str) -> tuple[str, str, None] | str:
        # DELETE /v1/candidates/{id}; Teamtailor has no candidate archive in its API
        if mode != "delete":
            return "Teamtailor's API has no candidate archive (delete only)"
        return "DELETE", f"/v1/candidates/{quote(remote_id, safe='')}", None


def link(resource_id: str, kind: str) -> dict[str, Any]:
    """Return a JSON:API relationship to one resource."""
    return {"data": {"id": str(resource_id), "type": kind}}


def related_id(resource: Any, name: str) -> str | None:
    """Return the id a JSON:API resource's relationship ``name`` points to (None: not given)."""
    data = ((resource.get("relationships") or {}).get(name) or {}).get("data") if isinstance(resource, dict) else None
    return str(data["id"]) if isinstance(data, dict) and data.get("id") is not None else None


def problems(exc: RefusedError) -> list[tuple[str, str]]:
    """Return the ``(source.pointer, detail)`` of each JSON:API error of a refusal."""
    errors = exc.body.get("errors") if isinstance(exc.body, dict) else None
    return [
        (str((e.get("source") or {}).get("pointer")), str(e.get("detail"))) for e in errors or [] if isinstance(e, dict)
    ]
