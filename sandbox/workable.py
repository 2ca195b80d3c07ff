"""
Workable emulator, written from the vendor's public API docs.

``/workable/...`` stands for ``https://<subdomain>.workable.com``.

- https://workable.readme.io/reference: ``Authorization: Bearer <token>``; ``POST
  /spi/v3/talent_pool/candidates`` and ``POST /spi/v3/jobs/<shortcode>/candidates`` with ``{"sourced": bool,
  "candidate": {name (required), firstname, lastname, email, phone, summary, ...}}`` -> 201 ``{"candidate":
  {id, ...}}``; ``PATCH /spi/v3/candidates/:id`` with ``{"candidate": {...}}`` updates the fields it carries
  -> 200 ``{"candidate": {...}}``, 404 for an unknown id (https://workable.readme.io/reference/candidates-update);
  ``GET /spi/v3/candidates?email=`` -> ``{"candidates": [...], "paging": {}}``; errors
  ``{"error": "..."}`` (422 for validation).
- The whole candidate: ``candidate.resume_url`` on a create or an update is a file of the candidate (Workable fetches
  it; kept here as the URL). A create on a job the account lacks is 404 ``{"error": "Not found"}`` (the answer
  its other job routes document, https://workable.readme.io/reference/copy-candidate); on a job it has, the
  candidate is that job's (one record per job). ``GET /spi/v3/custom_attributes`` lists the account's custom
  attributes ``{"custom_attributes": [{id, type, enabled, label}]}``; ``PATCH
  /spi/v3/candidates/:id/update_custom_attribute_value`` ``{custom_attribute_key, value | checked}`` sets one
  (https://workable.readme.io/reference/candidatesidupdate_custom_attribute_value): an unknown key is 404, a
  numeric attribute refuses a value that is not a number (422).
- Rate limits (https://workable.readme.io/docs/rate-limits): per token, 10-second intervals, 10 requests for
  account tokens and 50 for OAuth tokens; headers ``X-Rate-Limit-Limit``, ``X-Rate-Limit-Remaining``,
  ``X-Rate-Limit-Reset`` (Unix time of the next interval); 429 beyond.

Faults (5xx, a create applied whose answer is lost or replaced by a gateway's 502) come from the sandbox's generic
fault list, matched on these paths.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from sandbox.accounts import EMAIL, VendorAts, Vendors, Window, earlier, finish, read_json
from sandbox.vendor import Vendor

WORKABLE_TOKEN = "workable-sandbox-account-token"  # an account token: 10 requests / 10 s
WORKABLE_OAUTH_TOKEN = "workable-sandbox-oauth-token"  # an OAuth token: 50 requests / 10 s
WORKABLE_JOB = "GROOV001"
WORKABLE_MEMBER = "13e0eb0e"  # the member id disqualifications are made as
WORKABLE_LIMITS = {WORKABLE_TOKEN: 10, WORKABLE_OAUTH_TOKEN: 50}
WORKABLE_INTERVAL = 10.0


def serve(
    handler: Any, vendors: Vendors, method: str, route: str, query: dict[str, str], body: bytes, fault: Any
) -> None:
    """Answer one Workable request: the token and its rate limit first, then the route."""
    headers = _admit(handler, vendors, method, route)
    if headers is None:
        return None
    one = re.fullmatch(r"/spi/v3/candidates/([^/]+)", route)
    custom = re.fullmatch(r"/spi/v3/candidates/([^/]+)/update_custom_attribute_value", route)
    job = re.fullmatch(r"/spi/v3/jobs/([^/]+)/candidates", route)
    disqualify = re.fullmatch(r"/spi/v3/candidates/([^/]+)/disqualify", route)
    if method == "GET" and route == "/spi/v3/candidates":
        return _search(handler, vendors, query.get("email") or "", headers)
    if method == "GET" and one:
        return _show(handler, vendors, one.group(1), headers)
    if method == "GET" and route == "/spi/v3/custom_attributes":
        return _attributes(handler, vendors, headers)
    if method == "PATCH" and custom:
        return _set_attribute(handler, vendors, custom.group(1), read_json(body), headers, fault)
    if method == "POST" and (route == "/spi/v3/talent_pool/candidates" or job):
        return _create(handler, vendors, job.group(1) if job else None, read_json(body), headers, fault)
    if method == "POST" and disqualify:
        return _disqualify(handler, vendors, disqualify.group(1), read_json(body), headers, fault)
    if method == "PATCH" and one:
        return _update(handler, vendors, one.group(1), read_json(body), headers, fault)
    return handler._send(404, {"error": "Not found"}, headers)


def _admit(handler: Any, vendors: Vendors, method: str, route: str) -> dict[str, str] | None:
    """Count the request and take it from its token's window; return the rate headers, or None once refused."""
    account = vendors.workable
    token = handler.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token not in WORKABLE_LIMITS:
        handler._send(401, {"error": "Not authorized"})
        return None
    with vendors.lock:
        now = time.time()
        account.received_at.append(now)
        label = "/spi/v3/candidates/:id" + next((f"/{t}" for t in SUBROUTES if route.endswith(f"/{t}")), "")
        account.requests[f"{method} {label if route.startswith('/spi/v3/candidates/') else route}"] += 1
        window = account.windows.setdefault(token, Window(WORKABLE_LIMITS[token], WORKABLE_INTERVAL))
        allowed, remaining, reset = window.take(now)
        headers = {
            "X-Rate-Limit-Limit": str(window.limit),
            "X-Rate-Limit-Remaining": str(max(remaining, 0)),
            "X-Rate-Limit-Reset": str(int(reset)),
        }
        if not allowed:
            account.refused_for_rate += 1
    if not allowed:
        handler._send(429, {"error": "Rate limit exceeded"}, headers)
        return None
    return headers


