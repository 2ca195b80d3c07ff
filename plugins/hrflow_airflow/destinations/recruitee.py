"""
Recruitee (the ATS API, not the careers-site API): one candidate per ``POST /c/{company_id}/candidates``, looked up
with ``GET /c/{company_id}/search/new/candidates``.

From Recruitee's public reference (https://docs.recruitee.com/reference, the full one at
https://apidocs.recruitee.com):
- auth ("Getting started", https://docs.recruitee.com/reference/getting-started): ``Authorization: Bearer <personal
  API token>``; a token is per user and per company, with that user's permissions. Every path starts with the
  company: ``/c/{company_id}``, where "a company subdomain can also be used" (connection extra ``company_id``,
  required). Host ``https://api.recruitee.com``;
- create ("Manually add candidate", https://docs.recruitee.com/reference/candidates-post): ``{"candidate": {name,
  emails, phones, sources, remote_cv_url, ...}, "offers": [ids]}`` ("Offers to which the candidate will be
  assigned with default stage"; extra ``offers``); the candidate is added as if by hand (no confirmation email).
  The candidate object it documents (hrflow-connectors' Recruitee schema, Riminder/hrflow-connectors
  ``v2/connectors/recruitee/schemas.py``, lists the same: name, remote_cv_url, emails, phones, social_links, links,
  cover_letter, sources) has **no ``tags``**: tags go on an existing candidate by another request, which a lost
  answer would leave undone. So the marker ``hrflow-key:<key>`` is a **source tag** (``sources``), set by the
  create itself, beside our source ``HrFlow.ai``. Answer ``{"candidate": {"id", ...}}``;
- no unique email: the reference documents no refusal for a known email, so a create sent twice is two
  candidates. After a lost answer the ledger's intent makes the engine look up before anything is created again;
- find ("Search candidates", https://docs.recruitee.com/reference/searchnewcandidates): ``filters_json``, a JSON
  array: ``{"field": "all", "query": <email>}`` (free text) and ``{"field": "created_at", "gte": <Unix s>}``;
  ``limit`` (60 by default, at most 10 000). It is a search index: treated as lagging behind creates.
  ``GET /c/{company_id}/candidates?query=`` is not used: its ``query`` searches "candidate's name or offer", not
  emails, and the reference advises the search endpoint. Which fields a hit carries is not documented, so each
  hit with the email is read (``GET /c/{company_id}/candidates/{id}``, its ``sources``, ``tags``, ``created_at``)
  before it is adopted; only one carrying our marker, created no earlier than our send, is ours;
- update: ``PATCH /c/{company_id}/candidates/{id}`` with ``{"candidate": {...}}``; list fields (``emails``,
  ``phones``) replace the candidate's lists;
- removal: ``DELETE /c/{company_id}/candidates/{id}`` (hrflow-connectors' Recruitee archive does the same). A
  candidate has no archive in the API (it is disqualified per job): an archive is reported, not done;
- rate limits: the reference states none and names no rate headers. Requests are paced at 5 per second, 2 in flight
  (extra ``rate_limit`` changes the rate); a 429 waits for ``Retry-After`` if sent, else backs off;
- errors: the shape is not documented; the client reads ``{"error": ["<message>", ...]}`` (what the emulator
  assumes) and the usual ``message`` / ``errors`` shapes;
- the whole candidate (issue 47): the CV's ``public_url`` is the candidate's ``remote_cv_url`` (Recruitee fetches
  it), in the create and in an update whose file changed. The field is the careers-site API's documented one
  (https://career.recruitee.com/docs/index.html); for the ATS API it is what hrflow-connectors' Recruitee
  connector sends (``v2/connectors/recruitee``), not checked on the reference page. One candidate has many
  placements (a placement: the candidate on one offer): each job applied to is ``POST /c/{company_id}/placements``
  ``{candidate_id, offer_id}`` (the ``recruitee`` gem's Placements resource; usefulapi's Recruitee tools), at the
  offer's first stage; the candidate's ``placements`` (``GET /c/{company_id}/candidates/{id}``) list them after a
  lost answer. An offer the company lacks: 404, the candidate stays, the job is counted. A profile without an
  application is assigned to the extra ``offers`` as before; one with applications goes to its own jobs only.
  Custom fields: the write is documented (``POST /c/{company_id}/custom_fields/candidates/{id}/fields``,
  https://docs.recruitee.com/reference/custom_fieldscandidatesidfields-post), a listing of the company's fields
  is not, so a field map's targets could not be checked before a run: not supported. No CV delete is
  documented: an erasure deletes the candidate, and its files with it. No page URL of a candidate is documented:
  :meth:`record_url` gives None.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from hrflow_airflow.candidate import APPLICATIONS, RESUME
from hrflow_airflow.dates import read_datetime
from hrflow_airflow.destinations import PER_OBJECT
from hrflow_airflow.destinations.candidate_api import CandidateApiHook
from hrflow_airflow.destinations.records import CLOCK_SKEW
from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.forms import TIMEOUT, Form, extra_field, rate_limit_field
from hrflow_airflow.hooks.json_api import REASON_LIMIT, json_body

SOURCE = "HrFlow.ai"  # our source tag: shared by every candidate we make, so it proves nothing alone


class RecruiteeHook(CandidateApiHook):
    """
    Create Recruitee candidates. Connection: host = https://api.recruitee.com, password = personal API token,
    extra ``company_id`` (the company id or subdomain), ``offers`` (optional).
    """

    conn_type = "recruitee"
    hook_name = "Recruitee (ATS)"
    engine = PER_OBJECT
    form = Form(
        fields={
            "company_id": extra_field(
                "Company id or subdomain (required)",
                description="Settings > Apps and plugins > Personal API tokens shows it; the token is per company.",
                placeholder="12345",
            ),
            "offers": extra_field(
                "Job or talent pool ids to assign new candidates to (comma-separated; empty: none)",
                description="Each new candidate is assigned to these offers, at their default stage.",
            ),
            "rate_limit": rate_limit_field(
                "Requests per second (empty: 5)",
                "Recruitee documents no rate limit: 5 per second is a conservative default.",
            ),
            "timeout": TIMEOUT,
        },
        hidden=("schema", "port", "login", "extra"),
        relabeling={
            "host": "API URL (empty: https://api.recruitee.com)",
            "password": "Personal API token (sent as Bearer)",
        },
        placeholders={"host": "https://api.recruitee.com", "password": "the API token"},
    )
    name = "recruitee"
    default_host = "https://api.recruitee.com"
    rate_limit, rate_interval = 5, 1.0  # not documented: conservative
    concurrency = 2
    lookup_concurrency = 1
    remaining_header = None  # no rate headers documented
    lookup_results = "hits"
    email_field = "email"
    profile_field_map = {"name": "info.full_name", "email": "info.email", "phone": "info.phone"}

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}

    @property
    def company(self) -> str:
        """Return the ``/c/{company_id}`` path of the connection's company (extra ``company_id``, required)."""
        company = str(self.connection.extra_dejson.get("company_id") or "").strip()
        if not company:
            raise BadConfigError(
                f"Connection '{self.ats_conn_id}' has no extra company_id: Recruitee's paths name the company; set "
                "it to the company id or subdomain"
            )
        return f"/c/{quote(company, safe='')}"

    @property
    def offers(self) -> list[int]:
        """Return the offer ids new candidates are assigned to (extra ``offers``: a list or comma-separated)."""
        raw = self.connection.extra_dejson.get("offers")
        items = raw if isinstance(raw, list) else str(raw or "").split(",")
        try:
            return [int(str(item).strip()) for item in items if str(item).strip()]
        except ValueError:
            raise BadConfigError(
                f"Connection '{self.ats_conn_id}' extra 'offers' must be offer ids (integers), comma-separated"
            ) from None

    def reason(self, response: requests.Response) -> str:
        data = json_body(response)
        errors = data.get("error") if isinstance(data, dict) else None
        if isinstance(errors, list) and errors:
            return "; ".join(str(e) for e in errors)[:REASON_LIMIT]
        return super().reason(response)

    cv_route = "body"
    applies = True

    def body(self, record: Any) -> dict[str, Any]:
        fields = super().body(record)
        candidate = {k: v for k, v in fields.items() if k not in ("email", "phone")}
        if fields.get("email"):
            candidate["emails"] = [fields["email"]]
        if fields.get("phone"):
            candidate["phones"] = [fields["phone"]]
        if resume := record.get(RESUME):
            candidate["remote_cv_url"] = resume["url"]  # Recruitee fetches HrFlow's public_url
        return {"candidate": candidate}

    def create_call(self, record: Mapping[str, Any], *, on_job: bool = True) -> tuple[str, dict[str, Any]]:
        path, payload = super().create_call(record, on_job=on_job)
        if record.get(APPLICATIONS):  # it goes to the jobs it applied to (placements), not the default offers
            payload = {k: v for k, v in payload.items() if k != "offers"}
        return path, payload

    # -- the jobs ---------------------------------------------------------------------------------
    def apply_request(self, remote_id: str, ats_job_id: str) -> tuple[str, str, dict[str, Any]]:
        offer: int | str = int(ats_job_id) if ats_job_id.isdigit() else ats_job_id  # offer ids are integers
        candidate: int | str = int(remote_id) if remote_id.isdigit() else remote_id  # the preview's: a placeholder
        return "POST", f"{self.company}/placements", {"candidate_id": candidate, "offer_id": offer}

    def applied_id(self, answer: Any) -> str | None:
        found = ((answer or {}).get("placement") or {}).get("id") if isinstance(answer, dict) else None
        return str(found) if found is not None else None

    def applications_request(self, remote_id: str) -> str:
        return self.detail_request(remote_id)  # the candidate carries its placements

    def applied_jobs(self, answer: Any) -> dict[str, str]:
        placements = ((answer or {}).get("candidate") or {}).get("placements") or []
        return {str(p["offer_id"]): str(p.get("id")) for p in placements if isinstance(p, dict) and p.get("offer_id")}

    @classmethod
    def record_url(cls, remote_id: str) -> str | None:
        return None  # Recruitee documents no page URL of a candidate

    def refusal_before_send(self, record: Mapping[str, Any]) -> str | None:
        if not str(record.get("name") or "").strip():
            return "Recruitee requires a candidate name (the record's 'name' is empty)"
        return None

    def create_request(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        candidate = {**body["candidate"], "sources": [*body["candidate"].get("sources", []), SOURCE]}
        payload: dict[str, Any] = {"candidate": candidate}
        if offers := self.offers:
            payload["offers"] = offers
        return f"{self.company}/candidates", payload

    def mark(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
        candidate = payload["candidate"]  # a source tag: the create takes sources, not tags
        return {**payload, "candidate": {**candidate, "sources": [*candidate.get("sources", []), self.marker(key)]}}

    def created_id(self, answer: Any) -> str | None:
        found = ((answer or {}).get("candidate") or {}).get("id")
        return str(found) if found is not None else None

    def lookup_request(self, email: str, since: datetime | None = None) -> tuple[str, dict[str, str]]:
        filters: list[dict[str, Any]] = [{"field": "all", "query": email}]
        if since is not None:
            filters.append({"field": "created_at", "gte": int((since - CLOCK_SKEW).timestamp())})
        return f"{self.company}/search/new/candidates", {"filters_json": json.dumps(filters), "limit": "60"}

    def detail_request(self, remote_id: str) -> str:
        return f"{self.company}/candidates/{quote(str(remote_id), safe='')}"  # "Get candidate": sources, tags

    def emails_of(self, found: Mapping[str, Any]) -> list[str]:
        return [str(e) for e in found.get("emails") or []]

    def tags_of(self, found: Mapping[str, Any]) -> list[str]:
        candidate = found.get("candidate") or found  # the detail's envelope
        return super().tags_of({"tags": [*(candidate.get("sources") or []), *(candidate.get("tags") or [])]})

    def created_of(self, found: Mapping[str, Any]) -> datetime | None:
        return read_datetime((found.get("candidate") or found).get("created_at"))

    def update_request(self, remote_id: str, body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        return "PATCH", self.detail_request(remote_id), body

    def removal_request(self, remote_id: str, mode: str) -> tuple[str, str, None] | str:
        if mode != "delete":
            return "Recruitee's API has no candidate archive (a candidate is disqualified per job): delete only"
        return "DELETE", self.detail_request(remote_id), None
