"""
SmartRecruiters: one candidate per ``POST /candidates``, looked up with ``GET /candidates?q=<email>``.

From SmartRecruiters' public API docs:
- authentication: the API key in header ``X-SmartToken``; API at ``https://api.smartrecruiters.com``
  (Candidate API, https://dev.smartrecruiters.com/customer-api/live-docs/candidate-api/);
- ``POST /candidates`` creates a candidate (``firstName``, ``lastName``, ``email`` required; ``phoneNumber``,
  ``location`` optional) in the talent pool and answers 201 with its ``id``;
- ``PATCH /candidates/{id}`` updates a candidate's personal information with the fields it carries
  (https://developers.smartrecruiters.com/reference/candidatespatch-1; hrflow-connectors' SmartRecruiters
  "update profiles" action uses it) and answers 200;
- ``GET /candidates?q=`` searches candidates by keyword (email included) and answers ``{content: [...]}``. Its
  reference (https://developers.smartrecruiters.com/reference/candidatesall-1) says it returns only candidates
  "having at least one job application", and a search index lags behind writes: after a lost answer, "not
  found" is not "not created" (the engine waits ``[hrflow] lookup_settle_seconds`` before creating again);
- ``POST /candidates`` takes ``tags`` (https://developers.smartrecruiters.com/reference/candidatesadd-1): our
  marker ``hrflow-key:<key>`` goes there, and ``GET /candidates/{id}`` answers ``tags`` and ``createdOn``;
- limits (https://developers.smartrecruiters.com/docs/rate-limiting): 10 requests per second and 8 concurrent
  requests per credential, "the concurrency limiter is 1 concurrent request: GET /candidates": one lookup at a
  time per key, held across task processes by a lock in the ledger database; headers ``X-RateLimit-Limit`` /
  ``X-RateLimit-Remaining`` (and ``X-RateLimit-Concurrent-*``); 429 when exceeded.

The whole candidate (issue 47), from the Candidate API's operations (live docs above; listed by
roksela/smartrecruiters-python-client ``docs/CandidatesApi.md``, generated from SmartRecruiters' spec):
- the CV: ``POST /candidates/{id}/attachments`` ("Attach files to a candidate"), ``multipart/form-data`` with
  ``file`` and ``attachmentType`` ``RESUME``; the bytes are streamed from HrFlow's URL. ``GET
  /candidates/{id}/attachments`` lists them (``content``: ``{id, name, type}``): after a lost answer our file is
  known by its name. The API documents no attachment delete: an erasure deletes the candidate, files with it;
- the job: ``POST /jobs/{jobId}/candidates`` ("Create a new candidate and assign to a job",
  https://developers.smartrecruiters.com/reference/candidatesaddtojob-1) takes the create's body; no documented
  call adds an existing candidate to another job, so each job is its own create (``one_record_per_job``), each
  with its own marker. A job it does not know answers 404: the candidate is created without it;
- custom fields: SmartRecruiters' candidate properties are set per job (``PUT /candidates/{id}/jobs/{jobId}/
  properties``), not on the candidate: none are mapped here; no documented web-UI URL pattern for a candidate.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from hrflow_airflow.dates import read_datetime
from hrflow_airflow.destinations import PER_OBJECT
from hrflow_airflow.destinations.candidate_api import CandidateApiHook
from hrflow_airflow.forms import TIMEOUT, Form, rate_limit_field


class SmartRecruitersHook(CandidateApiHook):
    """Create SmartRecruiters candidates. Connection: password = API key; host empty = the public API."""

    conn_type = "smartrecruiters"
    hook_name = "SmartRecruiters (ATS)"
    engine = PER_OBJECT
    form = Form(
        fields={
            "rate_limit": rate_limit_field("Requests per second (empty: 10, the documented limit)"),
            "timeout": TIMEOUT,
        },
        hidden=("schema", "port", "login", "extra"),
        relabeling={
            "host": "API URL (empty: https://api.smartrecruiters.com)",
            "password": "API key (sent as X-SmartToken)",
        },
        placeholders={"host": "https://api.smartrecruiters.com", "password": "the SmartToken"},
    )
    name = "smartrecruiters"
    default_host = "https://api.smartrecruiters.com"
    rate_limit, rate_interval = 10, 1.0
    concurrency = 8
    lookup_concurrency = 1
    lookups_per_key_serial = True  # "the concurrency limiter is 1 concurrent request: GET /candidates", per key
    remaining_header = "X-RateLimit-Remaining"
    reset_header = None  # one-second windows
    email_field = "email"
    cv_route = "upload"  # POST /candidates/{id}/attachments, multipart
    one_record_per_job = True  # POST /jobs/{jobId}/candidates creates; nothing adds an existing one to a job
    lookup_results = "content"  # q is a keyword search: found_id keeps only an exact email match
    # as hrflow-connectors' SmartRecruiters format_profile maps a profile: names, email, phone, location
    profile_field_map = {
        "firstName": "info.first_name",
        "lastName": "info.last_name",
        "email": "info.email",
        "phoneNumber": "info.phone",
        "location.city": "info.location.fields.city",
        "location.region": "info.location.fields.state",
        "location.country": "info.location.fields.country",
        "location.lat": "info.location.lat",
        "location.lng": "info.location.lng",
    }

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"X-SmartToken": secret}

    def create_request(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "/candidates", body

    def created_id(self, answer: Any) -> str | None:
        return answer.get("id") if isinstance(answer, dict) else None

    def lookup_request(self, email: str, since: datetime | None = None) -> tuple[str, dict[str, str]]:
        return "/candidates", {"q": email}

    def detail_request(self, remote_id: str) -> str:
        # the search's items carry no tags; GET /candidates/{id} answers them with createdOn (Candidate API,
        # https://dev.smartrecruiters.com/customer-api/live-docs/candidate-api/, "Get candidate details")
        return f"/candidates/{quote(remote_id, safe='')}"

    def created_of(self, found: Mapping[str, Any]) -> datetime | None:
        return read_datetime(found.get("createdOn"))

    def update_request(self, remote_id: str, body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        return "PATCH", f"/candidates/{quote(remote_id, safe='')}", body

    # -- the whole candidate ----------------------------------------------------------------------
    def job_create(self, path: str, payload: dict[str, Any], ats_job_id: str) -> tuple[str, dict[str, Any]]:
        return f"/jobs/{quote(ats_job_id, safe='')}/candidates", payload

    def cv_upload(self, remote_id: str, resume: Mapping[str, Any]) -> tuple[str, dict[str, str], str]:
        return f"/candidates/{quote(remote_id, safe='')}/attachments", {"attachmentType": "RESUME"}, "file"

    def files_request(self, remote_id: str) -> str:
        return f"/candidates/{quote(remote_id, safe='')}/attachments"

    def file_names(self, answer: Any) -> dict[str, str]:
        files = (answer or {}).get("content") or [] if isinstance(answer, dict) else []
        return {str(f["name"]): str(f["id"]) for f in files if isinstance(f, dict) and f.get("id") and f.get("name")}

    def removal_request(self, remote_id: str, mode: str) -> tuple[str, str, None] | str:
        # DELETE /candidates/{id} (Candidate API, https://dev.smartrecruiters.com/customer-api/live-docs/candidate-api/)
        if mode != "delete":
            return "SmartRecruiters' API has no candidate archive (delete only)"
        return "DELETE", f"/candidates/{quote(remote_id, safe='')}", None
