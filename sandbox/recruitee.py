"""
Recruitee ATS API emulator, written from Recruitee's public reference (https://docs.recruitee.com/reference; the
full one at https://apidocs.recruitee.com). Not the careers-site API (``https://<company>.recruitee.com/api``).

``/recruitee`` stands for ``https://api.recruitee.com``; every path starts with the company, ``/c/{company_id}``
(the id or the subdomain: "A company subdomain can also be used").

- Authentication ("Getting started"): ``Authorization: Bearer <personal API token>``; a token is per user and
  per company, so another company's path is refused (403).
- Create ("Manually add candidate", candidates-post): ``POST /c/{company_id}/candidates`` with ``{"candidate":
  {name (required), emails, phones, sources, social_links, links, cover_letter, remote_cv_url}, "offers": [ids]}``
  -> 201 ``{"candidate": {"id": <integer>, ..., "created_at"}}``. The reference documents no unique email: a
  create sent twice is two candidates. The create documents no ``tags``; ``sources`` (source tags) are kept.
- Read: ``GET /c/{company_id}/candidates/{id}`` -> ``{"candidate": {..., "sources", "tags", "created_at"}}``.
- Search ("Search candidates", searchnewcandidates): ``GET /c/{company_id}/search/new/candidates?filters_json=``, a
  JSON array of filters; here ``{"field": "all", "query"}`` (free text over name, emails, phones) and ``{"field":
  "created_at", "gte"|"gt"|"lte"|"lt": <Unix s>}``; another filter is 400 (an emulator limit, not Recruitee's).
  ``limit`` defaults to 60; above 10 000 "Server internal error" (500), as documented. -> ``{"hits": [...],
  "total"}``; a hit carries no tags (the reference does not say what a hit carries). It is a search index: a new
  candidate shows after ``lookup_lag``.
- Update: ``PATCH /c/{company_id}/candidates/{id}`` with ``{"candidate": {...}}``: the fields it carries; lists
  replace. Delete: ``DELETE /c/{company_id}/candidates/{id}`` -> 204. Unknown id -> 404. No candidate archive.
- Rate limits: the reference states none and names no headers. Here 5 requests per one-second window per token
  (the client's conservative pace), beyond it 429 without headers.
- Errors: not documented; here ``{"error": ["<message>"]}`` (400 a malformed body, 422 a refused value). Messages
  never repeat the values.
- The whole candidate: ``remote_cv_url`` on a create or an update is a file of the candidate (Recruitee fetches the
  URL; kept here as the URL). ``POST /c/{company_id}/placements`` ``{candidate_id, offer_id}`` puts a candidate on
  an offer (the ``recruitee`` gem's Placements resource) -> 201 ``{"placement": {id, offer_id, candidate_id,
  stage_id}}``; an unknown candidate or offer is 404, a candidate already on that offer 422. The candidate's
  ``placements`` list them. The offers are the account's jobs.
"""

from __future__ import annotations

import itertools
import json
import operator
import re
import time
from datetime import datetime
from typing import Any

from sandbox.accounts import EMAIL, VendorAts, Vendors, Window, finish, read_json
from sandbox.vendor import Vendor

API_TOKEN = "recruitee-sandbox-personal-api-token"
COMPANY_ID, SUBDOMAIN = "56432", "hrflowsandbox"
LIMIT, INTERVAL = 5, 1.0
LISTS = ("emails", "phones", "sources", "social_links", "links")
FIELDS = ("name", *LISTS, "cover_letter", "remote_cv_url")
HIT = ("id", "name", "emails", "phones", "created_at", "updated_at", "placements")
BOUNDS = {"gte": operator.ge, "gt": operator.gt, "lte": operator.le, "lt": operator.lt}  # created_at, Unix s
CANDIDATES = f"/recruitee/c/{COMPANY_ID}/candidates"
_ids = itertools.count(41_000_001)


def _error(handler: Any, status: int, message: str) -> None:
    return handler._send(status, {"error": [message]})


def _now(at: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(at if at is not None else time.time()))


