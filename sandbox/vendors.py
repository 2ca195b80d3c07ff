"""
SmartRecruiters and Workable emulators, written from the vendors' public API docs.

SmartRecruiters (``/smartrecruiters/...`` stands for ``https://api.smartrecruiters.com``):
- Candidate API (https://dev.smartrecruiters.com/customer-api/live-docs/candidate-api/): header
  ``X-SmartToken``; ``POST /candidates`` with ``firstName``, ``lastName`` and ``email`` required -> 201
  ``{id, ...}``; ``PATCH /candidates/{id}`` updates the personal information it carries -> 200, 404 for an
  unknown id (https://developers.smartrecruiters.com/reference/candidatespatch-1); ``GET /candidates?q=`` keyword
  search -> ``{totalFound, offset, limit, content: [...]}``;
  errors ``{message, errors: [{code, message}]}``.
- Rate limiting (https://developers.smartrecruiters.com/docs/rate-limiting): 10 requests per second and 8
  concurrent requests per credential, ``GET /candidates`` one at a time; every answer carries
  ``X-RateLimit-Limit``/``X-RateLimit-Remaining`` and ``X-RateLimit-Concurrent-Limit``/``-Remaining``;
  429 beyond.

Workable (``/workable/...`` stands for ``https://<subdomain>.workable.com``):
- https://workable.readme.io/reference: ``Authorization: Bearer <token>``; ``POST
  /spi/v3/talent_pool/candidates`` and ``POST /spi/v3/jobs/<shortcode>/candidates`` with ``{"sourced": bool,
  "candidate": {name (required), firstname, lastname, email, phone, summary, ...}}`` -> 201 ``{"candidate":
  {id, ...}}``; ``PATCH /spi/v3/candidates/:id`` with ``{"candidate": {...}}`` updates the fields it carries
  -> 200 ``{"candidate": {...}}``, 404 for an unknown id (https://workable.readme.io/reference/candidates-update);
  ``GET /spi/v3/candidates?email=`` -> ``{"candidates": [...], "paging": {}}``; errors
  ``{"error": "..."}`` (422 for validation).
- Rate limits (https://workable.readme.io/docs/rate-limits): per token, 10-second intervals, 10 requests for
  account tokens and 50 for OAuth tokens; headers ``X-Rate-Limit-Limit``, ``X-Rate-Limit-Remaining``,
  ``X-Rate-Limit-Reset`` (Unix time of the next interval); 429 beyond.

Faults (5xx, a create applied whose answer is lost or replaced by a gateway's 502) come from the sandbox's generic
fault list, matched on these paths.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from sandbox.vendor import Vendor

SMARTRECRUITERS_TOKEN = "smartrecruiters-sandbox-key"
WORKABLE_TOKEN = "workable-sandbox-account-token"  # an account token: 10 requests / 10 s
WORKABLE_OAUTH_TOKEN = "workable-sandbox-oauth-token"  # an OAuth token: 50 requests / 10 s
WORKABLE_JOB = "GROOV001"
WORKABLE_MEMBER = "13e0eb0e"  # the member id disqualifications are made as
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass
class Window:
    """A fixed rate-limit interval aligned on the clock: ``limit`` requests per ``interval`` seconds."""

    limit: int
    interval: float
    start: float = 0.0
    used: int = 0

    def take(self, now: float) -> tuple[bool, int, float]:
        """Count one request; return (allowed, remaining, reset time)."""
        start = now - now % self.interval
        if start != self.start:
            self.start, self.used = start, 0
        allowed = self.used < self.limit
        if allowed:
            self.used += 1
        return allowed, self.limit - self.used, start + self.interval


@dataclass
class VendorAts:
    """One emulated ATS account: its candidates and what its rate limiter saw."""

    name: str
    interval: float = 1.0  # the rate-limit window, for max_per_window
    email_of: Any = None  # candidate -> its email, where the vendor keeps it elsewhere than "email"
    candidates: dict[str, dict] = field(default_factory=dict)
    creates: int = 0
    updates: Counter = field(default_factory=Counter)  # candidate id -> updates applied
    removed: dict = field(default_factory=dict)  # candidate id -> "delete" | "archive" (what the API did to it)
    requests: Counter = field(default_factory=Counter)  # "POST /candidates" -> n
    refused_for_rate: int = 0
    windows: dict[str, Window] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    lookups_in_flight: int = 0
    recent: deque = field(default_factory=deque)  # a rolling window's requests (Greenhouse), a bucket's (Lever)
    received_at: list = field(default_factory=list)  # time.time() of every request (rate checks)
    # search indexes refresh after a write: a lookup sees a record this many seconds after its create (set per
    # vendor by the contract suite and the tests; "not found" right after a lost answer is not "not created")
    lookup_lag: float = 0.0
    made_at: dict = field(default_factory=dict)  # candidate id -> time.time() of its create
    strangers: set = field(default_factory=set)  # ids of records the account held before the sync (not ours)

    def made(self, candidate_id: str) -> None:
        """Record that candidate ``candidate_id`` was created now (its lookups wait for ``lookup_lag``)."""
        self.made_at[str(candidate_id)] = time.time()

    def catch_up(self, seconds: float) -> None:
        """Let the search index catch up by ``seconds`` (an injected clock: a test need not wait out the lag)."""
        self.made_at = {key: at - seconds for key, at in self.made_at.items()}

    def searchable(self, candidate_id: str) -> bool:
        """Return True once the search index shows candidate ``candidate_id``."""
        return time.time() - self.made_at.get(str(candidate_id), 0.0) >= self.lookup_lag

    def email(self, candidate: dict) -> str:
        return str((self.email_of(candidate) if self.email_of else candidate.get("email")) or "")

    def by_email(self, email: str) -> list[dict]:
        return [c for c in self.candidates.values() if self.email(c).casefold() == email.casefold()]

    def max_per_window(self, interval: float) -> int:
        """Return the most requests received in one fixed rate-limit interval."""
        counts = Counter(int(at // interval) for at in self.received_at)
        return max(counts.values(), default=0)

    def duplicates(self) -> list[str]:
        """Return the emails (or names, without an email) held by more than one of the sync's candidates."""
        seen = Counter(
            (self.email(c) or str(c.get("name") or c.get("firstName"))).casefold()
            for c in self.candidates.values()
            if str(c.get("id")) not in self.strangers
        )
        return sorted(k for k, n in seen.items() if n > 1)