def _search(handler: Any, vendors: Vendors, email: str, headers: dict) -> None:
    """``GET /spi/v3/candidates?email=``: the candidates with that email (search items carry no tags)."""
    account = vendors.workable
    with vendors.lock:
        found = account.by_email(email) if email else list(account.candidates.values())[:100]
        found = [{k: v for k, v in c.items() if k != "tags"} for c in found if account.searchable(c["id"])]
    return handler._send(200, {"candidates": found, "paging": {}}, headers)


def _show(handler: Any, vendors: Vendors, candidate_id: str, headers: dict) -> None:
    """``GET /spi/v3/candidates/:id`` (https://workable.readme.io/reference/job-candidates-show): tags, created_at."""
    with vendors.lock:
        stored = vendors.workable.candidates.get(candidate_id)
        answer = dict(stored) if stored is not None else None
    if answer is None:
        return handler._send(404, {"error": "Not found"}, headers)
    return handler._send(200, {"candidate": answer}, headers)


def _attributes(handler: Any, vendors: Vendors, headers: dict) -> None:
    """``GET /spi/v3/custom_attributes``: the account's custom attributes."""
    with vendors.lock:
        listed = [
            {"id": k, "type": ATTRIBUTE_TYPES[t], "enabled": True, "label": k.replace("_", " ").capitalize()}
            for k, t in vendors.workable.custom_fields.items()
        ]
    return handler._send(200, {"custom_attributes": listed}, headers)


def _create_refusal(data: Any) -> str | None:
    """Return why a create's body is refused (422), or None: name, or firstname and lastname, and email required
    (https://workable.readme.io/reference/talent-pool-candidates-create)."""
    candidate = data.get("candidate") if isinstance(data, dict) else None
    if not isinstance(candidate, dict):
        return "Validation failed: candidate is missing"
    if not candidate.get("name") and not (candidate.get("firstname") and candidate.get("lastname")):
        return "Validation failed: Name can't be blank"
    if not candidate.get("email"):
        return "Validation failed: Email can't be blank"
    if not EMAIL.fullmatch(str(candidate["email"])):
        return "Validation failed: Email is invalid"
    return None


