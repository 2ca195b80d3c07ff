"""
The destination interface, and the shared engine of ATS APIs that create one candidate per request.

Those APIs (SmartRecruiters, Workable, ...) have no idempotency key, so exactly-once rests on the sync ledger
(:mod:`hrflow_airflow.ledger`), per object:

1. before each create, the intent is recorded durably;
2. after the 2xx, the candidate id the ATS returned is recorded;
3. on any retry or later run, an object with a recorded id is never created again; one with an intent but no
   id (a crash or a lost answer between 1 and 2) is first looked up in the ATS by email: found, its id is
   adopted; not found, it is created. An object without an email cannot be looked up: it is not created
   again (at most once) and is reported failed, with what to check.

Requests are paced to the destination's documented limits (shared by the tasks of a run that may post at
once), slowed further when the rate-limit headers say the window is used up, and a 429 waits for
``Retry-After`` or the window's reset before it is retried.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

import requests
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowFailException

from hrflow_airflow.hooks._http import (
    RetryPolicy,
    TransientHttpError,
    connection_timeout,
    parse_retry_after,
    pooled_session,
)
from hrflow_airflow.mapping import RECORD_KEY

if TYPE_CHECKING:
    from hrflow_airflow.ledger import LedgerHook

DEFAULT_TIMEOUT = 30.0
REASON_LIMIT = 300
ATS_ID_TAG = "ats_id"


class Destination(Protocol):
    """What the sync DAG needs from an ATS adapter."""

    name: str  # short name, the prefix of the ats_id tag: "smartrecruiters"
    kinds: frozenset[str]  # object kinds it can create: {"profile"}
    ledger_key: str  # its rows in the sync ledger

    def default_field_map(self, kind_name: str) -> dict[str, str] | None:
        """Return this ATS's record field -> object path map for ``kind_name`` (None: the kind's own)."""

    def deliver(
        self,
        *,
        plural: str,
        index: int,
        items: list[list[str]],
        records: list[dict[str, Any]],
        ledger: LedgerHook,
        store: Any = None,
        lanes: int = 1,
    ) -> dict[str, Any]:
        """
        Send one batch once; return ``{"accepted": [[key, container]], "rejected": [{key, container, reason}],
        "resumed": int, "remote_ids": {key: "<name>:<id>"}}``.

        ``lanes`` is how many delivering tasks of the run may run at once: they share the rate limits.
        """


class AtsAuthError(AirflowFailException):
    """Raise when the ATS refused the credentials (401/403): the run fails at once, naming the connection."""


class AnswerUnknownError(Exception):
    """Raise when a create may have been applied but no answer came (connection lost, timeout, 5xx)."""


class AtsRejectedError(Exception):
    """Raise when the ATS refused one request with a 4xx other than 429: that object fails alone."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status, self.reason = status, reason


def nest(record: Mapping[str, Any]) -> dict[str, Any]:
    """
    Return the request body of a flat record: dotted names build nested objects, empty values are left out.

    ``{"firstName": "Zoë", "location.city": "Paris", "location.country": None}`` ->
    ``{"firstName": "Zoë", "location": {"city": "Paris"}}``. The ``hrflow_key`` field is not sent.
    """
    body: dict[str, Any] = {}
    for name, value in record.items():
        if name == RECORD_KEY or value is None or value == "" or value == []:
            continue
        *parents, leaf = name.split(".")
        node = body
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"record field '{name}' nests under a field that already holds a value")
        node[leaf] = value
    return body