class Vendors:
    """
    The emulated vendor accounts, guarded by one lock: one per emulator of the registry (``sandbox/registry.py``),
    as ``vendors.<name>`` (Greenhouse, Lever and Teamtailor: their own modules), and what some keep besides.
    """

    def __init__(self) -> None:
        from sandbox.registry import VENDORS  # the registry imports the emulators, which import this module

        self.lock = threading.Lock()
        self.names = tuple(vendor.name for vendor in VENDORS)
        for vendor in VENDORS:
            setattr(self, vendor.name, vendor.account())
        self.greenhouse_token_life = 3600.0  # seconds an access token lives (tests shorten it)
        self.greenhouse_scopes = {  # the scopes of the sandbox's Greenhouse credential (tests remove some)
            f"harvest:candidates:{a}" for a in ("list", "show", "create", "update", "destroy")
        }
        self.tokens: dict[str, float] = {}  # Greenhouse access token -> when it expires (time.time())
        self.lever_contacts: dict[str, dict] = {}  # Lever contact id -> contact
        self.lever_bucket = {"tokens": 20.0, "at": 0.0}  # Lever's token bucket for the sandbox key

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                v.name: {
                    "candidates": len(v.candidates),
                    "creates": v.creates,
                    "updates": sum(v.updates.values()),
                    "refused_for_rate": v.refused_for_rate,
                    "duplicates": v.duplicates(),
                    "max_in_flight": v.max_in_flight,
                    "max_per_window": v.max_per_window(v.interval),
                    "requests": dict(v.requests),
                }
                for v in (getattr(self, name) for name in self.names)
            }


def _first_value(field_name: str) -> Any:
    def email(candidate: dict) -> str:
        return next((str(e.get("value")) for e in candidate.get(field_name) or [] if isinstance(e, dict)), "")

    return email