def _create(handler: Any, vendors: Vendors, job: str | None, data: Any, headers: dict, fault: Any) -> None:
    """``POST /spi/v3/talent_pool/candidates`` or ``/spi/v3/jobs/<shortcode>/candidates``: 201 with the candidate."""
    account = vendors.workable
    with vendors.lock:
        known = job is None or job in account.jobs
    if not known:
        return handler._send(404, {"error": "Not found"}, headers)
    if (why := _create_refusal(data)) is not None:
        return handler._send(422, {"error": why}, headers)
    candidate = data["candidate"]
    with vendors.lock:
        created = {
            "id": uuid.uuid4().hex[:9],
            "name": candidate.get("name") or f"{candidate['firstname']} {candidate['lastname']}",
            "firstname": candidate.get("firstname"),
            "lastname": candidate.get("lastname"),
            "email": candidate.get("email"),
            "phone": candidate.get("phone"),
            "summary": candidate.get("summary"),
            "address": candidate.get("address"),
            "sourced": bool(data.get("sourced")),
            "job": {"shortcode": job} if job else None,
            "stage": "sourced",
            "tags": [str(t) for t in candidate.get("tags") or []],
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        account.candidates[created["id"]] = created
        account.made(created["id"])
        account.creates += 1
        if job:
            account.apply(created["id"], job)
        _keep_resume(account, created["id"], candidate)
    return finish(handler, 201, {"candidate": created}, headers, fault)


def _disqualify(handler: Any, vendors: Vendors, candidate_id: str, data: Any, headers: dict, fault: Any) -> None:
    """``POST /spi/v3/candidates/:id/disqualify`` (https://workable.readme.io/reference/disqualify-candidate)."""
    if not isinstance(data, dict) or not data.get("member_id"):
        return handler._send(422, {"error": "Validation failed: member_id is missing"}, headers)
    if "disqualification_reason" in data:  # deprecated for disqualify_reason_id and disqualify_note
        return handler._send(422, {"error": "disqualification_reason is deprecated: use disqualify_note"}, headers)
    if len(str(data.get("disqualify_note") or "")) > 256:
        return handler._send(422, {"error": "Validation failed: disqualify_note is too long"}, headers)
    with vendors.lock:
        stored = vendors.workable.candidates.get(candidate_id)
        if stored is None:
            return handler._send(404, {"error": "Not found"}, headers)
        stored.update(
            disqualified=True,
            disqualify_reason_id=data.get("disqualify_reason_id"),
            disqualify_note=data.get("disqualify_note"),
        )
        vendors.workable.removed[stored["id"]] = "archive"
    return finish(handler, 200, {}, headers, fault)


def _update(handler: Any, vendors: Vendors, candidate_id: str, data: Any, headers: dict, fault: Any) -> None:
    """``PATCH /spi/v3/candidates/:id`` (https://workable.readme.io/reference/update-candidate)."""
    account = vendors.workable
    candidate = data.get("candidate") if isinstance(data, dict) else None
    if not isinstance(candidate, dict):
        return handler._send(422, {"error": "Validation failed: candidate is missing"}, headers)
    if "email" in candidate and not EMAIL.fullmatch(str(candidate["email"])):
        return handler._send(422, {"error": "Validation failed: Email is invalid"}, headers)
    if unknown := sorted(set(candidate) - set(WORKABLE_UPDATABLE)):
        return handler._send(422, {"error": f"Validation failed: {', '.join(unknown)} cannot be updated"}, headers)
    with vendors.lock:
        stored = account.candidates.get(candidate_id)
        if stored is None:
            return handler._send(404, {"error": "Not found"}, headers)
        stored.update({k: v for k, v in candidate.items() if k in WORKABLE_UPDATABLE and k != "resume_url"})
        account.updates[candidate_id] += 1
        _keep_resume(account, stored["id"], candidate)
        answer = dict(stored)
    return finish(handler, 200, {"candidate": answer}, headers, fault)


WORKABLE_UPDATABLE = (
    "firstname", "lastname", "email", "headline", "summary", "address", "phone", "cover_letter", "resume",
    "resume_url", "tags",
)  # fmt: skip
SUBROUTES = ("disqualify", "update_custom_attribute_value")
ATTRIBUTE_TYPES = {"text": "short_text", "number": "numeric"}  # the account's definitions -> Workable's types


def _keep_resume(account: VendorAts, candidate_id: str, candidate: dict) -> None:
    """Keep the file a create or an update points to (``resume_url``), as Workable fetches it (under the lock)."""
    if url := candidate.get("resume_url"):
        account.add_file(candidate_id, str(url).rsplit("/", 1)[-1], url=str(url))


def _set_attribute(handler: Any, vendors: Vendors, candidate_id: str, data: Any, headers: dict, fault: Any) -> None:
    """Set one custom attribute of a candidate (``update_custom_attribute_value``)."""
    account = vendors.workable
    key = data.get("custom_attribute_key") if isinstance(data, dict) else None
    with vendors.lock:
        kind, exists = account.custom_fields.get(str(key)), candidate_id in account.candidates
    if not exists or kind is None:
        return handler._send(404, {"error": "Not found"}, headers)
    value = data.get("checked", data.get("value"))
    if kind == "number":
        try:
            float(str(value))
        except ValueError:
            return handler._send(422, {"error": f"Validation failed: {key} must be a number"}, headers)
    with vendors.lock:
        account.custom_values.setdefault(candidate_id, {})[str(key)] = value
    return finish(handler, 200, {}, headers, fault)


def workable_connection(base_url: str, *, oauth: bool = False, **extra: Any) -> dict[str, Any]:
    """Return an ``ats_default`` connection of type ``workable`` (an account token, or an OAuth one: 50/10 s)."""
    token = WORKABLE_OAUTH_TOKEN if oauth else WORKABLE_TOKEN
    return {
        "conn_type": "workable",
        "host": f"{base_url}/workable",
        "password": token,
        "extra": {"timeout": 5, **({"rate_limit": 50} if oauth else {}), **extra},
    }


def workable_stranger(vendors: Vendors, first: str, last: str, email: str) -> str:
    """Give the account a candidate of its own for ``email`` (a job application, a month old); return its id."""
    candidate = {
        "id": uuid.uuid4().hex[:9],
        "name": f"{first} {last}",
        "firstname": first,
        "lastname": last,
        "email": email,
        "tags": ["Applied"],
        "sourced": False,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(earlier())),
    }
    with vendors.lock:
        vendors.workable.candidates = {candidate["id"]: candidate, **vendors.workable.candidates}
        vendors.workable.strangers.add(candidate["id"])
    return candidate["id"]


VENDOR = Vendor(
    "workable",
    "/workable",
    serve,
    lambda: VendorAts("workable", interval=WORKABLE_INTERVAL, jobs={"job-1", "job-2", "job-3", WORKABLE_JOB}),
    workable_connection,
    "/workable/spi/v3/talent_pool/candidates",
    WORKABLE_TOKEN,
    # an OAuth token, 50 requests / 10 s (a short demo), and the member who disqualifies (archive)
    demo=lambda url: workable_connection(url, oauth=True, member_id=WORKABLE_MEMBER),
    fields=lambda i: {"firstname": f"F{i}", "lastname": f"L{i}", "email": f"c{i}@example.com"},
    removal="archive",
    unsupported="delete",
    update_route=("PATCH", "/workable/spi/v3/candidates/", None),
    remove_route=("POST", "/workable/spi/v3/candidates/", "member_id"),
    lookup_route=("GET", "/workable/spi/v3/candidates", None),
    stranger=workable_stranger,
)
