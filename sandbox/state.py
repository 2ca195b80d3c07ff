"""The sandbox's state: the objects each emulator holds, what each receiver got, and the faults to inject."""

from __future__ import annotations

import copy
import functools
import html
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sandbox.generated import GeneratedBucket
from sandbox.objects import (
    _edit_survived,
    _has_all,
    _now,
    _parse_date,
    _synced_keys,
    make_job,
    make_key,
    make_profile,
    searchable,
)
from sandbox.vendors import Vendors
from sandbox.webhooks import WebhookSender


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
    removed: Counter = field(default_factory=Counter)  # hrflow_key -> archive/delete requests applied
    removed_how: dict = field(default_factory=dict)  # hrflow_key -> "archive" | "delete"


class SandboxState:
    """All the sandbox data, guarded by one lock."""

    KINDS = {"profile": ("profiles", "source_key", "source_keys"), "job": ("jobs", "board_key", "board_keys")}

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        for hold in getattr(self, "holds", []):  # nobody waits on an answer across a reset
            hold["release"].set()
        if getattr(self, "webhook", None) is not None:
            self.webhook.stop()
        with self.lock:
            self.objects: dict[str, dict[str, dict[str, dict]]] = {"profile": {}, "job": {}}
            self.version = 0
            self.search_cache: dict[tuple, list] = {}
            self.faults: list[Fault] = []
            self.empty_storing_listing = False  # a glitch: the storing listing answers 200 with nothing in it
            self.faults_fired = 0
            self.faults_by_kind: Counter = Counter()  # "http_503", "lost_answer", "slow_apply", "delay", "non_json"
            self.latency = {"hrflow": 0.0, "ats": 0.0, "sms": 0.0}
            self.calls: Counter = Counter()
            self.request_log: list[tuple[float, str]] = []  # (time.time(), "METHOD /path") of every request
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
            # no Idempotency-Key help unless a test asks for it (True: the JSON receiver replays a repeated key, as
            # its wire format requires); vendor emulators never replay: the real APIs have no such key
            self.honour_idempotency = False
            self.sms_honours_idempotency = False  # SMS gateways ignore it; True: one that replays a repeated key
            # a refused batch names its refused records ({"errors": [{"hrflow_key", "message"}]}); False: it
            # says only "validation failed", as an endpoint that does not follow the optional shape would
            self.ats_name_refusals = True
            self.hold: dict[str, threading.Event] | None = None  # see hold_next_ats_answer()
            self.holds: list[dict[str, threading.Event]] = []  # every hold armed since the reset
            self.vendors = Vendors()  # SmartRecruiters and Workable accounts (sandbox/vendors.py)
            self.webhook: WebhookSender | None = None  # HrFlow's webhook after each PUT (sandbox/webhooks.py)
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
        realistic: bool = False,
    ) -> list[str]:
        """
        Add ``count`` objects to ``container``, ``spread_seconds`` apart from ``created_at``.

        ``generated``: the container becomes a :class:`GeneratedBucket` (objects made from their index on
        read, a million in a few hundred MB), replacing what it held; keys are not returned.
        """
        maker = functools.partial(make_profile, realistic=realistic) if kind == "profile" else make_job
        base = _parse_date(created_at) if created_at else datetime.now(timezone.utc)
        if generated:
            if start or tags:
                raise ValueError("a generated container starts at index 0 without tags")
            bucket = GeneratedBucket(
                functools.partial(make_profile, share=True, realistic=realistic) if kind == "profile" else maker,
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

    def archive(self, kind: str, container: str, key: str) -> None:
        """Archive an object as HrFlow's "Archive a Profile/Job" does: still readable by key, with ``archived_at``,
        gone from the listings (https://developers.hrflow.ai/reference, "Archive a Profile in a Source")."""
        with self.lock:
            self.objects[kind][container][key]["archived_at"] = _now()
            self.version += 1

    def delete(self, kind: str, container: str, key: str) -> None:
        """Delete an object (a purge, an erasure): reading it by key is then HrFlow's "Unable to find object"."""
        with self.lock:
            del self.objects[kind][container][key]
            self.version += 1

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
                if self.indexed_at.get(o["key"], 0) <= now
                and (kind != "profile" or searchable(o))
                and not o.get("archived_at")
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
