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
from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.forms import TIMEOUT, Form, extra_field, rate_limit_field

SOURCE = "HrFlow.ai"
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
