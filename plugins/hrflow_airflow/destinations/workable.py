"""
Workable: one candidate per ``POST /spi/v3/talent_pool/candidates`` (or ``/spi/v3/jobs/<shortcode>/candidates``),
looked up with ``GET /spi/v3/candidates?email=<email>``.

From Workable's public API reference (https://workable.readme.io/reference):
- API at ``https://<subdomain>.workable.com/spi/v3``; the access token in ``Authorization: Bearer``;
- create in the talent pool (https://workable.readme.io/reference/talent-pool-candidates-create, scope
  ``w_candidates``) or in a job; body ``{"sourced": true, "candidate": {name, firstname, lastname, email,
  phone, summary, ...}}`` (``sourced: false`` would send the "thank you for applying" email); 201 with
  ``{"candidate": {"id", ...}}``;
- ``PATCH /spi/v3/candidates/:id`` with ``{"candidate": {...}}`` updates the fields it carries
  (https://workable.readme.io/reference/candidates-update, scope ``w_candidates``; hrflow-connectors' Workable
  "update profiles" action uses it) and answers 200 with the candidate;
- ``GET /spi/v3/candidates?email=`` lists the candidates with that email (``{"candidates": [...]}``);
- limits (https://workable.readme.io/docs/rate-limits): 10 requests per 10 seconds for account tokens
  (50 for OAuth and partner tokens: set extra ``rate_limit`` to 50), in 10-second intervals; headers
  ``X-Rate-Limit-Limit``, ``X-Rate-Limit-Remaining``, ``X-Rate-Limit-Reset`` (time of the next interval);
  429 beyond.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hrflow_airflow.destinations.candidate_api import CandidateApiHook


class WorkableHook(CandidateApiHook):
    """Create Workable candidates. Connection: host = https://<subdomain>.workable.com, password = access token."""

    conn_type = "workable"
    hook_name = "Workable (ATS)"
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

    def body(self, record: Any) -> dict[str, Any]:
        candidate = super().body(record)
        if "name" not in candidate:  # Workable requires the full name
            full = " ".join(str(candidate[f]) for f in ("firstname", "lastname") if candidate.get(f))
            if full:
                candidate["name"] = full
        return {"sourced": True, "candidate": candidate}

    def create_request(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if self.job_shortcode:
            return f"/spi/v3/jobs/{quote(self.job_shortcode, safe='')}/candidates", body
        return "/spi/v3/talent_pool/candidates", body

    def created_id(self, answer: Any) -> str | None:
        return ((answer or {}).get("candidate") or {}).get("id")

    def lookup_request(self, email: str) -> tuple[str, dict[str, str]]:
        return "/spi/v3/candidates", {"email": email}

    def update_request(self, remote_id: str, body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        return "PATCH", f"/spi/v3/candidates/{quote(remote_id, safe='')}", {"candidate": body["candidate"]}

    def removal_request(self, remote_id: str, mode: str) -> tuple[str, str, dict[str, Any]] | str:
        """
        Archive: disqualify (``POST /spi/v3/candidates/:id/disqualify``, https://workable.readme.io/reference/
        disqualify-candidate, with the ``member_id`` the action is made as: extra ``member_id``). Workable's API
        documents no candidate delete.
        """
        if mode != "archive":
            return "Workable's API documents no candidate delete (archive disqualifies)"
        member = str(self.connection.extra_dejson.get("member_id") or "").strip()
        if not member:
            return f"connection '{self.ats_conn_id}' has no extra member_id (the Workable member who disqualifies)"
        body = {"member_id": member, "disqualification_reason": "Archived in HrFlow.ai"}
        return "POST", f"/spi/v3/candidates/{quote(remote_id, safe='')}/disqualify", body