def serve(
    handler: Any,
    vendors: Vendors,
    method: str,
    path: str,
    query: dict[str, str],
    body: bytes,
    fault: Any,
    latency: float = 0.0,
) -> None:
    """Answer one request under ``/smartrecruiters`` or ``/workable``, taking ``latency`` seconds to answer.

    The latency is spent once the request counts as in flight, as a real vendor's answer time is: the concurrency
    limits then hold across the whole answer, not across microseconds.
    """
    if path.startswith("/smartrecruiters/"):
        route = path[len("/smartrecruiters") :]
        return _smartrecruiters(handler, vendors, method, route, query, body, fault, latency)
    if latency:
        time.sleep(latency)
    return _workable(handler, vendors, method, path[len("/workable") :], query, body, fault)


def read_json(body: bytes) -> Any:
    import json

    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def finish(handler: Any, status: int, payload: Any, headers: dict[str, str], fault: Any) -> None:
    """Answer a request that was applied, unless a fault drops the answer or a gateway's 5xx replaces it."""
    if not handler._after_apply(fault):
        handler._send(status, payload, headers)


# -- SmartRecruiters --------------------------------------------------------------------------------
SR_LIMIT, SR_INTERVAL, SR_CONCURRENT = 10, 1.0, 8


def _smartrecruiters(
    handler: Any,
    vendors: Vendors,
    method: str,
    route: str,
    query: dict[str, str],
    body: bytes,
    fault: Any,
    latency: float,
) -> None:
    account = vendors.smartrecruiters
    if handler.headers.get("X-SmartToken") != SMARTRECRUITERS_TOKEN:
        return handler._send(
            401,
            {
                "message": "Unauthorized: invalid or missing X-SmartToken",
                "errors": [{"code": "UNAUTHORIZED", "message": "Invalid token"}],
            },
        )
    lookup = method == "GET" and route == "/candidates"
    with vendors.lock:
        now = time.time()
        account.received_at.append(now)
        account.requests[f"{method} {'/candidates/{id}' if route.startswith('/candidates/') else route}"] += 1
        window = account.windows.setdefault(SMARTRECRUITERS_TOKEN, Window(SR_LIMIT, SR_INTERVAL))
        allowed, remaining, _reset = window.take(now)
        too_many_at_once = account.in_flight >= SR_CONCURRENT or (lookup and account.lookups_in_flight >= 1)
        headers = {
            "X-RateLimit-Limit": str(SR_LIMIT),
            "X-RateLimit-Remaining": str(max(remaining, 0)),
            "X-RateLimit-Concurrent-Limit": str(SR_CONCURRENT),
            "X-RateLimit-Concurrent-Remaining": str(max(SR_CONCURRENT - account.in_flight - 1, 0)),
        }
        if not allowed or too_many_at_once:
            account.refused_for_rate += 1
            refused = True
        else:
            refused = False
            account.in_flight += 1
            account.max_in_flight = max(account.max_in_flight, account.in_flight)
            account.lookups_in_flight += lookup
    if refused:
        return handler._send(
            429,
            {
                "message": "Too Many Requests",
                "errors": [{"code": "RATE_LIMIT_EXCEEDED", "message": "API rate limit exceeded"}],
            },
            headers,
        )
    try:
        if latency:
            time.sleep(latency)  # in flight while it takes
        if lookup:
            q = (query.get("q") or "").casefold()
            with vendors.lock:
                found = [
                    {k: v for k, v in c.items() if k != "tags"}  # search items carry no tags
                    for c in account.candidates.values()
                    if q
                    and account.searchable(c["id"])
                    and any(q in str(c.get(f, "")).casefold() for f in ("email", "firstName", "lastName"))
                ]
            return handler._send(
                200, {"totalFound": len(found), "offset": 0, "limit": 10, "content": found[:10]}, headers
            )
        if method == "GET" and route.startswith("/candidates/"):  # "Get candidate details": tags, createdOn
            with vendors.lock:
                stored = account.candidates.get(route.removeprefix("/candidates/"))
                answer = dict(stored) if stored is not None else None
            if answer is None:
                return handler._send(404, {"message": "Candidate not found", "errors": []}, headers)
            return handler._send(200, answer, headers)
        if method == "POST" and route == "/candidates":
            data = read_json(body)
            if not isinstance(data, dict):
                return handler._send(400, {"message": "Malformed JSON body", "errors": []}, headers)
            missing = [f for f in ("firstName", "lastName", "email") if not data.get(f)]
            if missing:
                return handler._send(
                    400,
                    {
                        "message": "Validation failed",
                        "errors": [{"code": "FIELD_REQUIRED", "message": f"{f} is required"} for f in missing],
                    },
                    headers,
                )
            if not EMAIL.fullmatch(str(data["email"])):
                return handler._send(
                    400,
                    {
                        "message": "Validation failed",
                        "errors": [{"code": "INVALID_EMAIL", "message": "email is not a valid email address"}],
                    },
                    headers,
                )
            with vendors.lock:
                candidate = {
                    "id": str(uuid.uuid4()),
                    "internalId": str(len(account.candidates) + 1),
                    "firstName": data["firstName"],
                    "lastName": data["lastName"],
                    "email": data["email"],
                    "phoneNumber": data.get("phoneNumber"),
                    "location": data.get("location"),
                    "tags": [str(t) for t in data.get("tags") or []],
                    "createdOn": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                }
                account.candidates[candidate["id"]] = candidate
                account.made(candidate["id"])
                account.creates += 1
            return finish(handler, 201, candidate, headers, fault)
        if method == "PATCH" and route.startswith("/candidates/"):
            return _sr_update(handler, account, vendors, route.removeprefix("/candidates/"), body, headers, fault)
        if method == "DELETE" and route.startswith("/candidates/"):  # candidatesDelete: 204, 404 when unknown
            with vendors.lock:
                gone = account.candidates.pop(route.removeprefix("/candidates/"), None)
                if gone is not None:
                    account.removed[gone["id"]] = "delete"
            if gone is None:
                return handler._send(404, {"message": "Candidate not found", "errors": []}, headers)
            return finish(handler, 204, None, headers, fault)
        return handler._send(404, {"message": f"Not found: {method} {route}", "errors": []}, headers)
    finally:
        with vendors.lock:
            account.in_flight -= 1
            account.lookups_in_flight -= lookup


