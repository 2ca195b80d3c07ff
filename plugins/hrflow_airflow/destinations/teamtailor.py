"""
Teamtailor: one candidate per ``POST /v1/candidates`` (JSON:API), looked up with ``filter[email]``.

From Teamtailor's public reference (https://docs.teamtailor.com):
- auth: ``Authorization: Token token=<API key>`` (writes need an Admin-scope key); ``X-Api-Version`` on every
  request (extra ``api_version``, default 20240404; a missing or unknown version is 406). Hosts:
  ``https://api.teamtailor.com`` (EU) and ``https://api.na.teamtailor.com`` (North America);
- writes send ``Content-Type: application/vnd.api+json``;
- create: ``{"data": {"type": "candidates", "attributes": {"first-name", "last-name", "email", "phone"}}}`` ->
  201 ``{"data": {"id": "<string>", ...}}``;
- the email is unique: a create with a taken email is 422 ``has already been taken`` unless ``"merge": true``
  merges into the existing candidate. **We do not send ``merge``**: merging would overwrite a candidate a
  recruiter may have edited, on every lost answer, and hide that the person was already there. A 422 on the
  email is read as "it exists": the engine looks it up by email and adopts it (ours after a lost answer, or
  a candidate the company already had), so neither a lost answer nor a retry fails the run;
- find: ``GET /v1/candidates?filter[email]=`` (pages: ``page[size]`` at most 30, ``page[number]``,
  ``links.next``); update: ``PATCH /v1/candidates/{id}`` with ``{"data": {"id", "type", "attributes"}}``;
- rate limits: ``X-Rate-Limit-Limit``, ``X-Rate-Limit-Remaining``, ``X-Rate-Limit-Reset`` on each answer; paced
  from them (50 per 10 s until the first answer states the limit);
- errors: JSON:API ``{"errors": [{"status", "detail", "source": {"pointer"}}]}``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from hrflow_airflow.destinations.candidate_api import CandidateApiHook
from hrflow_airflow.errors import BadConfigError, RefusedError

DEFAULT_API_VERSION = "20240404"
JSONAPI = "application/vnd.api+json"


class TeamtailorHook(CandidateApiHook):
    """
    Create Teamtailor candidates. Connection: host = https://api.teamtailor.com (https://api.na.teamtailor.com in
    North America), password = Admin-scope API key, extra ``api_version``.
    """

    conn_type = "teamtailor"
    hook_name = "Teamtailor (ATS)"
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
        return {"Authorization": f"Token token={secret}", "X-Api-Version": version, "Content-Type": JSONAPI}

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

    def body(self, record: Any) -> dict[str, Any]:
        return {"data": {"type": "candidates", "attributes": super().body(record)}}

    def create_request(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "/v1/candidates", body

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

    def lookup_request(self, email: str) -> tuple[str, dict[str, str]]:
        return "/v1/candidates", {"filter[email]": email, "page[size]": "30"}

    def found_id(self, answer: Any, email: str) -> str | None:
        for candidate in (answer or {}).get("data") or []:
            if str((candidate.get("attributes") or {}).get("email", "")).casefold() == email.casefold():
                return candidate.get("id")
        return None

    def update_request(self, remote_id: str, body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        resource = {"id": remote_id, "type": "candidates", "attributes": body["data"]["attributes"]}
        return "PATCH", f"/v1/candidates/{quote(remote_id, safe='')}", {"data": resource}

    def removal_request(self, remote_id: str, mode: str) -> tuple[str, str, None] | str:
        # DELETE /v1/candidates/{id}; Teamtailor has no candidate archive in its API
        if mode != "delete":
            return "Teamtailor's API has no candidate archive (delete only)"
        return "DELETE", f"/v1/candidates/{quote(remote_id, safe='')}", None
