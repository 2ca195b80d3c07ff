"""
Workable: one candidate per ``POST /spi/v3/talent_pool/candidates`` (or ``/spi/v3/jobs/<shortcode>/candidates``),
looked up with ``GET /spi/v3/candidates?email=<email>``.

From Workable's public API reference (https://workable.readme.io/reference):
- API at ``https://<subdomain>.workable.com/spi/v3``; the access token in ``Authorization: Bearer``;
- create in the talent pool (https://workable.readme.io/reference/talent-pool-candidates-create, scope
  ``w_candidates``) or in a job; body ``{"sourced": true, "candidate": {name, firstname, lastname, email,
  phone, summary, tags, ...}}`` (``sourced: false`` would send the "thank you for applying" email); ``email``
  is required, and ``name`` unless ``firstname`` and ``lastname`` are given: a profile without them is refused
  here, before anything is sent; 201 with ``{"candidate": {"id", ...}}``. Our marker goes in ``tags``;
- ``PATCH /spi/v3/candidates/:id`` with ``{"candidate": {...}}`` updates the fields it carries, among those it
  lists (``name`` is not one: only firstname and lastname are sent)
  (https://workable.readme.io/reference/candidates-update, scope ``w_candidates``; hrflow-connectors' Workable
  "update profiles" action uses it) and answers 200 with the candidate;
- ``GET /spi/v3/candidates?email=`` lists the candidates with that email (``{"candidates": [...]}``);
  ``GET /spi/v3/candidates/:id`` reads one, with ``tags`` and ``created_at``;
- disqualify (https://workable.readme.io/docs/disqualify-candidate): ``member_id`` (required),
  ``disqualify_reason_id`` and ``disqualify_note``; ``disqualification_reason`` is deprecated;
- the whole candidate (issue 47): the CV's ``public_url`` rides in the create and in an update whose file changed,
  as ``candidate.resume_url`` (Workable fetches it; https://workable.readme.io/reference/job-candidates-create,
  the field as NangoHQ/integration-templates ``workable/actions/create-candidate.ts`` and hrflow-connectors send it;
  ``update-candidate.ts`` sends it on the PATCH too). A base64 ``resume {name, data}`` also exists: not used, the
  URL keeps the bytes out of this process. Workable keeps "unique (but linked) profiles for each job"
  (https://help.workable.com/hc/en-us/articles/115013260288-Deleting-candidates): a profile that applied is created
  on its job, ``POST /spi/v3/jobs/{shortcode}/candidates``, one record per job; without a job it goes where it
  went before (extra ``job_shortcode``, else the talent pool). An unknown shortcode is 404 ``{"error": "Not
  found"}``: the candidate is then created without that job, and the job counted. Custom attributes: the account's
  are listed by ``GET /spi/v3/custom_attributes`` (https://workable.readme.io/reference/custom_attributes; the
  field map targets their ``id``, the ``custom_attribute_key``), each value set by ``PATCH
  /spi/v3/candidates/{id}/update_custom_attribute_value`` ``{custom_attribute_key, value | checked}``
  (https://workable.readme.io/reference/candidatesidupdate_custom_attribute_value): a set, so repeatable. No file
  delete is documented: an erasure leaves the CV. A candidate's page (``profile_url``) is read from the API,
  not built from its id (it names the job): :meth:`record_url` gives None;
- limits (https://workable.readme.io/docs/rate-limits): 10 requests per 10 seconds for account tokens
  (50 for OAuth and partner tokens: set extra ``rate_limit`` to 50), in 10-second intervals; headers
  ``X-Rate-Limit-Limit``, ``X-Rate-Limit-Remaining``, ``X-Rate-Limit-Reset`` (time of the next interval);
  429 beyond.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from hrflow_airflow.candidate import RESUME
from hrflow_airflow.destinations import PER_OBJECT
from hrflow_airflow.destinations.candidate_api import CandidateApiHook
from hrflow_airflow.forms import TIMEOUT, Form, extra_field, rate_limit_field

UPDATABLE = frozenset(
    {"firstname", "lastname", "email", "headline", "summary", "address", "phone", "cover_letter", "resume",
     "resume_url", "tags"}
)  # fmt: skip


class WorkableHook(CandidateApiHook):
    """Create Workable candidates. Connection: host = https://<subdomain>.workable.com, password = access token."""

    conn_type = "workable"
    hook_name = "Workable (ATS)"
    engine = PER_OBJECT
    form = Form(
        fields={
            "job_shortcode": extra_field(
                "Job shortcode (empty: the talent pool)",
                description="Candidates go to this job instead of the account's talent pool.",
            ),
            "member_id": extra_field(
                "Member id who disqualifies (needed to archive)",
                description=(
                    "The Workable member an archive in HrFlow is made as (POST /candidates/:id/disqualify needs "
                    "it; GET /spi/v3/members lists them). Empty: archives are reported, not done."
                ),
                placeholder="13e0eb0e",
            ),
            "disqualify_reason_id": extra_field(
                "Disqualify reason id (optional)",
                description=(
                    "Sent with a disqualify (an archive in HrFlow): one of the account's disqualification reasons "
                    "(GET /spi/v3/disqualification_reasons lists them). Empty: no reason, only the note."
                ),
            ),
            "rate_limit": rate_limit_field("Requests per 10 s (empty: 10, account tokens; OAuth tokens: 50)"),
            "timeout": TIMEOUT,
        },
        hidden=("schema", "port", "login", "extra"),
        relabeling={
            "host": "Account URL (https://<subdomain>.workable.com)",
            "password": "Access token (sent as Bearer)",
        },
        placeholders={"host": "https://yourcompany.workable.com", "password": "the access token"},
    )
    name = "workable"
    default_host = None  # the subdomain is the account's
    rate_limit, rate_interval = 10, 10.0
    concurrency = 1  # 1 request per second at most: one at a time keeps the headers' word exact
    lookup_concurrency = 1
    remaining_header = "X-Rate-Limit-Remaining"
    reset_header = "X-Rate-Limit-Reset"
    email_field = "email"
    profile_field_map = {
        "firstname": "info.first_name",
        "lastname": "info.last_name",
        "email": "info.email",
        "phone": "info.phone",
        "summary": "info.summary",
        "address": "info.location.text",
    }

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}

    @property
    def job_shortcode(self) -> str | None:
        return (self.connection.extra_dejson.get("job_shortcode") or "").strip() or None

    cv_route = "body"
    one_record_per_job = True
    custom_fields = True

    def body(self, record: Any) -> dict[str, Any]:
        candidate = super().body(record)
        if resume := record.get(RESUME):
            candidate["resume_url"] = resume["url"]  # Workable fetches HrFlow's public_url
        return {"sourced": True, "candidate": candidate}

    def job_create(self, path: str, payload: dict[str, Any], ats_job_id: str) -> tuple[str, dict[str, Any]]:
        return f"/spi/v3/jobs/{quote(ats_job_id, safe='')}/candidates", payload

    def custom_fields_request(self) -> str:
        return "/spi/v3/custom_attributes"

    def custom_field_names(self, answer: Any) -> set[str]:
        found = (answer or {}).get("custom_attributes") if isinstance(answer, dict) else None
        return {str(a["id"]) for a in found or [] if isinstance(a, dict) and a.get("id") and a.get("enabled", True)}

    def custom_requests(
        self, remote_id: str, values: Mapping[str, Any], *, read: bool = True
    ) -> list[tuple[str, str, dict[str, Any]]]:
        path = f"/spi/v3/candidates/{quote(remote_id, safe='')}/update_custom_attribute_value"
        return [
            (
                "PATCH",
                path,
                {
                    "custom_attribute_key": name,
                    **({"checked": value} if isinstance(value, bool) else {"value": str(value)}),
                },
            )
            for name, value in values.items()
        ]

    @classmethod
    def record_url(cls, remote_id: str) -> str | None:
        return None  # profile_url names the job too: read from the candidate, not built from its id

    def refusal_before_send(self, record: Mapping[str, Any]) -> str | None:
        # "email (required)", and "name ... optional if firstname and lastname are provided"
        # (https://workable.readme.io/reference/talent-pool-candidates-create)
        if not record.get("email"):
            return "Workable requires an email to create a candidate, and the profile has none (field email)"
        if not record.get("name") and not (record.get("firstname") and record.get("lastname")):
            return "Workable requires a name, or a first and a last name (fields firstname, lastname)"
        return None

    def create_request(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if self.job_shortcode:
            return f"/spi/v3/jobs/{quote(self.job_shortcode, safe='')}/candidates", body
        return "/spi/v3/talent_pool/candidates", body

    def mark(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
        candidate = payload["candidate"]
        return {**payload, "candidate": {**candidate, "tags": [*candidate.get("tags", []), self.marker(key)]}}

    def created_id(self, answer: Any) -> str | None:
        return ((answer or {}).get("candidate") or {}).get("id")

    def lookup_request(self, email: str, since: datetime | None = None) -> tuple[str, dict[str, str]]:
        return "/spi/v3/candidates", {"email": email}

    def detail_request(self, remote_id: str) -> str:
        # GET /spi/v3/candidates/:id answers tags and created_at (https://workable.readme.io/reference/job-candidates-show)
        return f"/spi/v3/candidates/{quote(remote_id, safe='')}"

    def listed(self, answer: Any) -> list[dict[str, Any]]:
        if isinstance(answer, dict) and isinstance(answer.get("candidate"), dict):  # one candidate, read by id
            return [answer["candidate"]]
        return super().listed(answer)

    def tags_of(self, found: Mapping[str, Any]) -> list[str]:
        return super().tags_of(found.get("candidate") or found)

    def created_of(self, found: Mapping[str, Any]) -> datetime | None:
        return super().created_of(found.get("candidate") or found)

    def update_request(self, remote_id: str, body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        # the fields the reference lists as updatable (https://workable.readme.io/reference/update-candidate):
        # firstname, lastname, email, headline, summary, address, phone, ...; not name
        candidate = {k: v for k, v in body["candidate"].items() if k in UPDATABLE}
        return "PATCH", f"/spi/v3/candidates/{quote(remote_id, safe='')}", {"candidate": candidate}

    def removal_request(self, remote_id: str, mode: str) -> tuple[str, str, dict[str, Any]] | str:
        """
        Archive: disqualify (``POST /spi/v3/candidates/:id/disqualify``, https://workable.readme.io/reference/
        disqualify-candidate, with the ``member_id`` the action is made as: extra ``member_id``). Workable's API
        documents no candidate delete.
        """
        if mode != "archive":
            return "Workable's API documents no candidate delete (archive disqualifies)"
        extra = self.connection.extra_dejson
        member = str(extra.get("member_id") or "").strip()
        if not member:
            return f"connection '{self.ats_conn_id}' has no extra member_id (the Workable member who disqualifies)"
        # disqualification_reason is deprecated for disqualify_reason_id (GET /spi/v3/disqualification_reasons)
        # and disqualify_note (at most 256 characters)
        body = {"member_id": member, "disqualify_note": "Archived in HrFlow.ai"}
        if reason := str(extra.get("disqualify_reason_id") or "").strip():
            body["disqualify_reason_id"] = reason
        return "POST", f"/spi/v3/candidates/{quote(remote_id, safe='')}/disqualify", body
