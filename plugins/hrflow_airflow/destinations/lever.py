"""
Lever: one opportunity per profile (``POST /v1/opportunities``), looked up with ``GET /v1/opportunities?email=``.

From Lever's public reference (https://hire.lever.co/developer/documentation):
- auth ("Authentication"): HTTP Basic, the API key as the user name and an empty password;
- every write is made as a Lever user: ``perform_as=<user id>`` (connection extra ``perform_as``, required);
- create ("Create an opportunity"): ``name`` (one full-name field), ``emails`` (strings), ``phones``
  (``[{value, type}]``), ``headline``, ``tags``, ``sources``, ``origin``; 201 ``{"data": {"id", "contact", ...}}``.
  De-duplication is by contact, not by opportunity: a known email links the new opportunity to the existing
  contact (whose data takes precedence), so a create sent again is a second opportunity for the same person.
  After a lost answer the ledger's intent makes the engine look up before anything is created again;
- find ("List all opportunities"): ``GET /v1/opportunities?email=&origin=&created_at_start=`` (ms) ->
  ``{"data": [...], "hasNext", "next"}``. A person may hold other opportunities (a job-board application, another
  source), listed first: only the one carrying our tag ``hrflow-key:<key>`` (``tags`` on create), created no
  earlier than our send, is ours. Lever's ``origin`` and our source name are shared values and prove nothing;
- update ("Update contact"): contact details live on the contact, ``PUT /v1/contacts/{contact}`` with ``name``,
  ``emails``, ``phones``, ``headline``, ``location``. So the id kept (ledger, ``ats_id`` tag) is
  ``<opportunity>/<contact>``;
- rate limits ("Rate limits"): a token bucket per key, 10 requests per second with bursts to 20; a 429 carries no
  rate headers, so requests are paced here (10 per second) and a 429 backs off exponentially;
- errors: ``{"code", "message"}``.

The whole candidate (issue 47):
- the CV ("Upload a single file", https://hire.lever.co/developer/documentation, section "Files"):
  ``POST /v1/opportunities/{id}/files?perform_as=`` with a ``multipart/form-data`` body whose ``file`` part is the
  file (at most 30 MB; summarised at https://developers.getknit.dev/docs/lever-usecases): the bytes are streamed from
  HrFlow's URL (:meth:`~.whole.WholeCandidate.cv_send`), never held whole. ``GET /v1/opportunities/{id}/files``
  lists them (``{"data": [{"id", "name", ...}]}``): after a lost answer our file is known by its name;
  ``DELETE /v1/opportunities/{id}/files/{file}`` deletes one (an erasure deletes the CV it sent);
- the job ("Create an opportunity"): ``postings: [<posting id>]`` on the create; an opportunity is one candidacy
  for one posting and a contact holds many (https://hire.lever.co/developer/deprecated), so each job is its own
  opportunity of the same contact (``one_record_per_job``). A posting Lever does not know is refused (404
  ``ResourceNotFound``, or a 400 naming the posting): the candidate is then created without it;
- the candidate's page: the opportunity's ``urls.show``, ``https://hire.lever.co/candidates/<opportunity id>``;
- Lever has no free-form candidate custom fields (its Profile Forms are per opportunity): none are mapped.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from hrflow_airflow.destinations import PER_OBJECT
from hrflow_airflow.destinations.candidate_api import CandidateApiHook
from hrflow_airflow.destinations.records import CLOCK_SKEW
from hrflow_airflow.errors import BadConfigError, RefusedError
from hrflow_airflow.forms import TIMEOUT, Form, extra_field, rate_limit_field

SOURCE = "HrFlow.ai"
RECORD_URL = "https://hire.lever.co/candidates/{id}"  # the opportunity's urls.show
ORIGIN = "sourced"  # one of applied, sourced, referred, university, internal, agency: shared, so it proves nothing


class LeverHook(CandidateApiHook):
    """
    Create Lever opportunities. Connection: host = https://api.lever.co, password = API key, extra ``perform_as``
    (the Lever user id every write is made as).
    """

    conn_type = "lever"
    hook_name = "Lever (ATS)"
    engine = PER_OBJECT
    form = Form(
        fields={
            "perform_as": extra_field(
                "Perform as: Lever user id (required)",
                description="Every opportunity and contact update is made as this Lever user.",
            ),
            "archive_reason_id": extra_field(
                "Archive reason id (needed to archive)",
                description=(
                    "The archive reason an opportunity archived in HrFlow is archived with in Lever (GET "
                    "/v1/archive_reasons lists them). Empty: archives are reported, not done."
                ),
            ),
            "rate_limit": rate_limit_field("Requests per second (empty: 10, the documented steady rate)"),
            "timeout": TIMEOUT,
        },
        hidden=("schema", "port", "login", "extra"),
        relabeling={
            "host": "API URL (empty: https://api.lever.co)",
            "password": "API key (sent as the Basic auth user name)",
        },
        placeholders={"host": "https://api.lever.co", "password": "the API key"},
    )
    name = "lever"
    default_host = "https://api.lever.co"
    rate_limit, rate_interval = 10, 1.0  # the bucket's steady rate; its burst of 20 is never needed
    concurrency = 2
    lookup_concurrency = 1
    remaining_header = None  # Lever sends no rate headers
    email_field = "email"
    cv_route = "upload"  # POST /v1/opportunities/{id}/files, multipart
    cv_deletable = True  # DELETE /v1/opportunities/{id}/files/{file}
    one_record_per_job = True  # an opportunity is one candidacy for one posting
    profile_field_map = {
        "name": "info.full_name",
        "email": "info.email",
        "phone": "info.phone",
        "location": "info.location.text",
    }

    def auth_headers(self, secret: str) -> dict[str, str]:
        basic = base64.b64encode(f"{secret}:".encode()).decode("ascii")  # the key as user name, no password
        return {"Authorization": f"Basic {basic}"}

    @property
    def perform_as(self) -> str:
        user = str(self.connection.extra_dejson.get("perform_as") or "").strip()
        if not user:
            raise BadConfigError(
                f"Connection '{self.ats_conn_id}' has no extra perform_as: Lever makes every write as a user; "
                "set it to that user's id"
            )
        return user

    def body(self, record: Any) -> dict[str, Any]:
        fields = super().body(record)
        contact: dict[str, Any] = {k: fields[k] for k in ("name", "headline", "location") if fields.get(k)}
        if fields.get("email"):
            contact["emails"] = [fields["email"]]
        if fields.get("phone"):
            contact["phones"] = [{"value": fields["phone"], "type": "mobile"}]
        return contact

    def create_request(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return (
            f"/v1/opportunities?perform_as={quote(self.perform_as, safe='')}",
            {**body, "sources": [SOURCE], "origin": ORIGIN},
        )

    def created_id(self, answer: Any) -> str | None:
        opportunity = (answer or {}).get("data") or {}
        if not opportunity.get("id") or not opportunity.get("contact"):
            return None
        return f"{opportunity['id']}/{opportunity['contact']}"

    def lookup_request(self, email: str, since: datetime | None = None) -> tuple[str, dict[str, str]]:
        # "List all opportunities" filters: email, origin, created_at_start (ms, inclusive); the marker is then
        # checked on what comes back (a person's other opportunities share the email and may share the origin)
        params = {"email": email, "origin": ORIGIN}
        if since is not None:
            params["created_at_start"] = str(int((since - CLOCK_SKEW).timestamp() * 1000))
        return "/v1/opportunities", params

    def read_request(self, remote_id: str) -> tuple[str, dict[str, str]]:
        # "Retrieve a single opportunity": GET /v1/opportunities/{id} (the id kept is <opportunity>/<contact>)
        return f"/v1/opportunities/{quote(remote_id.partition('/')[0], safe='')}", {}

    def legacy_ours(self, found: Mapping[str, Any]) -> bool:
        # before the marker, our creates set sources ["HrFlow.ai"] with origin sourced; another source's
        # opportunity for the same person (a job-board application) has neither
        return SOURCE in (found.get("sources") or []) and found.get("origin") == ORIGIN

    def listed(self, answer: Any) -> list[dict[str, Any]]:
        return [o for o in (answer or {}).get("data") or [] if isinstance(o, dict)]

    def id_of(self, found: Mapping[str, Any]) -> str | None:
        if not found.get("id") or not found.get("contact"):
            return None
        return f"{found['id']}/{found['contact']}"

    def emails_of(self, found: Mapping[str, Any]) -> list[str]:
        return [str(e) for e in found.get("emails") or []]

    def created_of(self, found: Mapping[str, Any]) -> datetime | None:
        created = found.get("createdAt")  # ms since the epoch
        return datetime.fromtimestamp(created / 1000, timezone.utc) if isinstance(created, (int, float)) else None

    def update_request(self, remote_id: str, body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        opportunity, _, contact = remote_id.partition("/")
        if not contact:
            raise BadConfigError(f"lever id {opportunity!r} has no contact part: cannot update its contact")
        return "PUT", f"/v1/contacts/{quote(contact, safe='')}", body

    def removal_request(self, remote_id: str, mode: str) -> tuple[str, str, dict[str, Any]] | str:
        """
        Archive: ``PUT /v1/opportunities/{id}/archived`` with an archive ``reason`` id (extra ``archive_reason_id``)
        ("Update opportunity archived state"). Lever's API has no opportunity delete.
        """
        if mode != "archive":
            return "Lever's API has no opportunity delete (archive only)"
        reason = str(self.connection.extra_dejson.get("archive_reason_id") or "").strip()
        if not reason:
            return f"connection '{self.ats_conn_id}' has no extra archive_reason_id (Lever needs an archive reason)"
        opportunity = remote_id.partition("/")[0]
        path = f"/v1/opportunities/{quote(opportunity, safe='')}/archived?perform_as={quote(self.perform_as, safe='')}"
        return "PUT", path, {"reason": reason}

    # -- the whole candidate ----------------------------------------------------------------------
    def as_user(self, path: str) -> str:
        """Return ``path`` made as the connection's Lever user (``perform_as``)."""
        return f"{path}?perform_as={quote(self.perform_as, safe='')}"

    def files_path(self, remote_id: str) -> str:
        return f"/v1/opportunities/{quote(remote_id.partition('/')[0], safe='')}/files"

    def job_create(self, path: str, payload: dict[str, Any], ats_job_id: str) -> tuple[str, dict[str, Any]]:
        return path, {**payload, "postings": [ats_job_id]}

    def unknown_job(self, exc: RefusedError) -> bool:
        return exc.status == 404 or (exc.status == 400 and "posting" in (exc.reason or "").lower())

    def cv_upload(self, remote_id: str, resume: Mapping[str, Any]) -> tuple[str, dict[str, str], str]:
        return self.as_user(self.files_path(remote_id)), {}, "file"

    def cv_id(self, answer: Any) -> str | None:
        return ((answer or {}).get("data") or {}).get("id") if isinstance(answer, dict) else None

    def files_request(self, remote_id: str) -> str:
        return self.files_path(remote_id)

    def file_names(self, answer: Any) -> dict[str, str]:
        files = (answer or {}).get("data") or [] if isinstance(answer, dict) else []
        return {str(f["name"]): str(f["id"]) for f in files if isinstance(f, dict) and f.get("id")}

    def cv_delete_request(self, remote_id: str, file_id: str) -> tuple[str, str]:
        return "DELETE", self.as_user(f"{self.files_path(remote_id)}/{quote(file_id, safe='')}")

    @classmethod
    def record_url(cls, remote_id: str) -> str | None:
        """Return the candidate's page in Lever: the opportunity's ``urls.show``."""
        opportunity = remote_id.removeprefix(f"{cls.name}:").partition("/")[0]
        return RECORD_URL.format(id=quote(opportunity, safe="")) if opportunity else None
