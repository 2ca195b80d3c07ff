"""
Ashby: one candidate per ``POST /candidate.create``, looked up with ``POST /candidate.search`` (by email).

From Ashby's public reference (https://developers.ashbyhq.com):
- the API is RPC style ("Introduction", https://developers.ashbyhq.com/reference/introduction): every endpoint is
  ``POST https://api.ashbyhq.com/<category>.<method>`` with a JSON body (``Content-Type: application/json``),
  reads included. The engine's reads (lookup, read by id) are sent here as such POSTs (:meth:`AshbyHook.request`);
- auth ("Authentication", https://developers.ashbyhq.com/reference/authentication): HTTP Basic, the API key as
  the user name and an empty password. No key is 401; a wrong or deactivated key is 403; a key without the
  endpoint's module permission (``candidatesRead``, ``candidatesWrite``) is 403 ``missing_endpoint_permission``.
  Each fails the run naming the connection (:class:`~hrflow_airflow.destinations.base.AtsAuthError`);
- answers ("Responses & Errors", https://developers.ashbyhq.com/docs/responses): ``{"success": true, "results"}``;
  "what would be 4XX errors will return 200 with success being false" and an ``errorInfo`` ``{code, message,
  requestId}`` (``errors``, a list of codes, is deprecated). A 200 with ``success: false`` is a refusal here:
  ``*_not_found`` codes stand for a 404, ``missing_endpoint_permission`` for the 403 above, others for a 400;
- create ("candidate.create", https://developers.ashbyhq.com/reference/candidatecreate): ``name`` (the first and
  last name, required), ``email``, ``phoneNumber``, ``linkedInUrl``, ``githubUrl``, ``website``,
  ``alternateEmailAddresses``, ``sourceId``, ``creditedToUserId``, ``location`` (``city``, ``region``,
  ``country``) and ``createdAt`` -> ``results``: the candidate (``id``, ``createdAt``, ``emailAddresses``,
  ``socialLinks``, ``tags``, ...). Ashby does **not** de-duplicate by email: a create sent twice is two candidates;
- find ("candidate.search", https://developers.ashbyhq.com/reference/candidatesearch): ``{"email"}`` -> at most
  100 candidates; read one ("candidate.info", https://developers.ashbyhq.com/reference/candidateinfo): ``{"id"}``;
- update ("candidate.update", https://developers.ashbyhq.com/reference/candidateupdate): ``candidateId`` and the
  fields it sets; ``sendNotifications`` defaults to true, so the sync sends false (no mail to subscribers per
  edit);
- erasure ("candidate.anonymize", https://developers.ashbyhq.com/docs/candidateanonymize): irreversible, and only
  when all of the candidate's applications are archived or hired (the sync's candidates have none). Ashby
  archives applications, not candidates: an archive is reported as unsupported;
- rate limits: Ashby publishes no number for these endpoints (only the reports API's 15 per minute,
  https://developers.ashbyhq.com/reference/reportgenerate); per-key limits exist and answer 429
  (https://developers.ashbyhq.com/changelog/2026-10-14-identify-integration-partner-rate-limit-responses), with no
  rate headers documented. Paced at 5 requests per second, 2 in flight (extra ``rate_limit``); a 429 waits for
  ``Retry-After``, else backs off.

**The whole candidate** (issue 47; the calls are in :mod:`.ashby_whole`):

- the CV, by Ashby's documented presigned upload ("file.createFileUploadHandle",
  https://developers.ashbyhq.com/reference/filecreatefileuploadhandle; the multipart mode of
  ``candidate.uploadResume`` is deprecated, https://developers.ashbyhq.com/changelog/2026-02-23-presigned-file-uploads):
  a handle (``fileUploadContext`` ``CandidateResume``, ``fileName``, ``contentType``, ``contentLength``) gives a
  presigned ``url`` and its form ``fields``; the file is streamed from HrFlow's URL to that URL as a multipart POST
  (every field returned, the file last as ``file``; no API key goes there), then ``candidate.uploadResume``
  ``{candidateId, resumeHandle}`` attaches it as the candidate's resume. After a lost answer ``candidate.info``
  tells (``resumeFileHandle``, ``fileHandles``: our file is known by its name). Ashby has no file delete (only
  ``file.info`` and ``file.createFileUploadHandle``): an erasure anonymizes the candidate;
- the jobs: ``application.create`` ``{candidateId, jobId}`` (https://developers.ashbyhq.com/docs/applicationcreate),
  one candidate with an application per job; a job Ashby does not know is ``job_not_found`` (a 404 here): counted,
  the candidate stays. ``application.list`` filters by job, not by candidate, and ``candidate.info`` gives
  application ids only: an application whose answer was lost stays *unknown* and is sent again once settled;
- custom fields: ``customField.list`` (the key needs ``hiringProcessMetadataRead``) names the candidate fields a
  field map may fill; values are set after the create and each update by ``customField.setValue`` ``{objectId,
  objectType: "Candidate", fieldId, fieldValue}`` (https://developers.ashbyhq.com/docs/customfieldsetvalue), the
  value shaped by the field's type (a String, a Number, ...) as the map gives it;
- the candidate's page: ``profileUrl`` appears only in third-party fixtures, not on the reference: none is given.

**The marker.** ``candidate.create`` takes no tags: tags are objects with ids (``candidateTag.create``), put on a
candidate by ``candidate.addTag`` after it exists, and custom fields by ``customField.setValue``: neither is set by
the create, so neither proves that a record found after a lost answer came from it. Of what the create itself
carries, ``sourceId`` and ``creditedToUserId`` are shared by every candidate of the sync and the email and name
are the person's (their own records share them); ``createdAt`` is settable by any client. The one field of the
create that can hold a value unique to the profile without touching the person's contact data is ``website``:
the create sets it to ``https://www.hrflow.ai/#hrflow-key:<key>``, which Ashby keeps and answers as a social link
(``socialLinks: [{"type": "Website", "url"}]``). A candidate is adopted only if one of its links carries the
marker of this profile and it was created no earlier than our first send (less 5 minutes of clock skew).
Limitations: the candidate's Website link holds the marker (a profile's own website is not sent); a recruiter
who edits that link before a lost answer is settled defeats the proof (the profile stays outcome unknown, then is
created again once settled); ``createdAt`` is what Ashby says, and Ashby lets any client set it; a candidate a
recruiter merges into another (Ashby's ``candidateMerge`` webhook event) lives on under the other's id, so the id
the ledger kept answers ``*_not_found``: its updates are refused and its erasure is reported as already done.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import requests

from hrflow_airflow.dates import read_datetime
from hrflow_airflow.destinations import PER_OBJECT
from hrflow_airflow.destinations.ashby_whole import AshbyWhole
from hrflow_airflow.destinations.candidate_api import CandidateApiHook
from hrflow_airflow.errors import RateLimitedError, RefusedError
from hrflow_airflow.forms import TIMEOUT, Form, rate_limit_field
from hrflow_airflow.hooks.json_api import REASON_LIMIT, json_body

MARKER_SITE = "https://www.hrflow.ai/"  # the marker rides in the fragment: the link opens HrFlow's site
PERMISSION = "missing_endpoint_permission"


class AshbyHook(AshbyWhole, CandidateApiHook):
    """
    Create Ashby candidates. Connection: host = https://api.ashbyhq.com, password = API key (with the
    ``candidatesRead`` and ``candidatesWrite`` permissions).
    """

    conn_type = "ashby"
    hook_name = "Ashby (ATS)"
    engine = PER_OBJECT
    form = Form(
        fields={
            "rate_limit": rate_limit_field(
                "Requests per second (empty: 5)",
                "Ashby publishes no rate limit for candidate endpoints; requests are paced at this rate.",
            ),
            "timeout": TIMEOUT,
        },
        hidden=("schema", "port", "login", "extra"),
        relabeling={
            "host": "API URL (empty: https://api.ashbyhq.com)",
            "password": "API key (sent as the Basic auth user name; candidatesRead and candidatesWrite)",
        },
        placeholders={"host": "https://api.ashbyhq.com", "password": "the API key"},
    )
    name = "ashby"
    default_host = "https://api.ashbyhq.com"
    rate_limit, rate_interval = 5, 1.0  # no published limit: a conservative pace, overridable (extra rate_limit)
    concurrency = 2
    lookup_concurrency = 1
    remaining_header = None  # no rate headers documented
    email_field = "email"
    cv_route = "upload"  # presigned: file.createFileUploadHandle, the storage's URL, candidate.uploadResume
    applies = True  # application.create, one per job
    custom_fields = True  # customField.list / customField.setValue
    profile_field_map = {
        "name": "info.full_name",  # Ashby has one name field: "the first and last name"
        "email": "info.email",
        "phoneNumber": "info.phone",
        "location.city": "info.location.fields.city",
        "location.region": "info.location.fields.state",
        "location.country": "info.location.fields.country",
    }

    def auth_headers(self, secret: str) -> dict[str, str]:
        basic = base64.b64encode(f"{secret}:".encode()).decode("ascii")  # the key as user name, no password
        return {"Authorization": f"Basic {basic}"}

    # -- RPC over POST, and its answers ------------------------------------------------------------
    def request(self, method: str, path: str, *, safe_to_repeat: bool = True, **kwargs: Any) -> requests.Response:
        """
        Send one RPC call: a read the engine asks as ``GET path?params`` is ``POST path`` with the params as its
        JSON body. A 200 with ``success: false`` raises as the 4xx it stands for.
        """
        if method == "GET":  # its query (in the path, or params) is the call's JSON body
            path, _, query = path.partition("?")
            params = {**dict(parse_qsl(query)), **(kwargs.pop("params", None) or {})}
            method, kwargs = "POST", {**kwargs, "json": params}
        response = super().request(method, path, safe_to_repeat=safe_to_repeat, **kwargs)
        answer = json_body(response)
        if isinstance(answer, dict) and answer.get("success") is False:
            raise self.refused(answer)
        return response

    def refused(self, answer: Mapping[str, Any]) -> RefusedError | RateLimitedError:
        """Return the error for an answer with ``success: false``, named by its ``errorInfo.code``."""
        code, why = error_code(answer), explain(answer)
        if code == PERMISSION:
            return self.auth_error(
                f"{self.target} refused the API key ({why}); give it the candidatesRead and candidatesWrite "
                f"permissions, or check connection '{self.conn_id}'",
                403,
                why,
            )
        if code == "rate_limit_exceeded":
            return RateLimitedError(f"{self.target}: {why}")
        status = 404 if code.endswith("_not_found") else 400  # "what would be 4XX errors"
        return RefusedError(f"{self.target} refused the request: {why}", status, why, dict(answer))

    def reason(self, response: requests.Response) -> str:
        answer = json_body(response)
        if isinstance(answer, dict) and (answer.get("errorInfo") or answer.get("errors")):
            return explain(answer)
        return super().reason(response)

    # -- create, marker and lookup -----------------------------------------------------------------
    def create_request(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "/candidate.create", body

    def created_id(self, answer: Any) -> str | None:
        return ((answer or {}).get("results") or {}).get("id")

    def refusal_before_send(self, record: Mapping[str, Any]) -> str | None:
        if not str(record.get("name") or "").strip():
            return "Ashby requires name (the candidate's first and last name)"
        return None

    def marker_url(self, key: str) -> str:
        return f"{MARKER_SITE}#{self.marker(key)}"

    def mark(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
        # candidate.create takes no tags: the marker is the create's own website (see the module docstring)
        return {**payload, "website": self.marker_url(key)}

    def tags_of(self, found: Mapping[str, Any]) -> list[str]:
        """Return the markers the candidate's links carry, and its tags' titles."""
        links = [str(link.get("url") or "") for link in found.get("socialLinks") or [] if isinstance(link, dict)]
        markers = [unquote(urlsplit(url).fragment) for url in links if "#" in url]
        titles = [str(t.get("title", "")) for t in found.get("tags") or [] if isinstance(t, dict)]
        return [m for m in markers if m] + titles

    def lookup_request(self, email: str, since: datetime | None = None) -> tuple[str, dict[str, str]]:
        return "/candidate.search", {"email": email}  # no date filter: the creation time is checked on each

    def listed(self, answer: Any) -> list[dict[str, Any]]:
        return [c for c in (answer or {}).get("results") or [] if isinstance(c, dict)]

    def emails_of(self, found: Mapping[str, Any]) -> list[str]:
        emails = [e.get("value") for e in found.get("emailAddresses") or [] if isinstance(e, dict)]
        primary = found.get("primaryEmailAddress")
        return [str(e) for e in [*emails, primary.get("value") if isinstance(primary, dict) else None] if e]

    def created_of(self, found: Mapping[str, Any]) -> datetime | None:
        return read_datetime(found.get("createdAt"))

    def read_request(self, remote_id: str) -> tuple[str, dict[str, str]]:
        return "/candidate.info", {"id": remote_id}

    def read(self, remote_id: str) -> dict[str, Any] | None:
        found = super().read(remote_id)
        return found.get("results") if isinstance(found, dict) and "results" in found else found

    # -- update and removal ---------------------------------------------------------------------------
    def update_request(self, remote_id: str, body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        return "POST", "/candidate.update", {"candidateId": remote_id, **body, "sendNotifications": False}

    def removal_request(self, remote_id: str, mode: str) -> tuple[str, str, dict[str, Any]] | str:
        if mode != "delete":
            return "Ashby archives applications, not candidates, and the sync's candidates have no application"
        return "POST", "/candidate.anonymize", {"candidateId": remote_id}  # irreversible: erasure


def error_code(answer: Mapping[str, Any]) -> str:
    """Return the answer's error code: ``errorInfo.code``, else the first of the deprecated ``errors``."""
    info = answer.get("errorInfo")
    if isinstance(info, dict) and info.get("code"):
        return str(info["code"])
    errors = answer.get("errors")
    return str(errors[0]) if isinstance(errors, list) and errors else ""


def explain(answer: Mapping[str, Any]) -> str:
    """Return ``code: message`` of an error answer, short (Ashby's messages name fields, not their values)."""
    info = answer.get("errorInfo") if isinstance(answer.get("errorInfo"), dict) else {}
    code, message = error_code(answer), str(info.get("message") or "")
    parts = [code] + ([message] if message and message != code else [])
    return (": ".join(p for p in parts if p) or "refused")[:REASON_LIMIT]