SR_UPDATABLE = ("firstName", "lastName", "email", "phoneNumber", "location", "web")


def _sr_update(
    handler: Any, account: VendorAts, vendors: Vendors, candidate_id: str, body: bytes, headers: dict, fault: Any
) -> None:
    """``PATCH /candidates/{id}``: set the personal information fields the body carries."""
    data = read_json(body)
    if not isinstance(data, dict):
        return handler._send(400, {"message": "Malformed JSON body", "errors": []}, headers)
    if "email" in data and not EMAIL.fullmatch(str(data["email"])):
        return handler._send(
            400,
            {"message": "Validation failed", "errors": [{"code": "INVALID_EMAIL", "message": "email is not valid"}]},
            headers,
        )
    with vendors.lock:
        candidate = account.candidates.get(candidate_id)
        if candidate is None:
            return handler._send(404, {"message": "Candidate not found", "errors": []}, headers)
        candidate.update({name: data[name] for name in SR_UPDATABLE if name in data})
        account.updates[candidate_id] += 1
        answer = dict(candidate)
    return finish(handler, 200, answer, headers, fault)


# -- Workable ---------------------------------------------------------------------------------------
WORKABLE_LIMITS = {WORKABLE_TOKEN: 10, WORKABLE_OAUTH_TOKEN: 50}
WORKABLE_INTERVAL = 10.0


