"""
The client base of the ATS adapters whose API creates one candidate per request and offers a lookup by email
(SmartRecruiters, Workable, ...): connection, auth header, limits, requests, create, find and update. It only
speaks HTTP: exactly once is :class:`~hrflow_airflow.destinations.per_object.PerObjectDestination`'s, built
from this client.

Requests are paced to the destination's documented limits (shared by the tasks of a run that may post at
once), slowed further when the rate-limit headers say the window is used up, and a 429 waits for
``Retry-After`` or the window's reset before it is retried (:func:`hrflow_airflow.hooks.http.send`).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import Any

import requests

from hrflow_airflow.candidate import APPLICATIONS, custom_values
from hrflow_airflow.destinations.base import AtsAuthError, nest
from hrflow_airflow.destinations.records import LookupRecords
from hrflow_airflow.destinations.whole import WholeCandidate
from hrflow_airflow.errors import BadConfigError, RefusedError, TransientError
from hrflow_airflow.hooks.http import RateLimiter, RetryPolicy, one_request
from hrflow_airflow.hooks.json_api import JsonApiHook
from hrflow_airflow.mapping import RECORD_KEY

log = logging.getLogger(__name__)


class CandidateApiHook(WholeCandidate, LookupRecords, JsonApiHook):
    """
    Base of the adapters whose ATS creates one candidate per request and offers a lookup by email.

    Subclasses set the class attributes below and implement :meth:`auth_headers`, :meth:`create_request`,
    :meth:`created_id` and :meth:`lookup_request`; and, where their records differ from a flat candidate,
    :meth:`listed`, :meth:`emails_of`, :meth:`tags_of`, :meth:`created_of` and :meth:`mark`.
    """

    conn_name_attr = "ats_conn_id"
    default_conn_name = "ats_default"
    auth_error = AtsAuthError
    name = "ats"
    kinds = frozenset({"profile"})
    default_host: str | None = None
    # documented limits, per API key
    rate_limit = 10  # requests ...
    rate_interval = 1.0  # ... per this many seconds
    concurrency = 1  # requests in flight at once, per key
    lookup_concurrency = 1  # lookups in flight at once
    # rate-limit response headers: (remaining, reset); reset None: the window is rate_interval long
    remaining_header = "X-RateLimit-Remaining"
    reset_header: str | None = None
    limit_header: str | None = None  # the header stating the window's size: paced from it once an answer has it
    email_field = "email"  # the record field holding the email used for lookups
    lookups_per_key_serial = False  # the vendor allows one lookup at a time per key, across every process
    profile_field_map: dict[str, str] = {}

    def __init__(
        self,
        *,
        ats_conn_id: str = default_conn_name,
        conn_id: str | None = None,
        retry: RetryPolicy | None = None,
        lanes: int = 1,
        logger_name: str | None = None,
    ) -> None:
        self.lanes = max(1, lanes)  # delivering tasks of the run that share this key's limits
        super().__init__(
            conn_id=conn_id or ats_conn_id,
            retry=retry or RetryPolicy(backoff=1.0, max_delay=60.0),
            logger_name=logger_name,
        )
        self.ats_conn_id = self.conn_id

    @property
    def service(self) -> str:  # type: ignore[override]
        return self.name

    @property
    def pool_size(self) -> int:  # type: ignore[override]
        return self.max_concurrency + 1

    def paced(self, lanes: int) -> CandidateApiHook:
        """Return this client with a 1/``lanes`` share of the key's limits (itself when that is its share)."""
        if max(1, lanes) == self.lanes:
            return self
        return type(self)(ats_conn_id=self.ats_conn_id, retry=self.retry, lanes=lanes)

    @property
    def max_concurrency(self) -> int:
        """Return the requests this task may have in flight: its share of the documented concurrency."""
        return max(1, self.concurrency // self.lanes)

    # -- connection -------------------------------------------------------------------------------
    @property
    def ledger_key(self) -> str:
        return f"{self.ats_conn_id}/{self.name}"

    def default_field_map(self, kind_name: str) -> dict[str, str] | None:
        return dict(self.profile_field_map) if kind_name == "profile" else None

    def limits(self) -> tuple[int, float]:
        """Return the requests allowed per interval for this key: the documented ones, or extra ``rate_limit``."""
        raw = self.connection.extra_dejson.get("rate_limit")
        if raw in (None, ""):
            return self.rate_limit, self.rate_interval
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = 0
        if value <= 0:
            raise BadConfigError(
                f"Connection '{self.ats_conn_id}' extra 'rate_limit' must be a positive "
                f"number of requests per {self.rate_interval:g} s, got {raw!r}"
            )
        return value, self.rate_interval

    # -- what each ATS defines --------------------------------------------------------------------
    def auth_headers(self, secret: str) -> dict[str, str]:
        raise NotImplementedError

    def create_request(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Return the path and JSON body that create one candidate."""
        raise NotImplementedError

    def created_id(self, answer: Any) -> str | None:
        raise NotImplementedError

    def update_request(self, remote_id: str, body: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """Return the method, path and JSON body that update candidate ``remote_id`` with ``body``."""
        raise NotImplementedError

    def removal_request(self, remote_id: str, mode: str) -> tuple[str, str, dict[str, Any] | None] | str:
        """
        Return the method, path and JSON body (or None) that archive or delete (``mode``) candidate ``remote_id``,
        or why this ATS cannot (a string): the run reports it by key and keeps the record.
        """
        return f"{self.name}'s API has no candidate {mode}"

    def remove(self, remote_id: str, mode: str) -> str:
        """
        Archive or delete candidate ``remote_id`` (``"<name>:<id>"``); return "removed", "gone" (a 404: it was
        not there any more, which is done, not failed) or why it cannot be done ("unsupported: ...").
        Repeating a removal leaves the same state, so it is retried like a read.
        """
        request = self.removal_request(remote_id.removeprefix(f"{self.name}:"), mode)
        if isinstance(request, str):
            return f"unsupported: {request}"
        method, path, payload = request
        try:
            self.request(method, path, **({"json": payload} if payload is not None else {}))
        except RefusedError as exc:
            if exc.status in (404, 410):
                return "gone"
            raise
        return "removed"

    def already_exists(self, exc: RefusedError) -> bool:
        """Return True when a create was refused because the person exists (look them up: ours, or link)."""
        return False

    def refusal_before_send(self, record: Mapping[str, Any]) -> str | None:
        """Return why the ATS would refuse ``record`` for a field it requires (nothing is sent), or None."""
        return None

    # -- HTTP within the limits --------------------------------------------------------------------
    @cached_property
    def limiter(self) -> RateLimiter:
        limit, interval = self.limits()
        return RateLimiter(
            max(1, limit // self.lanes),
            interval,
            margin=0.1,
            remaining_header=self.remaining_header,
            reset_header=self.reset_header,
            limit_header=self.limit_header,
            share=self.lanes,
        )

    @cached_property
    def lookup_slots(self) -> threading.Semaphore:
        return threading.Semaphore(self.lookup_concurrency)

    @contextmanager
    def lookup_turn(self) -> Iterator[None]:
        """
        Hold a lookup slot: this task's share of ``lookup_concurrency``; where the vendor allows one lookup at a
        time per key (``lookups_per_key_serial``), also the key's lock in the ledger database, which every task
        process of every run shares (an in-process semaphore would let parallel lanes search at once).
        """
        with self.lookup_slots:
            if not self.lookups_per_key_serial:
                yield
                return
            from hrflow_airflow.ledger import LedgerHook

            secret = hashlib.sha256((self.connection.password or "").encode()).hexdigest()[:16]  # never the key
            with LedgerHook().exclusive(f"lookup:{self.name}:{secret}"):
                yield

    # -- create and look up -------------------------------------------------------------------------
    def body(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Return the candidate as this ATS wants it (dotted record fields nest)."""
        return nest(record)

    def job_of(self, record: Mapping[str, Any]) -> str | None:
        """Return the ATS job a create of ``record`` is made on (one record per job: its first job), or None."""
        applications = record.get(APPLICATIONS) or []
        return applications[0]["ats_job_id"] if self.one_record_per_job and applications else None

    def create_call(self, record: Mapping[str, Any], *, on_job: bool = True) -> tuple[str, dict[str, Any]]:
        """
        Return the path and body that create ``record``, carrying its object's marker (nothing is sent); where the
        vendor makes one record per job, on its first job (``on_job=False``: where it goes without one).
        """
        path, payload = self.create_request(self.body(record))
        if on_job and (job := self.job_of(record)):
            path, payload = self.job_create(path, payload, job)
        key = record.get(RECORD_KEY)
        return path, (self.mark(payload, str(key)) if key else payload)

    def create(self, record: Mapping[str, Any], call: tuple[str, dict[str, Any]] | None = None) -> str:
        """Create one candidate (``call``: its :meth:`create_call`, made already); return its id."""
        path, payload = call or self.create_call(record)
        answer = self.request("POST", path, json=payload, safe_to_repeat=False).json()
        remote_id = self.created_id(answer)
        if not remote_id:
            raise TransientError(f"{self.name} ({self.ats_conn_id}) answered the create without a candidate id")
        self.write_custom(str(remote_id), record)
        return str(remote_id)

    def update(self, remote_id: str, record: Mapping[str, Any]) -> None:
        """
        Update candidate ``remote_id`` (``"<name>:<id>"``, as the ledger and the ``ats_id`` tag keep it) with the
        fields ``record`` carries. An update sets values: repeated (a retry, a lost answer) it leaves the same
        candidate, so 5xx and connection errors are retried like reads.
        """
        method, path, payload = self.update_request(remote_id.removeprefix(f"{self.name}:"), self.body(record))
        self.request(method, path, json=payload)
        self.write_custom(remote_id.removeprefix(f"{self.name}:"), record)

    def write_custom(self, remote_id: str, record: Mapping[str, Any]) -> None:
        """
        Set the record's custom field values where the vendor takes them by calls of their own
        (:meth:`custom_requests`). The candidate stands whatever they answer: a refusal is logged by record, call and
        status (never the value), and the next update sets them again.
        """
        values = custom_values(record) if self.custom_fields else {}
        if not values:
            return
        try:
            with one_request(self.retry.attempts, own=True):
                calls = self.custom_requests(remote_id, values)  # may read the record's values first
        except AtsAuthError:
            raise
        except (RefusedError, TransientError) as exc:
            calls = []
            self.custom_not_set(remote_id, "GET", "(its custom field values)", exc)
        for method, path, payload in calls:
            try:
                with one_request(self.retry.attempts, own=True):  # not the create's: a request of its own
                    self.request(method, path, json=payload, safe_to_repeat=method != "POST")
            except AtsAuthError:
                raise
            except (RefusedError, TransientError) as exc:
                self.custom_not_set(remote_id, method, path, exc)

    def custom_not_set(self, remote_id: str, method: str, path: str, exc: Exception) -> None:
        log.warning(
            "%s: a custom field value of record %s was not set (%s %s): %s",
            self.name,
            remote_id,
            method,
            path,
            getattr(exc, "status", None) or type(exc).__name__,
        )

    def test_connection(self) -> tuple[bool, str]:
        """Check the URL and credential with one lookup (a read: nothing is created)."""
        try:
            self.find("hrflow-airflow-connection-test@example.invalid")
        except AtsAuthError as exc:
            return False, str(exc)
        except (RefusedError, TransientError, BadConfigError) as exc:
            return False, f"Connection '{self.ats_conn_id}': {exc}"
        except requests.RequestException as exc:
            return False, f"Connection '{self.ats_conn_id}': cannot reach {self.base_url}: {type(exc).__name__}"
        return True, f"Connection '{self.ats_conn_id}' works: {self.name} at {self.base_url} accepted the credential"
