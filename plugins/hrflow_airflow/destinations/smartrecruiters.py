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
- ``GET /candidates?q=`` searches candidates by keyword (email included) and answers ``{content: [...]}``;
- limits (https://developers.smartrecruiters.com/docs/rate-limiting): 10 requests per second and 8 concurrent
  requests per credential, ``GET /candidates`` one at a time; headers ``X-RateLimit-Limit`` /
  ``X-RateLimit-Remaining`` (and ``X-RateLimit-Concurrent-*``); 429 when exceeded.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from hrflow_airflow.destinations.candidate_api import CandidateApiHook


class SmartRecruitersHook(CandidateApiHook):
    """Create SmartRecruiters candidates. Connection: password = API key; host empty = the public API."""

    conn_type = "smartrecruiters"
    hook_name = "SmartRecruiters (ATS)"
    name = "smartrecruiters"
    default_host = "https://api.smartrecruiters.com"
    rate_limit, rate_interval = 10, 1.0
    concurrency = 8
    lookup_concurrency = 1
    remaining_header = "X-RateLimit-Remaining"
    reset_header = None  # one-second windows
    email_field = "email"
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

    def lookup_request(self, email: str) -> tuple[str, dict[str, str]]:
        return "/candidates", {"q": email}

    def update_request(self, remote_id: str, body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        return "PATCH", f"/candidates/{quote(remote_id, safe='')}", body

    def removal_request(self, remote_id: str, mode: str) -> tuple[str, str, None] | str:
        # DELETE /candidates/{id} (Candidate API, https://dev.smartrecruiters.com/customer-api/live-docs/candidate-api/)
        if mode != "delete":
            return "SmartRecruiters' API has no candidate archive (delete only)"
        return "DELETE", f"/candidates/{quote(remote_id, safe='')}", None