def _workable(
    handler: Any, vendors: Vendors, method: str, route: str, query: dict[str, str], body: bytes, fault: Any
) -> None:
    account = vendors.workable
    token = handler.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if token not in WORKABLE_LIMITS:
        return handler._send(401, {"error": "Not authorized"})
    with vendors.lock:
        now = time.time()
        account.received_at.append(now)
        one = re.fullmatch(r"/spi/v3/candidates/([^/]+)", route)
        label = "/spi/v3/candidates/:id" + ("/disqualify" if route.endswith("/disqualify") else "")
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
        return handler._send(429, {"error": "Rate limit exceeded"}, headers)
    if method == "GET" and route == "/spi/v3/candidates":
        email = query.get("email") or ""
        with vendors.lock:
            found = account.by_email(email) if email else list(account.candidates.values())[:100]
            found = [{k: v for k, v in c.items() if k != "tags"} for c in found if account.searchable(c["id"])]
        return handler._send(200, {"candidates": found, "paging": {}}, headers)
    if method == "GET" and one:  # https://workable.readme.io/reference/job-candidates-show: tags, created_at
        with vendors.lock:
            stored = account.candidates.get(one.group(1))
            answer = dict(stored) if stored is not None else None
        if answer is None:
            return handler._send(404, {"error": "Not found"}, headers)
        return handler._send(200, {"candidate": answer}, headers)
    job = re.fullmatch(r"/spi/v3/jobs/([^/]+)/candidates", route)
    if method == "POST" and (route == "/spi/v3/talent_pool/candidates" or job):
        if job and job.group(1) != WORKABLE_JOB:
            return handler._send(404, {"error": "Not found"}, headers)
        data = read_json(body)
        candidate = data.get("candidate") if isinstance(data, dict) else None
        if not isinstance(candidate, dict):
            return handler._send(422, {"error": "Validation failed: candidate is missing"}, headers)
        # name (required; optional if firstname and lastname are provided), email (required)
        # (https://workable.readme.io/reference/talent-pool-candidates-create)
        if not candidate.get("name") and not (candidate.get("firstname") and candidate.get("lastname")):
            return handler._send(422, {"error": "Validation failed: Name can't be blank"}, headers)
        if not candidate.get("email"):
            return handler._send(422, {"error": "Validation failed: Email can't be blank"}, headers)
        if not EMAIL.fullmatch(str(candidate["email"])):
            return handler._send(422, {"error": "Validation failed: Email is invalid"}, headers)
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
                "job": {"shortcode": job.group(1)} if job else None,
                "stage": "sourced",
                "tags": [str(t) for t in candidate.get("tags") or []],
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            account.candidates[created["id"]] = created
            account.made(created["id"])
            account.creates += 1
        return finish(handler, 201, {"candidate": created}, headers, fault)
    disqualify = re.fullmatch(r"/spi/v3/candidates/([^/]+)/disqualify", route)
    if method == "POST" and disqualify:  # https://workable.readme.io/reference/disqualify-candidate
        data = read_json(body)
        if not isinstance(data, dict) or not data.get("member_id"):
            return handler._send(422, {"error": "Validation failed: member_id is missing"}, headers)
        if "disqualification_reason" in data:  # deprecated for disqualify_reason_id and disqualify_note
            return handler._send(422, {"error": "disqualification_reason is deprecated: use disqualify_note"}, headers)
        if len(str(data.get("disqualify_note") or "")) > 256:
            return handler._send(422, {"error": "Validation failed: disqualify_note is too long"}, headers)
        with vendors.lock:
            stored = account.candidates.get(disqualify.group(1))
            if stored is None:
                return handler._send(404, {"error": "Not found"}, headers)
            stored.update(
                disqualified=True,
                disqualify_reason_id=data.get("disqualify_reason_id"),
                disqualify_note=data.get("disqualify_note"),
            )
            account.removed[stored["id"]] = "archive"
        return finish(handler, 200, {}, headers, fault)
    if method == "PATCH" and one:
        data = read_json(body)
        candidate = data.get("candidate") if isinstance(data, dict) else None
        if not isinstance(candidate, dict):
            return handler._send(422, {"error": "Validation failed: candidate is missing"}, headers)
        if "email" in candidate and not EMAIL.fullmatch(str(candidate["email"])):
            return handler._send(422, {"error": "Validation failed: Email is invalid"}, headers)
        if unknown := sorted(
            set(candidate) - set(WORKABLE_UPDATABLE)
        ):  # https://workable.readme.io/reference/update-candidate
            return handler._send(422, {"error": f"Validation failed: {', '.join(unknown)} cannot be updated"}, headers)
        with vendors.lock:
            stored = account.candidates.get(one.group(1))
            if stored is None:
                return handler._send(404, {"error": "Not found"}, headers)
            stored.update({k: v for k, v in candidate.items() if k in WORKABLE_UPDATABLE})
            account.updates[one.group(1)] += 1
            answer = dict(stored)
        return finish(handler, 200, {"candidate": answer}, headers, fault)
    return handler._send(404, {"error": "Not found"}, headers)


