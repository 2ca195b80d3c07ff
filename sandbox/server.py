"""Local stand-ins for the HrFlow.ai API, an ATS and a messaging service.

One threaded HTTP server answers three areas:

* ``/v1/...``     an HrFlow API emulator speaking exactly what the ``hrflow`` SDK sends and expects
                  (``X-API-KEY``/``X-USER-EMAIL`` auth, JSON-encoded list params in the query
                  string, the ``{code, message, meta, data}`` envelope, ``application/json``).
                  It models the real API's documented behaviour, not a kinder one:
                  - Searching (``GET /profiles/searching``) only sees *eligible* profiles: non-empty
                    ``text`` and either an email or a first and a last name, or half of phone, date of
                    birth, gender, summary, urls and location
                    (https://developers.hrflow.ai/docs/assess-profile-eligibility-for-searching);
                  - the search index lags behind writes by ``index_delay`` seconds (HrFlow indexes
                    asynchronously and announces it with ``profile.searching.success``);
                  - Storing listing (``GET /storing/profiles``, ``GET /storing/jobs``, SDK
                    ``<kind>.storing.list``) returns every stored object, paged with ``page``/``limit``,
                    sorted by ``created_at``; ``data`` is a list, full objects only with
                    ``return_profile``/``return_job``
                    (https://developers.hrflow.ai/reference "Find Profiles stored in Sources");
                  - documented statuses such as 402 "Over plan quota on this endpoint"
                    (https://developers.hrflow.ai/reference/errors) and, as a fault, a 2xx ``text/html``
                    page from a proxy;
* ``/ats/<kind>`` a recording ATS receiver that honours ``Idempotency-Key`` (``honour_idempotency``;
                  turn it off to model the many real ATS endpoints that ignore the header);
* ``/sms``        a recording messaging receiver that honours ``Idempotency-Key``;
* ``/smartrecruiters/...``, ``/workable/...`` SmartRecruiters and Workable emulators (``sandbox/vendors.py``);
* ``/twilio/...`` a Twilio Programmable Messaging emulator (see ``_twilio``), reached by the official
                  ``twilio`` SDK through its API domain's base URL.

``/_sandbox/...`` is the control plane used by the demo, tests and benchmarks: seed objects,
inject latency and faults, read what was received.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import html
import json
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import msgspec

from sandbox.generated import GeneratedBucket
from sandbox.vendors import Vendors
from sandbox.vendors import serve as serve_vendor

API_SECRET = "askw_" + "0" * 31 + "1"
API_USER = "sandbox@example.com"
ATS_API_KEY = "ats-sandbox-key"
SMS_API_KEY = "sms-sandbox-key"
TWILIO_ACCOUNT_SID = "AC" + "0" * 31 + "1"
TWILIO_AUTH_TOKEN = "twilio-sandbox-token"
TWILIO_FROM = "+15005550006"  # Twilio's magic "valid From" number (https://www.twilio.com/docs/iam/test-credentials)
# Twilio's documented magic numbers for test credentials: To -> error, From -> error
TWILIO_MAGIC_TO = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
TWILIO_MAGIC_FROM = {
    "+15005550001": (
        21212,
        "The 'From' number +15005550001 is not a valid phone number, shortcode, or alphanumeric sender ID.",
    ),
    "+15005550007": (
        21606,
        "The 'From' phone number provided is not a valid, message-capable Twilio phone number for this "
        "destination/account.",
    ),
}
WEBHOOK_SECRET = "sandbox-webhook-secret"

EXAMPLE_PROFILE = Path(__file__).with_name("profile_example.json")
FIRST_NAMES = ["Camille", "Zoë", "José", "Anne-Marie", "D'Arcy", 'O"Neil', "Łukasz", "Renée", "Jean", "Ngozi"]
LAST_NAMES = ["Moreau", "Müller", "O'Brien", "García", "Nguyễn", 'Smith "Jr"', "Dubois", "Kowalski"]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _parse_date(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _holder(obj: dict) -> dict:
    """Return where an object's mapped fields live: a profile's ``info``, a job itself."""
    return obj["info"] if isinstance(obj.get("info"), dict) else obj


def _sort_date(value: Any) -> datetime:
    """Return a date field as a datetime for sorting (HrFlow writes them in more than one ISO form)."""
    try:
        return _parse_date(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)


def make_key(*parts: object) -> str:
    """Return a 40-hex key, the shape HrFlow uses for every object key."""
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


def make_profile(
    source_key: str,
    index: int,
    *,
    created_at: str | None = None,
    tags: list | None = None,
    phone: str | None = "default",
    key: str | None = None,
    share: bool = False,
) -> dict[str, Any]:
    """
    Return a profile shaped like the scrubbed real profile, with its own key and identity.

    ``share``: the parts no profile changes (experiences, skills, attachments...) are the example's own, shared
    by every shared profile, for callers that only read them (``GeneratedBucket`` rebuilds its objects on each
    read: decoding the 12.5 KB example for each was three quarters of the emulator's CPU when listing).
    ``key``: the object's key when the caller has it already.
    """
    profile = dict(_example()) if share else msgspec.json.decode(_example_bytes())
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[index % len(LAST_NAMES)]
    profile.update(
        key=key or make_key("profile", source_key, index),
        reference=f"ref-{index}",
        tags=tags,
        created_at=created_at or _now(),
        updated_at=created_at or _now(),
    )
    profile["id"] = index
    profile["source"] = {**profile["source"], "key": source_key}
    profile["source_key"] = source_key  # real objects carry both source.key and source_key
    profile["info"] = {
        **profile["info"],
        "full_name": f"{first} {last}",
        "first_name": first,
        "last_name": last,
        "email": f"candidate{index}.{source_key[:6]}@example.com",
        "phone": f"+3361{index:07d}" if phone == "default" else phone,
        "summary": f"Candidate {index}",
    }
    return profile


def make_job(
    board_key: str, index: int, *, created_at: str | None = None, tags: list | None = None, key: str | None = None
) -> dict[str, Any]:
    """Return a job object shaped like HrFlow's job object (``key``: when the caller has it already)."""
    return {
        "key": key or make_key("job", board_key, index),
        "reference": f"job-{index}",
        "name": f"Data Engineer {index}",
        "summary": "Build pipelines “end to end”.",
        "url": f"https://jobs.example.com/{index}",
        "board": {"key": board_key, "name": "careers"},
        "board_key": board_key,
        "location": {"text": "Paris, France", "lat": 48.85, "lng": 2.35},
        "skills": [{"name": "python", "type": "hard", "value": None}, {"name": "sql", "type": "hard", "value": None}],
        "sections": [],
        "tags": tags,
        "metadatas": [],
        "ranges_date": [],
        "ranges_float": [],
        "created_at": created_at or _now(),
        "updated_at": created_at or _now(),
    }


@functools.cache
def _example_bytes() -> bytes:
    """Return the example profile's file, read once."""
    return EXAMPLE_PROFILE.read_bytes()


@functools.cache
def _example() -> dict[str, Any]:
    """Return the example profile, decoded once; shared: never change it."""
    return msgspec.json.decode(_example_bytes())


@dataclass
class Fault:
    """One injected fault: matched on method and path prefix, used ``times`` times."""

    path: str
    status: int = 503  # 0: only delay, then answer normally
    method: str | None = None
    times: int = 1
    retry_after: float | None = None
    delay: float = 0.0
    lose_response: bool = False  # apply the request, then drop the connection
    slow_apply: float = 0.0  # apply the request, then wait this long before answering
    applied_status: int = 0  # apply the request, then answer this status (a gateway's 502/504 after the apply)
    match_key: str | None = None  # only requests whose body or query mentions this key
    reason: str = "injected fault"
    content_type: str = "application/json"  # e.g. "text/html": a proxy's page instead of HrFlow's JSON

    @property
    def kind(self) -> str:
        """Name what this fault does, for counting: errors, delays and lost answers are told apart."""
        if self.lose_response:
            return "lost_answer"
        if self.applied_status:
            return f"applied_{self.applied_status}"
        if self.slow_apply:
            return "slow_apply"
        if self.content_type != "application/json":
            return "non_json"
        return "delay" if self.status == 0 else f"http_{self.status}"

    def matches(self, method: str, path: str, raw: str) -> bool:
        return (
            self.times > 0
            and path.startswith(self.path)
            and self.method in (None, method)
            and (self.match_key is None or self.match_key in raw)
        )


@dataclass
class Area:
    """What the ATS or SMS receivers recorded."""

    requests: int = 0
    replays: int = 0
    applied: Counter = field(default_factory=Counter)
    bodies: list = field(default_factory=list)
    received_at: list = field(default_factory=list)  # time.time() of each applied body
    responses: dict = field(default_factory=dict)
    updates: Counter = field(default_factory=Counter)  # hrflow_key -> upserts applied
    current: dict = field(default_factory=dict)  # hrflow_key -> the record as the ATS holds it now
    unanswered: set = field(default_factory=set)  # hrflow_keys of applied batches whose 2xx never reached the caller


class SandboxState:
    """All the sandbox data, guarded by one lock."""

    KINDS = {"profile": ("profiles", "source_key", "source_keys"), "job": ("jobs", "board_key", "board_keys")}

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        for hold in getattr(self, "holds", []):  # nobody waits on an answer across a reset
            hold["release"].set()
        with self.lock:
            self.objects: dict[str, dict[str, dict[str, dict]]] = {"profile": {}, "job": {}}
            self.version = 0
            self.search_cache: dict[tuple, list] = {}
            self.faults: list[Fault] = []
            self.faults_fired = 0
            self.faults_by_kind: Counter = Counter()  # "http_503", "lost_answer", "slow_apply", "delay", "non_json"
            self.latency = {"hrflow": 0.0, "ats": 0.0, "sms": 0.0}
            self.calls: Counter = Counter()
            self.in_flight: Counter = Counter()  # requests being served now, per area
            self.max_in_flight: Counter = Counter()  # the most ever served at once, per area
            self.edits: Counter = Counter()
            self.ats: dict[str, Area] = {}
            self.sms = Area()
            self.twilio_messages: list[dict] = []  # message resources created, oldest first
            self.twilio_send_after = 1.0  # seconds a created message stays queued (date_sent null) before it is sent
            self.on_ats_post: Callable[[str, list[dict]], None] | None = None
            self.edit_on_arrival: set[str] = set()  # keys a "recruiter" edits right after they reach the ATS
            self.edit_after_read: set[str] = set()  # keys a "recruiter" edits between the sync's re-read and its PUT
            self.ats_reject_keys: dict[str, str] = {}
            self.third_party_edits: set[str] = set()
            self.index_delay = 0.0  # seconds before an object written from now on is visible to search
            self.indexed_at: dict[str, float] = {}  # object key -> time.time() search sees it from
            self.lag_until = 0.0  # the latest of indexed_at: search results are cacheable after it
            self.honour_idempotency = True  # False: the ATS ignores Idempotency-Key, as most real ones do
            self.sms_honours_idempotency = False  # SMS gateways ignore it; True: one that replays a repeated key
            # a refused batch names its refused records ({"errors": [{"hrflow_key", "message"}]}); False: it
            # says only "validation failed", as an endpoint that does not follow the optional shape would
            self.ats_name_refusals = True
            self.hold: dict[str, threading.Event] | None = None  # see hold_next_ats_answer()
            self.holds: list[dict[str, threading.Event]] = []  # every hold armed since the reset
            self.vendors = Vendors()  # SmartRecruiters and Workable accounts (sandbox/vendors.py)
            # deepest result a listing serves (page * limit), like a search engine's result window; HrFlow's docs
            # do not say whether it caps deep pages: a cap here proves the sync never relies on deep offsets
            self.max_result_window: int | None = 10_000
            # True: created_at_min / created_at_max honoured by their date only, as the SDK documents them
            self.date_only_filters = False
            self.keep_bodies = (
                True  # False: receivers count what they applied but drop the bodies (million-object runs)
            )

    # -- seeding -----------------------------------------------------------------------
    def add(self, kind: str, container: str, objs: list[dict]) -> None:
        with self.lock:
            bucket = self.objects[kind].setdefault(container, {})
            searchable_from = time.time() + self.index_delay
            for obj in objs:
                bucket[obj["key"]] = obj
                self.indexed_at[obj["key"]] = searchable_from
            self.lag_until = max(self.lag_until, searchable_from)
            self.version += 1

    def seed(
        self,
        kind: str,
        container: str,
        count: int,
        *,
        start: int = 0,
        tags: list | None = None,
        created_at: str | None = None,
        spread_seconds: int = 0,
        generated: bool = False,
    ) -> list[str]:
        """
        Add ``count`` objects to ``container``, ``spread_seconds`` apart from ``created_at``.

        ``generated``: the container becomes a :class:`GeneratedBucket` (objects made from their index on
        read, a million in a few hundred MB), replacing what it held; keys are not returned.
        """
        maker = make_profile if kind == "profile" else make_job
        base = _parse_date(created_at) if created_at else datetime.now(timezone.utc)
        if generated:
            if start or tags:
                raise ValueError("a generated container starts at index 0 without tags")
            bucket = GeneratedBucket(
                functools.partial(make_profile, share=True) if kind == "profile" else maker,
                lambda i: make_key(kind, container, i),
                container,
                count,
                base=base,
                spread_seconds=spread_seconds,
            )
            with self.lock:
                self.objects[kind][container] = bucket
                self.version += 1
            return []
        objs = []
        for i in range(start, start + count):
            stamp = (base + timedelta(seconds=(i - start) * spread_seconds)).strftime("%Y-%m-%dT%H:%M:%S+0000")
            objs.append(maker(container, i, created_at=stamp, tags=copy.deepcopy(tags)))
        self.add(kind, container, objs)
        return [o["key"] for o in objs]

    def get(self, kind: str, container: str, key: str) -> dict | None:
        with self.lock:
            obj = self.objects[kind].get(container, {}).get(key)
            return copy.deepcopy(obj) if obj else None

    def update(self, kind: str, container: str, key: str, change: Callable[[dict], None]) -> None:
        """Edit an object as a third party would (not counted as an edit by the sync); HrFlow dates the edit."""
        with self.lock:
            bucket = self.objects[kind][container]
            obj = bucket[key]
            change(obj)
            obj["updated_at"] = _now()
            bucket[key] = obj  # a generated bucket keeps what changed
            self.version += 1

    def third_party_edit(self, key: str, delay: float = 0.05) -> None:
        """Edit an object the way a recruiter would, shortly after the sync posted it: tag and summary change."""
        time.sleep(delay)
        with self.lock:
            for containers in self.objects.values():
                for objs in containers.values():
                    if key in objs:
                        obj = objs[key]
                        obj["tags"] = (obj.get("tags") or []) + [{"name": "stage", "value": "interview"}]
                        holder = obj.get("info", obj)
                        holder["summary"] = f"{holder.get('summary')} [edited by recruiter]"
                        obj["updated_at"] = _now()
                        objs[key] = obj
                        self.version += 1
                        self.third_party_edits.add(key)

    def hold_next_ats_answer(self) -> dict[str, threading.Event]:
        """
        Arm a one-shot hold: the next ATS POST is applied, then its answer waits until ``release`` is set.

        ``held`` is set once a request is being held, so a test can kill exactly the task waiting for it.
        """
        with self.lock:
            self.hold = {"held": threading.Event(), "release": threading.Event()}
            self.holds.append(self.hold)
            return self.hold

    def ats_area(self, name: str) -> Area:
        with self.lock:
            return self.ats.setdefault(name, Area())

    def snapshot(self) -> dict[str, Any]:
        with self.lock:

            def area(a: Area) -> dict:
                return {
                    "requests": a.requests,
                    "replays": a.replays,
                    "applied": dict(a.applied),
                    "updates": dict(a.updates),
                    "duplicates": sorted(k for k, n in a.applied.items() if n > 1),
                }

            synced = {
                kind: sorted(k for c in conts.values() for k in _synced_keys(c)) for kind, conts in self.objects.items()
            }
            return {
                "ats": {n: area(a) for n, a in self.ats.items()},
                "sms": {**area(self.sms), "messages": [b.get("text") for b in self.sms.bodies]},
                "edits": dict(self.edits),
                "calls": dict(self.calls),
                "max_in_flight": dict(self.max_in_flight),
                "synced": synced,
                "faults_fired": self.faults_fired,
                "faults_by_kind": dict(self.faults_by_kind),
                "holding": sum(1 for h in self.holds if h["held"].is_set() and not h["release"].is_set()),
                "third_party_edits": len(self.third_party_edits),
                "vendors": self.vendors.snapshot(),
                "clobbered": sorted(k for k in self.third_party_edits if not _edit_survived(self, k)),
            }

    def inbox_html(self) -> str:
        """Return the messaging service's received SMS as a phone-like HTML page (newest first)."""
        with self.lock:
            messages = list(zip(self.sms.bodies, self.sms.received_at))[::-1]
        items = "".join(
            f'<li><div class="meta">to {html.escape(str(body.get("to", "(default recipient)")))} · '
            f"{time.strftime('%H:%M:%S', time.gmtime(at))} UTC</div>"
            f'<div class="text">{html.escape(body["text"])}</div></li>'
            for body, at in messages
        )
        return (
            "<!doctype html><html><head><meta charset='utf-8'><title>Sandbox SMS inbox</title><style>"
            "body{font-family:sans-serif;background:#f2f2f7;margin:0;padding:24px}h1{font-size:20px}"
            "ul{list-style:none;padding:0;max-width:760px}li{background:#fff;border-radius:14px;padding:14px 18px;"
            "margin:12px 0;box-shadow:0 1px 3px #0002}.meta{color:#666;font-size:13px;margin-bottom:6px}"
            ".text{font-size:15px;line-height:1.4;word-break:break-all}</style></head><body>"
            f"<h1>Messaging service (sandbox): {len(messages)} SMS received</h1><ul>{items}</ul></body></html>"
        )

    # -- faults -----------------------------------------------------------------------
    def take_fault(self, method: str, path: str, raw: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path, raw):
                    fault.times -= 1
                    self.faults_fired += 1
                    self.faults_by_kind[fault.kind] += 1
                    return fault
        return None

    def created_bounds(self, params: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
        """
        Return the inclusive ``created_at`` bounds of a listing's ``created_at_min`` / ``created_at_max``.

        hrflow 4.3.0 documents both as ``"YYYY-MM-DD"`` (``storing.list``, ``searching.list``). With
        ``date_only_filters`` the emulator honours only that date: the min is the start of its day and the max
        the end of its day, whatever time the value carries; otherwise the full timestamp is honoured.
        """
        low = _parse_date(params["created_at_min"]) if params.get("created_at_min") else None
        high = _parse_date(params["created_at_max"]) if params.get("created_at_max") else None
        if self.date_only_filters:
            low = low and low.replace(hour=0, minute=0, second=0, microsecond=0)
            high = high and high.replace(hour=23, minute=59, second=59, microsecond=999999)
        return low, high

    def exactly_once(self, kind: str, container: str, ats: str) -> dict[str, int]:
        """Return lost / duplicated / untagged / edited-twice counts over every object of ``container``.

        Also the ATS's raw request and replay counts, and how the duplicated keys compare with those of the batches
        it applied without the caller hearing so (the only ones a key-ignoring ATS may receive twice).
        """
        with self.lock:
            keys = list(self.objects[kind].get(container, {}))
            area = self.ats_area(ats)
            applied = area.applied
            synced = set(_synced_keys(self.objects[kind].get(container, {})))
            duplicated = {k for k, n in applied.items() if n > 1}
            return {
                "objects": len(keys),
                "lost": sum(1 for k in keys if k not in applied),
                "duplicates": len(duplicated),
                # requests the ATS received and same-key replays it answered without applying: "0 duplicates" at
                # a receiver that honours the key can hide re-POSTs, these show them
                "requests": area.requests,
                "replays": area.replays,
                "unanswered": len(area.unanswered),  # applied, answer lost / 5xx / held while its task died
                "duplicates_not_unanswered": len(duplicated - area.unanswered),
                "unanswered_not_duplicated": len(area.unanswered - duplicated),
                "untagged": sum(1 for k in keys if k not in synced),
                "edited_twice": sum(1 for k in keys if self.edits.get(k, 0) > 1),
            }

    # -- search -----------------------------------------------------------------------
    def fast_listing(
        self, kind: str, containers: list[str], params: dict[str, Any], page: int, limit: int, *, search: bool
    ) -> tuple[list[dict], int] | None:
        """
        Return (page, total) of a generated container without scanning it, or None when the request is not
        one it answers (several containers, or tag filters other than ``tags_excluded=[[sync=1]]``).
        """
        bucket = self.objects[kind].get(containers[0]) if len(containers) == 1 else None
        if not isinstance(bucket, GeneratedBucket):
            return None
        excluded, included = params.get("tags_excluded") or [], params.get("tags_included") or []
        if included or excluded not in ([], [[{"name": "sync", "value": "1"}]], [[{"name": "sync", "value": 1}]]):
            return None
        low, high = self.created_bounds(params)
        if not search and params.get("sort_by") == "updated_at" and not (low or high or excluded):
            with self.lock:
                return bucket.by_updated(
                    offset=(page - 1) * limit, limit=limit, ascending=params.get("order_by") == "asc"
                )
        if not search and params.get("sort_by", "created_at") != "created_at":
            return None
        with self.lock:
            return bucket.listing(
                low=low,
                high=high,
                unsynced_only=bool(excluded),
                offset=(page - 1) * limit,
                limit=limit,
                ascending=params.get("order_by") == "asc",
            )

    def search(self, kind: str, containers: list[str], params: dict[str, Any]) -> list[dict]:
        """Return every object matching the filters, in a stable order (cached per data version)."""
        cache_key = (
            kind,
            tuple(containers),
            json.dumps({k: v for k, v in params.items() if k not in ("page", "limit")}, sort_keys=True),
        )
        with self.lock:
            now = time.time()
            if (hit := self.search_cache.get(cache_key)) and hit[0] == self.version and self.lag_until <= now:
                return hit[1]
            pool = [
                o
                for c in containers
                for o in self.objects[kind].get(c, {}).values()
                if self.indexed_at.get(o["key"], 0) <= now and (kind != "profile" or searchable(o))
            ]
            version = self.version
        included = params.get("tags_included") or []
        excluded = params.get("tags_excluded") or []
        low, high = self.created_bounds(params)
        result = []
        for obj in pool:
            created = _parse_date(obj["created_at"])
            if (low and created < low) or (high and created > high):
                continue
            if excluded and any(_has_all(obj, group) for group in excluded):
                continue
            if included and not any(_has_all(obj, group) for group in included):
                continue
            result.append(obj)
        result.sort(key=lambda o: (o["created_at"], o["key"]), reverse=params.get("order_by") != "asc")
        with self.lock:
            self.search_cache[cache_key] = (version, result)
        return result


def searchable(profile: dict) -> bool:
    """
    Return True if HrFlow's Searching API would index this profile.

    From "Assess Profile Eligibility for Searching" (developers.hrflow.ai): the text must not be empty, and
    the profile must have an email or both a first and a last name, or at least half of phone, date of
    birth, gender, summary, urls and location.
    """
    info = profile.get("info") or {}
    if not str(profile.get("text") or "").strip():
        return False
    if info.get("email") or (info.get("first_name") and info.get("last_name")):
        return True
    location = info.get("location") or {}
    others = [
        info.get("phone"),
        info.get("date_birth"),
        info.get("gender"),
        info.get("summary"),
        info.get("urls"),
        location.get("text") if isinstance(location, dict) else location,
    ]
    return sum(1 for value in others if value) * 2 >= len(others)


def _sent_on(message: dict[str, Any], day: dict[str, str | None]) -> bool:
    """Tell whether ``message`` passes Twilio's DateSent filters: GMT days; a message not sent yet passes none."""
    if not any(day.values()):
        return True
    if message["date_sent"] is None:
        return False
    sent = parsedate_to_datetime(message["date_sent"]).strftime("%Y-%m-%d")
    on, before, after = (value[:10] if value else None for value in (day[""], day["<"], day[">"]))
    return (on is None or sent == on) and (before is None or sent <= before) and (after is None or sent >= after)


def _twilio_error(code: int, message: str, status: int) -> dict[str, Any]:
    """Return Twilio's REST error body."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _edit_survived(state: SandboxState, key: str) -> bool:
    for containers in state.objects.values():
        for objs in containers.values():
            if key in objs:
                obj = objs[key]
                holder = obj.get("info", obj)
                return ("stage", "interview") in _tag_pairs(obj) and "[edited by recruiter]" in str(
                    holder.get("summary")
                )
    return False


def _tag_pairs(obj: dict) -> set[tuple[str, str]]:
    return {(str(t.get("name")), str(t.get("value"))) for t in obj.get("tags") or []}


def _has_all(obj: dict, group: list[dict]) -> bool:
    pairs = _tag_pairs(obj)
    return all((str(t.get("name")), str(t.get("value"))) in pairs for t in group)


def _has_sync(obj: dict) -> bool:
    return ("sync", "1") in _tag_pairs(obj)


def _synced_keys(bucket: Any) -> list[str]:
    if isinstance(bucket, GeneratedBucket):
        return bucket.synced_keys()
    return [k for k, o in bucket.items() if _has_sync(o)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: don't wait on delayed ACKs
    server: SandboxServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep the sandbox quiet
        pass

    @property
    def state(self) -> SandboxState:
        return self.server.state

    # -- plumbing ---------------------------------------------------------------------
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, msgspec.json.encode(payload), headers)

    def _send_raw(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "application/json", **(headers or {})}
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _envelope(self, status: int, message: str, data: Any = None, meta: dict | None = None) -> None:
        """Answer with HrFlow's envelope. Serialized under the state lock: no copy of stored objects is made."""
        body: dict[str, Any] = {"code": status, "message": message, "data": data}
        if meta is not None:
            body["meta"] = meta
        with self.state.lock:
            raw = msgspec.json.encode(body)
        if not self._after_apply(getattr(self, "_fault", None)):
            self._send_raw(status, raw)

    def _after_apply(self, fault: Fault | None) -> bool:
        """Play an after-the-apply fault: drop the answer, delay it, or replace it by a gateway's 5xx.

        Return True when the fault answered (or dropped) instead of the request's own answer.
        """
        if fault is None:
            return False
        if fault.lose_response:  # the request was applied; its answer never arrives
            self._drop()
            return True
        if fault.slow_apply:
            time.sleep(fault.slow_apply)
        if fault.applied_status:  # applied; a gateway in front answers 502/504 instead (the common real case)
            self._send(fault.applied_status, {"code": fault.applied_status, "message": fault.reason})
            return True
        return False

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.close()

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        body = self._body()
        path = url.path
        area = (
            "hrflow"
            if path.startswith("/v1/")
            else "ats"
            if path.startswith(("/ats/", "/smartrecruiters/", "/workable/"))
            else "control"
            if path.startswith("/_sandbox")
            else "twilio"
            if path.startswith("/twilio/")
            else "sms"
        )
        with self.state.lock:
            self.state.calls[f"{method} {path}"] += 1
            self.state.in_flight[area] += 1
            self.state.max_in_flight[area] = max(self.state.max_in_flight[area], self.state.in_flight[area])
        try:
            self._serve(method, url, path, area, body)
        finally:
            with self.state.lock:
                self.state.in_flight[area] -= 1

    def _serve(self, method: str, url: Any, path: str, area: str, body: bytes) -> None:
        vendor = path.startswith(("/smartrecruiters/", "/workable/"))
        if not path.startswith("/_sandbox"):
            if (delay := self.state.latency.get(area)) and not vendor:  # a vendor counts its answer time in flight
                time.sleep(delay)
            fault = self.state.take_fault(method, path, url.query + body.decode("utf-8", "replace"))
            if fault and fault.status == 0:
                time.sleep(fault.delay)
                fault = None
            if fault and fault.content_type != "application/json":
                time.sleep(fault.delay)  # a proxy's page: whatever the status, not HrFlow's JSON
                page = f"<html><body><h1>{fault.status}</h1><p>{html.escape(fault.reason)}</p></body></html>".encode()
                return self._send_raw(fault.status, page, {"Content-Type": fault.content_type})
            if fault and not (fault.lose_response or fault.slow_apply or fault.applied_status):
                time.sleep(fault.delay)
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                if area == "twilio":  # Twilio's error shape; 429 is its error 20429, "never processed"
                    code = 20429 if fault.status == 429 else fault.status
                    return self._send(fault.status, _twilio_error(code, fault.reason, fault.status), headers)
                return self._send(fault.status, {"code": fault.status, "message": fault.reason}, headers)
        else:
            fault = None
        self._fault = fault  # lose_response / slow_apply / applied_status: played by whichever area answers
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if path.startswith("/v1/"):
                self._hrflow(method, path[4:], query, body)
            elif path.startswith("/ats/"):
                self._receiver(self.state.ats_area(path[5:]), ATS_API_KEY, body, path[5:], fault)
            elif path == "/sms":
                self._receiver(self.state.sms, SMS_API_KEY, body, "sms", fault)
            elif path.startswith("/twilio/"):
                self._twilio(method, path[len("/twilio") :], url.query, body, fault)
            elif vendor:
                latency = self.state.latency.get("ats", 0.0)
                serve_vendor(self, self.state.vendors, method, path, query, body, fault, latency)
            elif path.startswith("/_sandbox/"):
                self._control(method, path[10:], query, body)
            else:
                self._send(404, {"message": f"no route {path}"})
        except BrokenPipeError:
            pass

    # -- HrFlow API ----------------------------------------------------------------------
    def _hrflow(self, method: str, route: str, query: dict[str, str], body: bytes) -> None:
        if self.headers.get("X-API-KEY") != API_SECRET or self.headers.get("X-USER-EMAIL") != API_USER:
            return self._envelope(401, "Unauthorized. Invalid secret key or user email.")
        if route == "auth":
            return self._envelope(200, "Authenticated", {"email": API_USER})
        for kind, (plural, container_field, containers_param) in SandboxState.KINDS.items():
            if route == f"{plural}/searching" and method == "GET":
                return self._search(kind, plural, containers_param, query)
            if route == f"storing/{plural}" and method == "GET":
                return self._storing_list(kind, plural, containers_param, query)
            if route == f"{kind}/indexing" and method == "GET":
                return self._get_one(kind, query.get(container_field), query.get("key"))
            if route == f"{kind}/indexing" and method == "PUT":
                return self._put_one(kind, container_field, msgspec.json.decode(body or b"{}"))
        self._envelope(404, f"Unknown endpoint {route}")

    def _listing_refusal(
        self, kind: str, containers: list[str], containers_param: str, limit: int, page: int = 1
    ) -> str | None:
        """Return HrFlow's 400 message for a listing of unknown containers, an oversized or too deep page, else None."""
        unknown = [c for c in containers if c not in self.state.objects[kind]]
        if unknown:
            return f"Invalid parameters. Unable to find object: {containers_param[:-1]} {unknown[0]}"
        if limit > 1000:
            return "Invalid parameters: limit must be <= 1000"
        cap = self.state.max_result_window
        if cap is not None and page * limit > cap:
            with self.state.lock:
                self.state.calls["refused: result window"] += 1
            return f"Invalid parameters: page * limit must be <= {cap}"
        return None

    def _search(self, kind: str, plural: str, containers_param: str, query: dict[str, str]) -> None:
        try:
            containers = json.loads(query[containers_param])
            params = {k: json.loads(v) if k.startswith("tags_") else v for k, v in query.items()}
            page, limit = int(query.get("page", 1)), int(query.get("limit", 30))
        except (KeyError, ValueError) as exc:
            return self._envelope(400, f"Invalid parameters: {exc}")
        if (refusal := self._listing_refusal(kind, containers, containers_param, limit, page)) is not None:
            return self._envelope(400, refusal)
        if (fast := self.state.fast_listing(kind, containers, params, page, limit, search=True)) is not None:
            page_items, total = fast
        else:
            found = self.state.search(kind, containers, params)
            total = len(found)
            page_items = found[(page - 1) * limit : page * limit]
        meta = {"page": page, "maxPage": max(1, -(-total // limit)), "count": len(page_items), "total": total}
        self._envelope(200, f"Succeeded to get {plural}", {plural: page_items}, meta)

    def _storing_list(self, kind: str, plural: str, containers_param: str, query: dict[str, str]) -> None:
        """``GET /storing/<plural>``: every stored object, eligible for search or not; ``data`` is a list."""
        try:
            containers = json.loads(query[containers_param])
            page, limit = int(query.get("page", 1)), int(query.get("limit", 30))
            low, high = self.state.created_bounds(query)
        except (KeyError, ValueError) as exc:
            return self._envelope(400, f"Invalid parameters: {exc}")
        if (refusal := self._listing_refusal(kind, containers, containers_param, limit, page)) is not None:
            return self._envelope(400, refusal)
        sort_by = query.get("sort_by", "created_at")
        if (fast := self.state.fast_listing(kind, containers, query, page, limit, search=False)) is not None:
            items, total = fast
        else:
            with self.state.lock:
                found = [
                    o
                    for c in containers
                    for o in self.state.objects[kind].get(c, {}).values()
                    if (low is None or _parse_date(o["created_at"]) >= low)
                    and (high is None or _parse_date(o["created_at"]) <= high)
                ]
            found.sort(
                key=lambda o: (_sort_date(o.get(sort_by)), o["key"]), reverse=query.get("order_by", "desc") != "asc"
            )
            total = len(found)
            items = found[(page - 1) * limit : page * limit]
        if str(query.get(f"return_{kind}", "")).lower() not in ("1", "true"):
            items = [{f: o.get(f) for f in ("key", "reference", "created_at", "updated_at")} for o in items]
        meta = {"page": page, "maxPage": max(1, -(-total // limit)), "count": len(items), "total": total}
        self._envelope(200, f"List of {plural}", items, meta)

    def _get_one(self, kind: str, container: str | None, key: str | None) -> None:
        if container not in self.state.objects[kind]:
            return self._envelope(
                400, f"Invalid parameters. Unable to find object: {'source' if kind == 'profile' else 'board'}"
            )
        obj = self.state.objects[kind][container].get(key or "")
        if obj is None:
            return self._envelope(400, f"Invalid parameters. Unable to find object: {kind}")
        if key in self.state.edit_after_read:  # the answer shows the object as it was; the edit lands before any PUT
            self.state.edit_after_read.discard(key)
            answer = copy.deepcopy(obj)
            self.state.third_party_edit(key, delay=0)
            return self._envelope(200, f"{kind} retrieved", answer)
        self._envelope(200, f"{kind} retrieved", obj)

    def _put_one(self, kind: str, container_field: str, obj: dict) -> None:
        container, key = obj.get(container_field), obj.get("key")
        with self.state.lock:
            if key not in self.state.objects[kind].get(container, {}):
                return self._envelope(400, f"Invalid parameters. Unable to find object: {kind}")
            stored = dict(obj)  # source_key/board_key stay on the object, as on the real API
            stored["updated_at"] = _now()
            self.state.objects[kind][container][key] = stored
            self.state.edits[key] += 1
            self.state.version += 1
        self._envelope(200, f"{kind} edited", stored)

    # -- Twilio ------------------------------------------------------------------------
    def _twilio(self, method: str, route: str, query: str, body: bytes, fault: Fault | None) -> None:
        """
        Twilio's Message resource, as its API reference describes it
        (https://www.twilio.com/docs/messaging/api/message-resource): HTTP basic auth with the Account SID (or an
        API key SID) and the Auth Token; ``POST /2010-04-01/Accounts/{Sid}/Messages.json`` form-encoded with
        ``To``, ``From`` or ``MessagingServiceSid``, ``Body``, answered 201 with the message resource;
        ``GET .../Messages.json`` lists them newest first, filtered by ``To`` and by ``DateSent`` /
        ``DateSent<`` / ``DateSent>`` (the GMT date ``YYYY-MM-DD`` only: on, on or before, on or after that day),
        ``PageSize`` up to 1000 (https://www.twilio.com/docs/messaging/api/message-resource#read-multiple-message-
        resources); ``GET /2010-04-01/Accounts/{Sid}.json`` is the account. A created message is ``queued`` with
        ``date_sent`` null, "the date that the message was sent from Twilio's platform": it is sent (status
        ``sent``, ``date_sent`` set) ``twilio_send_after`` seconds later, so a DateSent filter cannot see it
        before. Errors are ``{code, message, more_info, status}``; the magic test numbers of Twilio's
        test credentials give 21211 / 21610 / 21614 (To) and 21212 / 21606 (From).
        """
        import base64

        auth = self.headers.get("Authorization", "")
        try:
            user, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            user = password = ""
        if not auth.startswith("Basic ") or user != TWILIO_ACCOUNT_SID or password != TWILIO_AUTH_TOKEN:
            return self._send(
                401, _twilio_error(20003, "Authenticate", 401), {"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
        account = f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}"
        if route == f"{account}.json" and method == "GET":
            return self._send(200, {"sid": TWILIO_ACCOUNT_SID, "status": "active", "type": "Full"})
        if route != f"{account}/Messages.json":
            return self._send(404, _twilio_error(20404, f"The requested resource {route} was not found", 404))
        if method == "GET":
            return self._twilio_list(account, parse_qs(query))
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        to, sender, service, text = form.get("To"), form.get("From"), form.get("MessagingServiceSid"), form.get("Body")
        if not to:
            return self._send(400, _twilio_error(21604, "A 'To' phone number is required.", 400))
        if not (sender or service):
            return self._send(
                400, _twilio_error(21603, "A 'From' phone number or MessagingServiceSid is required.", 400)
            )
        if not text:
            return self._send(400, _twilio_error(21602, "Message body is required.", 400))
        if to in TWILIO_MAGIC_TO or not re.fullmatch(r"\+[1-9]\d{6,14}", to):
            code, message = TWILIO_MAGIC_TO.get(to, (21211, f"The 'To' number {to} is not a valid phone number."))
            return self._send(400, _twilio_error(code, message, 400))
        if sender in TWILIO_MAGIC_FROM:
            code, message = TWILIO_MAGIC_FROM[sender]
            return self._send(400, _twilio_error(code, message, 400))
        now = datetime.now(timezone.utc)
        with self.state.lock:
            sid = "SM" + hashlib.sha1(f"{len(self.state.twilio_messages)}/{to}/{text}".encode()).hexdigest()[:32]
            message = {
                "sid": sid,
                "account_sid": TWILIO_ACCOUNT_SID,
                "to": to,
                "from": sender,
                "messaging_service_sid": service,
                "body": text,
                "status": "queued",
                "direction": "outbound-api",
                "date_created": now.strftime("%a, %d %b %Y %H:%M:%S +0000"),
                "date_updated": now.strftime("%a, %d %b %Y %H:%M:%S +0000"),
                "date_sent": None,  # queued: not sent yet
                "num_segments": "1",
                "num_media": "0",
                "error_code": None,
                "error_message": None,
                "price": None,
                "price_unit": "USD",
                "api_version": "2010-04-01",
                "uri": f"{account}/Messages/{sid}.json",
                "subresource_uris": {},
            }
            self.state.twilio_messages.append(message)
            self.state.sms.received_at.append(time.time())
            self.state.sms.bodies.append({"text": text, "to": to, "via": "twilio"})
        if not self._after_apply(fault):  # accepted and queued by Twilio, whatever answer follows
            self._send(201, message)

    def _twilio_list(self, account: str, params: dict[str, list[str]]) -> None:
        """Answer one page of the Message list, newest first, after sending the messages whose time has come."""
        now = datetime.now(timezone.utc)
        day = {op: (params.get(f"DateSent{op}") or [None])[0] for op in ("", "<", ">")}
        to = (params.get("To") or [None])[0]
        size = min(int((params.get("PageSize") or ["50"])[0]), 1000)
        page = int((params.get("Page") or ["0"])[0])
        with self.state.lock:
            for m in self.state.twilio_messages:
                created = parsedate_to_datetime(m["date_created"])
                if m["date_sent"] is None and (now - created).total_seconds() >= self.state.twilio_send_after:
                    m["status"], m["date_sent"] = "sent", now.strftime("%a, %d %b %Y %H:%M:%S +0000")
                    m["date_updated"] = m["date_sent"]
            found = [m for m in self.state.twilio_messages[::-1] if to in (None, m["to"]) and _sent_on(m, day)]
            chunk = [dict(m) for m in found[page * size : (page + 1) * size]]
        more = (page + 1) * size < len(found)
        base = f"{account}/Messages.json?{urlencode({k: v[-1] for k, v in params.items() if k != 'Page'})}"
        self._send(
            200,
            {
                "messages": chunk,
                "end": page * size + max(len(chunk) - 1, 0),
                "first_page_uri": f"{base}&Page=0",
                "next_page_uri": f"{base}&Page={page + 1}" if more else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": f"{base}&Page={page - 1}" if page else None,
                "start": page * size,
                "uri": f"{base}&Page={page}",
            },
        )

    # -- ATS / SMS receivers ------------------------------------------------------------
    def _receiver(self, area: Area, api_key: str, body: bytes, name: str, fault: Fault | None) -> None:
        if self.headers.get("X-API-KEY") != api_key:
            return self._send(401, {"error": "invalid X-API-KEY"})
        if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
            return self._send(415, {"error": "Content-Type must be application/json"})
        idem = self.headers.get("Idempotency-Key")
        if not idem:
            return self._send(400, {"error": "Idempotency-Key header is required"})
        try:
            payload = json.loads(body)
        except ValueError:
            return self._send(400, {"error": "body is not JSON"})
        with self.state.lock:
            area.requests += 1
            honour = self.state.sms_honours_idempotency if name == "sms" else self.state.honour_idempotency
            if honour and idem in area.responses:
                area.replays += 1
                status, response = area.responses[idem]
                return self._send(status, response, {"Idempotent-Replayed": "true"})
            status, response = self._apply(area, name, payload)
            area.responses[idem] = (status, response)
            hold, self.state.hold = (self.state.hold, None) if name != "sms" else (None, self.state.hold)
        if 200 <= status < 300 and (hold is not None or (fault and (fault.lose_response or fault.applied_status))):
            with self.state.lock:  # applied, and the caller will not hear so: a retry may bring it again
                area.unanswered.update(r["hrflow_key"] for r in payload.get(name, []) if isinstance(r, dict))
        if hold is not None:  # applied; the answer waits for the test (which kills the task meanwhile)
            hold["held"].set()
            hold["release"].wait(300)
        if not self._after_apply(fault):
            self._send(status, response)

    def _apply(self, area: Area, name: str, payload: Any) -> tuple[int, dict]:
        if name == "sms":
            if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
                return 422, {"error": 'body must be {"text": string}'}
            area.bodies.append(payload)
            area.received_at.append(time.time())
            area.applied[payload["text"]] += 1
            return 201, {"status": "queued"}
        records = payload.get(name) if isinstance(payload, dict) else None
        if not isinstance(records, list) or not all(isinstance(r, dict) and r.get("hrflow_key") for r in records):
            return 422, {"error": f'body must be {{"{name}": [records with hrflow_key]}}'}
        mode = payload.get("mode")
        if mode not in (None, "upsert"):
            return 422, {"error": f"mode must be 'upsert' when given, got {mode!r}"}
        # per-record validation; a refused batch applies nothing (the wire format, docs/destinations.md)
        refused = {r["hrflow_key"]: reason for r in records if (reason := self._refusal(r))}
        if refused:
            body: dict[str, Any] = {"error": "validation failed"}
            if self.state.ats_name_refusals:
                body["errors"] = [{"hrflow_key": key, "message": reason} for key, reason in refused.items()]
            else:
                body["error"] = f"validation failed: {next(iter(refused.values()))}"
            return 422, body
        if mode == "upsert":  # each record replaces the fields it carries of the record with its hrflow_key
            for record in records:
                area.updates[record["hrflow_key"]] += 1
                if self.state.keep_bodies:
                    area.current.setdefault(record["hrflow_key"], {}).update(record)
            return 200, {"updated": len(records)}
        if self.state.keep_bodies:
            area.bodies.append(payload)
        for record in records:
            area.applied[record["hrflow_key"]] += 1
            if self.state.keep_bodies:
                area.current[record["hrflow_key"]] = dict(record)
        if self.state.on_ats_post:
            self.state.on_ats_post(name, records)
        for record in records:
            if record["hrflow_key"] in self.state.edit_on_arrival:
                self.state.edit_on_arrival.discard(record["hrflow_key"])
                threading.Thread(target=self.state.third_party_edit, args=(record["hrflow_key"],), daemon=True).start()
        return 200, {"accepted": len(records)}

    def _refusal(self, record: dict) -> str | None:
        """Return why the ATS refuses ``record`` (echoing the bad value, as real ATSs do), or None."""
        if record["hrflow_key"] in self.state.ats_reject_keys:
            return self.state.ats_reject_keys[record["hrflow_key"]]
        email = record.get("email")
        if isinstance(email, str) and email and "@" not in email:
            return f"field 'email' is invalid: '{email}' is not an email address"
        return None

    # -- control plane ------------------------------------------------------------------
    def _control(self, method: str, route: str, query: dict[str, str], body: bytes) -> None:
        data = json.loads(body) if body else {}
        if route == "state":
            return self._send(200, self.state.snapshot())
        if route == "health":
            return self._send(200, {"ok": True})
        if route == "inbox":
            return self._send_raw(200, self.state.inbox_html().encode(), {"Content-Type": "text/html; charset=utf-8"})
        if method != "POST":
            return self._send(405, {"error": "POST only"})
        if route == "reset":
            self.state.reset()
            return self._send(200, {"ok": True})
        if route == "seed":
            keys = self.state.seed(
                data.get("kind", "profile"),
                data["container"],
                int(data["count"]),
                start=int(data.get("start", 0)),
                tags=data.get("tags"),
                created_at=data.get("created_at"),
                spread_seconds=int(data.get("spread_seconds", 0)),
                generated=bool(data.get("generated")),
            )
            if data.get("generated"):  # a million-object run: count what the receivers applied, keep no bodies
                self.state.keep_bodies = False
            return self._send(200, {"keys": keys})
        if route == "calls":  # request counts without the (large) synced and applied lists of "state"
            with self.state.lock:
                return self._send(
                    200, {"calls": dict(self.state.calls), "max_in_flight": dict(self.state.max_in_flight)}
                )
        if route == "edit":  # {"kind", "container", "every": n}: a recruiter renames every n-th object (by index)
            kind, container, every = data.get("kind", "profile"), data["container"], int(data["every"])
            with self.state.lock:
                keys = list(self.state.objects[kind][container])[:: max(1, every)]
            for key in keys:
                self.state.update(kind, container, key, lambda o: _holder(o).update(last_name="Edited"))
            return self._send(200, {"keys": len(keys)})
        if route == "updates":  # {"ats": "profiles"}: upserts the JSON receiver applied, and their keys' count
            area = self.state.ats_area(data.get("ats", "profiles"))
            with self.state.lock:
                return self._send(200, {"updates": sum(area.updates.values()), "keys": len(area.updates)})
        if route == "exactly_once":  # {"kind", "container", "ats"}: counts computed here, not a 100 MB snapshot
            return self._send(
                200,
                self.state.exactly_once(data.get("kind", "profile"), data["container"], data.get("ats", "profiles")),
            )
        if route == "faults":
            with self.state.lock:
                self.state.faults.extend(Fault(**f) for f in data.get("faults", []))
            return self._send(200, {"ok": True})
        if route == "edit_on_arrival":
            with self.state.lock:
                self.state.edit_on_arrival.update(data.get("keys", []))
            return self._send(200, {"ok": True})
        if route == "latency":
            self.state.latency.update({k: float(v) for k, v in data.items()})
            return self._send(200, self.state.latency)
        if route == "receiver":  # {"honour_idempotency": false}: an ATS that ignores Idempotency-Key
            self.state.honour_idempotency = bool(data.get("honour_idempotency", True))
            return self._send(200, {"honour_idempotency": self.state.honour_idempotency})
        if route == "date_filters":  # {"date_only": true}: created_at_min / _max honoured by their date only
            self.state.date_only_filters = bool(data.get("date_only"))
            return self._send(200, {"date_only": self.state.date_only_filters})
        if route == "result_window":  # {"max_result_window": 10000 | null}
            self.state.max_result_window = data.get("max_result_window")
            return self._send(200, {"max_result_window": self.state.max_result_window})
        if route == "hold":  # arm: the next ATS POST is applied, its answer held until /_sandbox/release
            self.state.hold_next_ats_answer()
            return self._send(200, {"ok": True})
        if route == "release":
            with self.state.lock:
                holds = list(self.state.holds)
            for hold in holds:
                hold["release"].set()
            return self._send(200, {"released": len(holds)})
        self._send(404, {"error": f"unknown control route {route}"})


def sandbox_connections(base_url: str) -> dict[str, dict[str, Any]]:
    """Return Airflow connection definitions (``AIRFLOW_CONN_*`` JSON) for a sandbox at ``base_url``."""
    return {
        "hrflow_default": {
            "conn_type": "hrflow",
            "host": f"{base_url}/v1",
            "login": API_USER,
            "password": API_SECRET,
            "extra": {"webhook_secret": WEBHOOK_SECRET},
        },
        # the types the UI form registers; ats_jobs_default keeps the older `http` type, which works the same
        "ats_default": {
            "conn_type": "hrflow_ats",
            "host": f"{base_url}/ats/profiles",
            "password": ATS_API_KEY,
            "extra": {"timeout": 5},
        },
        "ats_jobs_default": {
            "conn_type": "http",
            "host": f"{base_url}/ats/jobs",
            "password": ATS_API_KEY,
            "extra": {"timeout": 5},
        },
        "sms_default": {
            "conn_type": "hrflow_messaging",
            "host": f"{base_url}/sms",
            "password": SMS_API_KEY,
            "extra": {"timeout": 5},
        },
    }


def twilio_connection(base_url: str, to: str = "+33612345678", **extra: Any) -> dict[str, Any]:
    """Return a ``twilio`` connection to the sandbox's Twilio emulator, sending to ``to``."""
    return {
        "conn_type": "twilio",
        "host": f"{base_url}/twilio",
        "login": TWILIO_ACCOUNT_SID,
        "password": TWILIO_AUTH_TOKEN,
        "extra": {"from": TWILIO_FROM, "to": to, "timeout": 5, **extra},
    }


def alert_connection(base_url: str, phone: str) -> dict[str, Any]:
    """Return the ``hrflow_alert`` connection: the sandbox's messaging service, sending to ``phone``."""
    return {**sandbox_connections(base_url)["sms_default"], "extra": {"phone": phone}}


class SandboxServer(ThreadingHTTPServer):
    """The sandbox HTTP server; ``state`` is shared with in-process callers."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state: SandboxState | None = None) -> None:
        super().__init__((host, port), _Handler)
        self.state = state or SandboxState()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that hang up (timeouts, dropped responses); report real bugs."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start_in_thread(self) -> SandboxServer:
        threading.Thread(target=self.serve_forever, name="sandbox", daemon=True).start()
        return self

    def connections(self) -> dict[str, dict[str, Any]]:
        return sandbox_connections(self.url)

    def airflow_env(self) -> dict[str, str]:
        """Return the ``AIRFLOW_CONN_*`` environment variables for :meth:`connections`."""
        return {f"AIRFLOW_CONN_{cid.upper()}": json.dumps(conn) for cid, conn in self.connections().items()}