def serve(handler: Any, vendors: Vendors, method: str, route: str, query: dict[str, str], body: bytes, fault: Any):
    """Answer one Recruitee request (``route``: the path after ``/recruitee``)."""
    account = vendors.recruitee
    if handler.headers.get("Authorization", "") != f"Bearer {API_TOKEN}":
        return _error(handler, 401, "Unauthorized")
    match = re.fullmatch(r"/c/([^/]+)(/.*)", route)
    if match is None:
        return _error(handler, 404, "Not found")
    company, rest = match.groups()
    if company not in (COMPANY_ID, SUBDOMAIN):
        return _error(handler, 403, "Forbidden: the token has no access to this company")
    one = re.fullmatch(r"/candidates/([^/]+)", rest)
    with vendors.lock:
        now = time.time()
        account.received_at.append(now)
        account.requests[f"{method} {'/candidates/{id}' if one else rest}"] += 1
        allowed = account.windows.setdefault(API_TOKEN, Window(LIMIT, INTERVAL)).take(now)[0]
        if not allowed:
            account.refused_for_rate += 1
    if not allowed:
        return _error(handler, 429, "Too many requests")
    if method == "GET" and rest == "/search/new/candidates":
        return _search(handler, vendors, query, fault)
    if method == "POST" and rest == "/candidates":
        return _create(handler, vendors, read_json(body), fault)
    if method == "POST" and rest == "/placements":
        return _place(handler, vendors, read_json(body), fault)
    if one is None or method not in ("GET", "PATCH", "DELETE"):
        return _error(handler, 404, "Not found")
    candidate_id = one.group(1)
    data = read_json(body) if method == "PATCH" else None
    if method == "PATCH" and (problem := _invalid(data, create=False)) is not None:
        return _error(handler, *problem)
    with vendors.lock:
        candidate = account.candidates.get(candidate_id)
        if candidate is not None and method == "PATCH":
            candidate.update({k: data["candidate"][k] for k in FIELDS if k in data["candidate"]}, updated_at=_now())
            account.updates[candidate_id] += 1
            _keep_cv(account, candidate_id, data["candidate"])
        elif candidate is not None and method == "DELETE":
            del account.candidates[candidate_id]
            account.removed[candidate_id] = "delete"
        answer = dict(candidate) if candidate is not None else None
    if answer is None:
        return _error(handler, 404, "Candidate not found")
    if method == "DELETE":
        return finish(handler, 204, None, {}, fault)
    return finish(handler, 200, {"candidate": answer}, {}, fault)


def _invalid(data: Any, *, create: bool) -> tuple[int, str] | None:
    """Return (status, message) when a create or update body is refused, else None."""
    candidate = data.get("candidate") if isinstance(data, dict) else None
    if not isinstance(candidate, dict):
        return 400, "param is missing or the value is empty: candidate"
    if (create or "name" in candidate) and not str(candidate.get("name") or "").strip():
        return 422, "Name can't be blank"
    for name in LISTS:
        if name in candidate and not (
            isinstance(candidate[name], list) and all(isinstance(v, str) for v in candidate[name])
        ):
            return 422, f"{name.capitalize()} must be a list of strings"
    if not all(EMAIL.fullmatch(e) for e in candidate.get("emails") or []):
        return 422, "Emails is invalid"
    if create:
        offers = data.get("offers", [])
        if not isinstance(offers, list) or not all(isinstance(o, int) for o in offers):
            return 422, "Offers must be a list of offer ids"
    return None


def _create(handler: Any, vendors: Vendors, data: Any, fault: Any) -> None:
    if (problem := _invalid(data, create=True)) is not None:
        return _error(handler, *problem)
    given = data["candidate"]
    candidate: dict[str, Any] = {"id": next(_ids), **{k: given.get(k) for k in FIELDS}}
    candidate.update({k: list(given.get(k) or []) for k in LISTS})
    candidate.update(tags=[], placements=[{"offer_id": o} for o in data.get("offers", [])])
    candidate["created_at"] = candidate["updated_at"] = _now()
    account = vendors.recruitee
    with vendors.lock:
        account.candidates[str(candidate["id"])] = candidate
        account.made(str(candidate["id"]))
        account.creates += 1
        for offer in data.get("offers", []):
            account.apply(str(candidate["id"]), str(offer))
        _keep_cv(account, str(candidate["id"]), given)
        answer = dict(candidate)
    return finish(handler, 201, {"candidate": answer}, {}, fault)


def _keep_cv(account: VendorAts, candidate_id: str, given: dict) -> None:
    """Keep the file a create or an update points to (``remote_cv_url``), as Recruitee fetches it (under the lock)."""
    if url := given.get("remote_cv_url"):
        account.add_file(candidate_id, str(url).rsplit("/", 1)[-1], url=str(url))


