"""
The sandbox's state: the objects each emulator holds, what each receiver got, and the faults to inject
(:mod:`sandbox.faults`).
"""

from __future__ import annotations

import copy
import functools
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sandbox.accounts import Vendors
from sandbox.faults import Fault
from sandbox.files import DEFAULT_SIZE, CvFiles, attachments
from sandbox.generated import GeneratedBucket
from sandbox.listings import Listings
from sandbox.object_fields import now, parse_date, synced_keys, tag_pairs
from sandbox.objects import make_job, make_key, make_profile
from sandbox.registry import VENDORS
from sandbox.webhooks import WebhookSender


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


class SandboxState(Listings):
    """All the sandbox data, guarded by one lock; its listings are :class:`~sandbox.listings.Listings`."""

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
            self.slack_messages: list[dict] = []  # what the Slack webhook posted (sandbox/slack.py), oldest first
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
            self.cv_files = CvFiles()  # the CVs profiles' attachments point to (sandbox/files.py)
            self.vendors = Vendors(vendor.account() for vendor in VENDORS)  # one per emulator (sandbox/registry.py)
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
        files = getattr(self, "files_url", None)  # set by the server: the CVs' public_url lead to it
        maker = functools.partial(make_profile, realistic=realistic, files_url=files) if kind == "profile" else make_job
        base = parse_date(created_at) if created_at else datetime.now(timezone.utc)
        if generated:
            if start or tags:
                raise ValueError("a generated container starts at index 0 without tags")
            bucket = GeneratedBucket(
                functools.partial(make_profile, share=True, realistic=realistic, files_url=files)
                if kind == "profile"
                else maker,
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
            self.objects[kind][container][key]["archived_at"] = now()
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
            obj["updated_at"] = now()
            bucket[key] = obj  # a generated bucket keeps what changed
            self.version += 1

    def replace_cv(self, container: str, key: str) -> None:
        """Replace a profile's CV as a re-upload in HrFlow does: a new file (version), ``alt`` and ``updated_at``."""
        with self.lock:
            current = self.objects["profile"][container][key]["attachments"][0]["public_url"]
        version, stamp = int(current.rsplit("-v", 1)[1].removesuffix(".pdf")) + 1, now()

        def change(profile: dict) -> None:
            profile["attachments"] = attachments(
                key,
                getattr(self, "files_url", None),
                version=version,
                updated_at=stamp,
                size=self.cv_files.sizes.get(key, DEFAULT_SIZE),
            )
            profile["updated_at"] = stamp

        self.update("profile", container, key, change)

    def third_party_edit(self, key: str, delay: float = 0.05) -> None:
        """Edit an object the way a recruiter would, shortly after the sync posted it: tag and summary change."""
        time.sleep(delay)
        with self.lock:
            for containers in self.objects.values():
                for objs in containers.values():
                    if key in objs:
                        obj = objs[key]
                        obj["tags"] = (obj.get("tags") or []) + [{"name": "stage", "value": "interview"}]
                        mapped = obj.get("info", obj)
                        mapped["summary"] = f"{mapped.get('summary')} [edited by recruiter]"
                        obj["updated_at"] = now()
                        objs[key] = obj
                        self.version += 1
                        self.third_party_edits.add(key)

    def edit_survived(self, key: str) -> bool:
        """Return True if object ``key`` still carries what :meth:`third_party_edit` wrote: its tag and summary."""
        for containers in self.objects.values():
            for objs in containers.values():
                if key in objs:
                    obj = objs[key]
                    edited = "[edited by recruiter]" in str(obj.get("info", obj).get("summary"))
                    return ("stage", "interview") in tag_pairs(obj) and edited
        return False

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
                kind: sorted(k for c in conts.values() for k in synced_keys(c)) for kind, conts in self.objects.items()
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
                "clobbered": sorted(k for k in self.third_party_edits if not self.edit_survived(k)),
            }

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

    def exactly_once(self, kind: str, container: str, ats: str) -> dict[str, int]:
        """Return lost / duplicated / untagged / edited-twice counts over every object of ``container``.

        Also the ATS's raw request and replay counts, and how the duplicated keys compare with those of the batches
        it applied without the caller hearing so (the only ones a key-ignoring ATS may receive twice).
        """
        with self.lock:
            keys = list(self.objects[kind].get(container, {}))
            area = self.ats_area(ats)
            applied = area.applied
            synced = set(synced_keys(self.objects[kind].get(container, {})))
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
