"""
The emulated ATS accounts every vendor emulator keeps: one :class:`VendorAts` per emulator (its candidates and what
its rate limiter saw), all of them held by :class:`Vendors` under one lock, and what the emulators share to answer
(:func:`read_json`, :func:`finish`, :data:`EMAIL`, :class:`Window`, :func:`earlier`).

Which accounts there are is the caller's to say (``SandboxState`` makes one per entry of ``sandbox/registry.py``):
this module knows no emulator. What one vendor keeps besides (Greenhouse's access tokens and scopes, Lever's
contacts and token bucket, Ashby's applications) lives on its own account, a subclass defined in its module.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

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
    recent: deque = field(default_factory=deque)  # a rolling window's requests (Greenhouse)
    received_at: list = field(default_factory=list)  # time.time() of every request (rate checks)
    # search indexes refresh after a write: a lookup sees a record this many seconds after its create (set per
    # vendor by the contract suite and the tests; "not found" right after a lost answer is not "not created")
    lookup_lag: float = 0.0
    made_at: dict = field(default_factory=dict)  # candidate id -> time.time() of its create
    strangers: set = field(default_factory=set)  # ids of records the account held before the sync (not ours)
    # the whole candidate (issue 47): the jobs the account has (their ids are the HrFlow jobs' references, as on
    # boards a connector fills from the ATS), the files each record holds, the jobs each record applied to, and
    # the custom fields of candidates it defines
    jobs: set = field(default_factory=lambda: {"job-1", "job-2", "job-3"})
    files: dict = field(default_factory=dict)  # record id -> [{"id", "name", "url", "data", "type"}]
    applied: dict = field(default_factory=dict)  # record id -> [job id, ...]
    custom_fields: dict = field(default_factory=lambda: {"salary_expectation": "text", "hrflow_score": "number"})
    custom_values: dict = field(default_factory=dict)  # record id -> {custom field name: value}

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

    def add_file(self, record_id: str, name: str, *, url: str | None = None, data: bytes | None = None) -> str:
        """Keep a file on record ``record_id`` (a URL the ATS fetches, or the bytes received); return its id."""
        files = self.files.setdefault(str(record_id), [])
        file_id = f"file-{sum(len(f) for f in self.files.values())}"
        files.append({"id": file_id, "name": name, "url": url, "data": data, "type": "resume"})
        return file_id

    def apply(self, record_id: str, job_id: str) -> bool:
        """Apply record ``record_id`` to job ``job_id``; return False when the account has no such job."""
        if str(job_id) not in self.jobs:
            return False
        self.applied.setdefault(str(record_id), []).append(str(job_id))
        return True

    def record_email(self, record_id: str) -> str:
        """Return the email of the record ``record_id`` belongs to (a candidate's; overridden where records differ)."""
        return self.email(self.candidates.get(str(record_id)) or {})

    def cvs_by_email(self) -> dict[str, int]:
        """Return how many CV files the account holds per email, over every record of that email."""
        return dict(Counter(self.record_email(rid) for rid, files in self.files.items() for _ in files))

    def jobs_by_email(self) -> dict[str, list[str]]:
        """Return the jobs applied to per email, over every record of that email, sorted."""
        jobs: dict[str, list[str]] = {}
        for rid, applied in self.applied.items():
            jobs.setdefault(self.record_email(rid), []).extend(applied)
        return {email: sorted(found) for email, found in jobs.items()}

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
    The emulated vendor accounts, guarded by one lock: each account given, as ``vendors.<its name>``
    (``SandboxState`` gives one per emulator of ``sandbox/registry.py``).
    """

    def __init__(self, accounts: Iterable[VendorAts]) -> None:
        self.lock = threading.Lock()
        accounts = list(accounts)
        self.names = tuple(account.name for account in accounts)
        for account in accounts:
            setattr(self, account.name, account)

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


def first_value(field_name: str) -> Callable[[dict], str]:
    """Return a reader of the first ``value`` of a candidate's list field (``email_addresses``: its email)."""

    def email(candidate: dict) -> str:
        return next((str(e.get("value")) for e in candidate.get(field_name) or [] if isinstance(e, dict)), "")

    return email


def read_json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def finish(handler: Any, status: int, payload: Any, headers: dict[str, str], fault: Any) -> None:
    """Answer a request that was applied, unless a fault drops the answer or a gateway's 5xx replaces it."""
    if not handler._after_apply(fault):
        handler._send(status, payload, headers)


def earlier(days: int = 30) -> float:
    """Return the time ``days`` days ago: when a record the account already held was made."""
    return time.time() - days * 86400