def _place(handler: Any, vendors: Vendors, data: Any, fault: Any) -> None:
    """Put a candidate on an offer (a placement, at the offer's first stage)."""
    if not isinstance(data, dict) or "candidate_id" not in data or "offer_id" not in data:
        return _error(handler, 400, "param is missing or the value is empty: candidate_id, offer_id")
    candidate_id, offer = str(data["candidate_id"]), str(data["offer_id"])
    account = vendors.recruitee
    with vendors.lock:
        candidate = account.candidates.get(candidate_id)
        if candidate is None or offer not in account.jobs:
            return _error(handler, 404, "Candidate not found" if candidate is None else "Offer not found")
        if offer in account.applied.get(candidate_id, []):
            return _error(handler, 422, "Candidate is already assigned to this offer")
        account.apply(candidate_id, offer)
        placement = {"id": next(_ids), "offer_id": data["offer_id"], "candidate_id": candidate["id"], "stage_id": 1}
        candidate["placements"] = [*candidate.get("placements", []), placement]
    return finish(handler, 201, {"placement": placement}, {}, fault)


def _matches(candidate: dict, spec: dict) -> bool:
    if spec.get("field") == "all":
        text = str(spec.get("query") or "").casefold()
        values = [candidate.get("name") or "", *(candidate.get("emails") or []), *(candidate.get("phones") or [])]
        return any(text in str(v).casefold() for v in values)
    made = datetime.fromisoformat(candidate["created_at"].replace("Z", "+00:00")).timestamp()
    return all(compare(made, float(spec[op])) for op, compare in BOUNDS.items() if op in spec)


def _filters(raw: str) -> list[dict] | None:
    """Return the search's filters, or None when they are not a JSON array of filters the emulator knows."""
    try:
        filters = json.loads(raw or "[]")
        known = isinstance(filters, list) and all(
            isinstance(f, dict) and f.get("field") in ("all", "created_at") for f in filters
        )
        for bound in (f[op] for f in filters if known for op in BOUNDS if op in f):
            float(bound)  # a timestamp: a number, or a string of one
    except (TypeError, ValueError):
        return None
    return filters if known else None


def _search(handler: Any, vendors: Vendors, query: dict[str, str], fault: Any) -> None:
    filters = _filters(query.get("filters_json", ""))
    if filters is None:
        return _error(handler, 400, "filters_json: a JSON array of the all and created_at filters (the emulator's)")
    try:
        limit, page = int(query.get("limit") or 60), max(int(query.get("page") or 1), 1)
    except ValueError:
        return _error(handler, 400, "limit and page must be numbers")
    if limit > 10_000:
        return _error(handler, 500, "Server internal error")  # as documented
    account = vendors.recruitee
    with vendors.lock:
        found = [
            {k: c.get(k) for k in HIT}
            for c in account.candidates.values()
            if account.searchable(str(c["id"])) and all(_matches(c, f) for f in filters)
        ]
    return finish(handler, 200, {"hits": found[(page - 1) * limit : page * limit], "total": len(found)}, {}, fault)


def connection(base_url: str, **extra: Any) -> dict[str, Any]:
    """Return an ``ats_default`` connection of type ``recruitee`` to the sandbox."""
    return {
        "conn_type": "recruitee",
        "host": f"{base_url}/recruitee",
        "password": API_TOKEN,
        "extra": {"company_id": COMPANY_ID, "timeout": 5, **extra},
    }


def stranger(vendors: Vendors, first: str, last: str, email: str) -> str:
    """Give the company a candidate of its own for ``email`` (a LinkedIn applicant, 30 days ago); return its id."""
    made = _now(time.time() - 30 * 86400)
    candidate: dict[str, Any] = {"id": next(_ids), **dict.fromkeys(FIELDS), **{k: [] for k in LISTS}}
    candidate.update(
        name=f"{first} {last}",
        emails=[email],
        sources=["LinkedIn"],
        tags=["Career site"],
        placements=[],
        created_at=made,
        updated_at=made,
    )
    with vendors.lock:
        vendors.recruitee.candidates = {str(candidate["id"]): candidate, **vendors.recruitee.candidates}
        vendors.recruitee.strangers.add(str(candidate["id"]))
    return str(candidate["id"])


VENDOR = Vendor(
    "recruitee",
    "/recruitee",
    serve,
    lambda: VendorAts("recruitee", interval=INTERVAL, email_of=lambda c: (c.get("emails") or [""])[0]),
    connection,
    CANDIDATES,
    API_TOKEN,
    fields=lambda i: {"name": f"F{i} L{i}", "email": f"c{i}@example.com"},
    removal="delete",
    unsupported="archive",
    update_route=("PATCH", f"{CANDIDATES}/", None),
    remove_route=("DELETE", f"{CANDIDATES}/", None),
    lookup_route=("GET", f"/recruitee/c/{COMPANY_ID}/search/new/candidates", None),
    stranger=stranger,
)