WORKABLE_UPDATABLE = (
    "firstname", "lastname", "email", "headline", "summary", "address", "phone", "cover_letter", "resume", "tags",
)  # fmt: skip


def smartrecruiters_connection(base_url: str, **extra: Any) -> dict[str, Any]:
    """Return an ``ats_default`` connection of type ``smartrecruiters`` to the sandbox."""
    return {
        "conn_type": "smartrecruiters",
        "host": f"{base_url}/smartrecruiters",
        "password": SMARTRECRUITERS_TOKEN,
        "extra": {"timeout": 5, **extra},
    }


def workable_connection(base_url: str, *, oauth: bool = False, **extra: Any) -> dict[str, Any]:
    """Return an ``ats_default`` connection of type ``workable`` (an account token, or an OAuth one: 50/10 s)."""
    token = WORKABLE_OAUTH_TOKEN if oauth else WORKABLE_TOKEN
    return {
        "conn_type": "workable",
        "host": f"{base_url}/workable",
        "password": token,
        "extra": {"timeout": 5, **({"rate_limit": 50} if oauth else {}), **extra},
    }


def earlier(days: int = 30) -> float:
    """Return the time ``days`` days ago: when a record the account already held was made."""
    return time.time() - days * 86400


def smartrecruiters_stranger(vendors: Vendors, first: str, last: str, email: str) -> str:
    """Give the account a candidate of its own for ``email`` (another source, a month old); return its id."""
    candidate = {
        "id": str(uuid.uuid4()), "firstName": first, "lastName": last, "email": email, "tags": ["Referral"],
        "createdOn": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(earlier())),
    }  # fmt: skip
    with vendors.lock:
        vendors.smartrecruiters.candidates = {candidate["id"]: candidate, **vendors.smartrecruiters.candidates}
        vendors.smartrecruiters.strangers.add(candidate["id"])
    return candidate["id"]


def workable_stranger(vendors: Vendors, first: str, last: str, email: str) -> str:
    """Give the account a candidate of its own for ``email`` (a job application, a month old); return its id."""
    candidate = {
        "id": uuid.uuid4().hex[:9], "name": f"{first} {last}", "firstname": first, "lastname": last, "email": email,
        "tags": ["Applied"], "sourced": False,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(earlier())),
    }  # fmt: skip
    with vendors.lock:
        vendors.workable.candidates = {candidate["id"]: candidate, **vendors.workable.candidates}
        vendors.workable.strangers.add(candidate["id"])
    return candidate["id"]


VENDORS = (
    Vendor(
        "smartrecruiters",
        "/smartrecruiters",
        _smartrecruiters,
        lambda: VendorAts("smartrecruiters", interval=SR_INTERVAL),
        smartrecruiters_connection,
        "/smartrecruiters/candidates",
        SMARTRECRUITERS_TOKEN,
        latency_in_flight=True,  # its concurrency limit holds across the whole answer time
        fields=lambda i: {"firstName": f"F{i}", "lastName": f"L{i}", "email": f"c{i}@example.com"},
        update_route=("PATCH", "/smartrecruiters/candidates/", None),
        remove_route=("DELETE", "/smartrecruiters/candidates/", None),
        lookup_route=("GET", "/smartrecruiters/candidates", None),
        stranger=smartrecruiters_stranger,
    ),
    Vendor(
        "workable",
        "/workable",
        _workable,
        lambda: VendorAts("workable", interval=WORKABLE_INTERVAL),
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
    ),
)