class Pacer:
    """
    Keep to ``limit`` requests per ``interval`` seconds (a sliding window, stricter than the server's fixed
    windows, plus a margin for transit), and hold everyone until the reset when the server's headers say the
    window is used up (other clients of the same key count there too).
    """

    def __init__(self, limit: int, interval: float, margin: float = 0.1) -> None:
        self.limit, self.interval, self.margin = max(1, limit), interval, margin
        self._sent: deque[float] = deque()
        self._hold_until = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                window = self.interval + self.margin
                while self._sent and now - self._sent[0] >= window:
                    self._sent.popleft()
                if now < self._hold_until:
                    pause = self._hold_until - now
                elif len(self._sent) < self.limit:
                    self._sent.append(now)
                    return
                else:
                    pause = self._sent[0] + window - now
            time.sleep(max(pause, 0.001))

    def hold(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (the window is used up or the server asked to wait)."""
        with self._lock:
            self._hold_until = max(self._hold_until, time.monotonic() + seconds + self.margin)


class CandidateApiHook(BaseHook):
    """
    Base of the adapters whose ATS creates one candidate per request and offers a lookup by email.

    Subclasses set the class attributes below and implement :meth:`auth_headers`, :meth:`create_request`,
    :meth:`created_id`, :meth:`lookup_request` and :meth:`found_id`.
    """

    conn_name_attr = "ats_conn_id"
    default_conn_name = "ats_default"
    name = "ats"
    kinds = frozenset({"profile"})
    default_host: str | None = None
    # documented limits, per API key
    rate_limit = 10  # requests ...
    rate_interval = 1.0  # ... per this many seconds
    max_concurrency = 1  # requests in flight at once
    lookup_concurrency = 1  # lookups in flight at once
    # rate-limit response headers: (remaining, reset); reset None: the window is rate_interval long
    remaining_header = "X-RateLimit-Remaining"
    reset_header: str | None = None
    email_field = "email"  # the record field holding the email used for lookups
    profile_field_map: dict[str, str] = {}

    def __init__(
        self,
        *,
        ats_conn_id: str = default_conn_name,
        conn_id: str | None = None,
        retry: RetryPolicy | None = None,
        logger_name: str | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.ats_conn_id = conn_id or ats_conn_id
        self.retry = retry or RetryPolicy(attempts=6, backoff=1.0, max_delay=60.0)
        self.throttled = 0  # 429 answers seen

    # -- connection -------------------------------------------------------------------------------
    @cached_property
    def connection(self):
        return self.get_connection(self.ats_conn_id)

    @property
    def ledger_key(self) -> str:
        return f"{self.ats_conn_id}/{self.name}"

    def default_field_map(self, kind_name: str) -> dict[str, str] | None:
        return dict(self.profile_field_map) if kind_name == "profile" else None

    @cached_property
    def base_url(self) -> str:
        host = (self.connection.host or "").strip().rstrip("/") or (self.default_host or "")
        if not host:
            raise AirflowFailException(
                f"Connection '{self.ats_conn_id}' has no host: set it to the {self.name} API URL"
            )
        return host if "://" in host else f"https://{host}"

    @cached_property
    def timeout(self) -> float:
        return connection_timeout(self.connection, self.ats_conn_id, DEFAULT_TIMEOUT)

    @cached_property
    def session(self) -> requests.Session:
        if not self.connection.password:
            raise AirflowFailException(f"Connection '{self.ats_conn_id}' has no password (the {self.name} credential)")
        session = pooled_session(pool_size=self.max_concurrency + 1, base_url=self.base_url)
        session.headers.update({"Accept": "application/json", **self.auth_headers(self.connection.password)})
        return session

    def get_conn(self) -> requests.Session:
        return self.session

    def limits(self) -> tuple[int, float]:
        """Return the requests allowed per interval for this key: the documented ones, or extra ``rate_limit``."""
        raw = self.connection.extra_dejson.get("rate_limit")
        if raw in (None, ""):
            return self.rate_limit, self.rate_interval
        try:
            value = int(raw)
            assert value > 0
        except (TypeError, ValueError, AssertionError):
            raise AirflowFailException(
                f"Connection '{self.ats_conn_id}' extra 'rate_limit' must be a positive "
                f"number of requests per {self.rate_interval:g} s, got {raw!r}"
            ) from None
        return value, self.rate_interval

    # -- what each ATS defines --------------------------------------------------------------------
    def auth_headers(self, secret: str) -> dict[str, str]:
        raise NotImplementedError

    def create_request(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Return the path and JSON body that create one candidate."""
        raise NotImplementedError

    def created_id(self, answer: Any) -> str | None:
        raise NotImplementedError

    def lookup_request(self, email: str) -> tuple[str, dict[str, str]]:
        """Return the path and query that find candidates by email."""
        raise NotImplementedError

    lookup_results = "candidates"  # the list in the lookup's answer

    def found_id(self, answer: Any, email: str) -> str | None:
        """Return the id of the candidate whose email is ``email`` (case-insensitive): lookups may be keyword searches."""
        for candidate in (answer or {}).get(self.lookup_results) or []:
            if str(candidate.get("email", "")).casefold() == email.casefold():
                return candidate.get("id")
        return None

    def reason(self, response: requests.Response) -> str:
        """Return the ATS's reason for a refusal, short, from its JSON error body or the status line."""
        try:
            data = response.json()
        except ValueError:
            return (response.text or response.reason or "")[:REASON_LIMIT].strip()
        if not isinstance(data, dict):
            return str(data)[:REASON_LIMIT]
        parts = [str(data[f]) for f in ("message", "error") if data.get(f)]
        for error in data.get("errors") or []:  # e.g. [{"code": "INVALID_EMAIL", "message": "..."}]
            if isinstance(error, dict):
                parts.append(" ".join(str(error[f]) for f in ("code", "message") if error.get(f)))
        return "; ".join(parts)[:REASON_LIMIT] or str(data)[:REASON_LIMIT]

    # -- HTTP with pacing ---------------------------------------------------------------------------
    @cached_property
    def pacer(self) -> Pacer:
        limit, interval = self.limits()
        return Pacer(limit, interval)

    @cached_property
    def _lookup_slots(self) -> threading.Semaphore:
        return threading.Semaphore(self.lookup_concurrency)

    def share(self, lanes: int) -> None:
        """Take a 1/``lanes`` share of the key's limits: that many delivering tasks may run at once."""
        limit, interval = self.limits()
        self.pacer = Pacer(max(1, limit // max(1, lanes)), interval)
        self.max_concurrency = max(1, self.max_concurrency // max(1, lanes))

    def _observe(self, response: requests.Response) -> None:
        """Hold the pacer until the reset once the server says the window is used up."""
        remaining = _int(response.headers.get(self.remaining_header))
        if remaining is None or remaining > 0:
            return
        self.pacer.hold(self._reset_in(response))

    def _reset_in(self, response: requests.Response) -> float:
        if self.reset_header and (reset := _float(response.headers.get(self.reset_header))) is not None:
            return min(max(reset - time.time(), 0.0), self.rate_interval)  # a Unix time; clocks may differ
        return self.rate_interval

    def request(self, method: str, path: str, *, safe_to_repeat: bool = True, **kwargs: Any) -> requests.Response:
        """
        Send one request within the limits; return the 2xx response.

        Raise :class:`AtsAuthError` on 401/403, :class:`AtsRejectedError` on other 4xx, and
        :class:`TransientHttpError` once retries of 429, 5xx and connection errors are exhausted. With
        ``safe_to_repeat=False`` (a create) only 429, documented as not processed, is retried here: a connection
        error or a 5xx raises :class:`AnswerUnknownError`, since the create may have been applied.
        """
        target = f"{self.name} ({self.ats_conn_id})"
        for attempt in range(1, self.retry.attempts + 1):
            self.pacer.wait()
            try:
                response = self.session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not safe_to_repeat:
                    raise AnswerUnknownError(f"{target}: {method} got no answer: {type(exc).__name__}") from exc
                if attempt == self.retry.attempts:
                    raise TransientHttpError(
                        f"{target}: {method} failed after {attempt} attempts: {type(exc).__name__}"
                    ) from exc
                wait = self.retry.delay(attempt)
                self.log.warning(
                    "%s: %s attempt %s/%s: %s; retrying in %.1fs",
                    target,
                    method,
                    attempt,
                    self.retry.attempts,
                    type(exc).__name__,
                    wait,
                )
                time.sleep(wait)
                continue
            self._observe(response)
            status = response.status_code
            if response.ok:
                return response
            if status in (401, 403):
                raise AtsAuthError(
                    f"{target} refused the credentials (HTTP {status}: {self.reason(response)}); "
                    f"check connection '{self.ats_conn_id}'"
                )
            if status != 429 and status < 500:
                raise AtsRejectedError(status, self.reason(response))
            if status != 429 and not safe_to_repeat:
                raise AnswerUnknownError(f"{target}: {method} answered HTTP {status}")
            if attempt == self.retry.attempts:
                raise TransientHttpError(f"{target}: {method} answered HTTP {status} after {attempt} attempts")
            if status == 429:
                self.throttled += 1
                header = response.headers.get("Retry-After")
                wait = parse_retry_after(header) if header else None
                wait = self._reset_in(response) if wait is None else wait
                self.pacer.hold(wait)
            else:
                wait = self.retry.delay(attempt)
                time.sleep(wait)
            self.log.warning(
                "%s: %s attempt %s/%s: HTTP %s; retrying in %.1fs",
                target,
                method,
                attempt,
                self.retry.attempts,
                status,
                wait,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    # -- create and look up -------------------------------------------------------------------------
    def body(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Return the candidate as this ATS wants it (dotted record fields nest)."""
        return nest(record)

    def create(self, record: Mapping[str, Any]) -> str:
        """Create one candidate; return its id."""
        path, payload = self.create_request(self.body(record))
        answer = self.request("POST", path, json=payload, safe_to_repeat=False).json()
        remote_id = self.created_id(answer)
        if not remote_id:
            raise TransientHttpError(f"{self.name} ({self.ats_conn_id}) answered the create without a candidate id")
        return str(remote_id)

    def find(self, email: str) -> str | None:
        """Return the id of the candidate with ``email``, or None."""
        path, params = self.lookup_request(email)
        with self._lookup_slots:
            answer = self.request("GET", path, params=params).json()
        found = self.found_id(answer, email)
        return str(found) if found else None

    def test_connection(self) -> tuple[bool, str]:
        """Check the URL and credential with one lookup (a read: nothing is created)."""
        try:
            self.find("hrflow-airflow-connection-test@example.invalid")
        except AtsAuthError as exc:
            return False, str(exc)
        except (AtsRejectedError, TransientHttpError, AirflowFailException) as exc:
            return False, f"Connection '{self.ats_conn_id}': {exc}"
        except requests.RequestException as exc:
            return False, f"Connection '{self.ats_conn_id}': cannot reach {self.base_url}: {type(exc).__name__}"
        return True, f"Connection '{self.ats_conn_id}' works: {self.name} at {self.base_url} accepted the credential"

    # -- one batch, once ---------------------------------------------------------------------------
    def deliver(
        self,
        *,
        plural: str,
        index: int,
        items: list[list[str]],
        records: list[dict[str, Any]],
        ledger: LedgerHook,
        store: Any = None,
        lanes: int = 1,
    ) -> dict[str, Any]:
        self.share(lanes)
        result: dict[str, Any] = {"accepted": [], "rejected": [], "resumed": 0, "remote_ids": {}}
        known = ledger.lookup(self.ledger_key, [key for key, _ in items])
        todo = []
        for item, record in zip(items, records):
            entry = known.get(item[0])
            if entry is not None and entry.state == "accepted":
                result["accepted"].append(list(item))
                if entry.remote_id:
                    result["remote_ids"][item[0]] = entry.remote_id
                result["resumed"] += 1
            else:
                todo.append((tuple(item), record, entry is not None))
        if result["resumed"]:
            self.log.info(
                "Batch %s: %s %s already created in %s in an earlier run (ledger); tagging only",
                index,
                result["resumed"],
                plural,
                self.name,
            )
        stop = threading.Event()
        lock = threading.Lock()
        counts = {"created": 0, "adopted": 0}

        def one(item: tuple[str, str], record: dict[str, Any], maybe_created: bool) -> None:
            key, container = item
            try:
                for attempt in range(1, self.retry.attempts + 1):
                    if stop.is_set():
                        return
                    if maybe_created:
                        email = record.get(self.email_field)
                        if not email:
                            reason = (
                                f"a create in {self.name} got no answer and the profile has no email to look it "
                                f"up: not created again (at most once); check {self.name}, then tag it sync=1 in "
                                "HrFlow, or delete its row from hrflow_sync_ledger to have it created"
                            )
                            self.log.error("%s: %s", key, reason)
                            with lock:
                                result["rejected"].append({"key": key, "container": container, "reason": reason})
                            return
                        if (found := self.find(str(email))) is not None:
                            remote = f"{self.name}:{found}"
                            ledger.record_accepted(self.ledger_key, [item], {key: remote})
                            self.log.info(
                                "%s: found in %s by email after a create without answer: adopted %s",
                                key,
                                self.name,
                                remote,
                            )
                            with lock:
                                result["accepted"].append(list(item))
                                result["remote_ids"][key] = remote
                                counts["adopted"] += 1
                            return
                    ledger.record_intent(self.ledger_key, [item])
                    try:
                        remote = f"{self.name}:{self.create(record)}"
                    except AtsRejectedError as exc:
                        ledger.forget(self.ledger_key, [key])  # refused: nothing was created
                        self.log.error("%s: %s refused it: HTTP %s: %s", key, self.name, exc.status, exc.reason)
                        with lock:
                            result["rejected"].append(
                                {
                                    "key": key,
                                    "container": container,
                                    "reason": f"{self.name} HTTP {exc.status}: {exc.reason}",
                                }
                            )
                        return
                    except AnswerUnknownError as exc:  # it may exist now: look it up before creating again
                        maybe_created = True
                        wait = self.retry.delay(attempt)
                        self.log.warning(
                            "%s: %s; looking it up by email in %.1fs before creating again", key, exc, wait
                        )
                        time.sleep(wait)
                        continue
                    ledger.record_accepted(self.ledger_key, [item], {key: remote})
                    with lock:
                        result["accepted"].append(list(item))
                        result["remote_ids"][key] = remote
                        counts["created"] += 1
                    return
                raise TransientHttpError(f"{self.name} ({self.ats_conn_id}): creates kept getting no answer")
            except BaseException:
                stop.set()  # credentials refused or retries exhausted: start nothing more, fail the task
                raise

        with ThreadPoolExecutor(
            max_workers=max(1, min(self.max_concurrency, len(todo) or 1)), thread_name_prefix=f"{self.name}-create"
        ) as pool:
            futures = [pool.submit(one, *job) for job in todo]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            auth = [e for e in errors if isinstance(e, AtsAuthError)]
            raise (auth or errors)[0]
        self.log.info(
            "Batch %s: %s created %s, adopted %s after a lost answer, refused %s; %s request(s) refused for rate (429)",
            index,
            self.name,
            counts["created"],
            counts["adopted"],
            len(result["rejected"]),
            self.throttled,
        )
        return result


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None
