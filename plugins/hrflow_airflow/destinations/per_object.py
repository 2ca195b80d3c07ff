"""
Exactly once for ATS APIs that create one candidate per request and have no idempotency key (SmartRecruiters,
Workable, ...), built from a client (:class:`~hrflow_airflow.destinations.candidate_api.CandidateApiHook`) that
only speaks HTTP. It rests on the sync ledger (:mod:`hrflow_airflow.ledger`), per object:

1. before each create, the intent is recorded durably (with the time of the first send, ``sent_at``);
2. the create carries a marker unique to the object (a tag ``hrflow-key:<key>``); after the 2xx, the id the ATS
   returned is recorded, as *created*;
3. a create whose answer is lost (no answer, a 5xx) is looked up once; a record is adopted only if it provably
   came from our create (:meth:`~.candidate_api.CandidateApiHook.proves_ours`: the marker, made no earlier than
   the send). Found nothing: the object is *outcome unknown* in the ledger, never created again in this run;
   the run stays green for it. Later runs look it up again, and create it again only when a lookup made
   ``[hrflow] lookup_settle_seconds`` after the lost send still finds nothing (search indexes lag behind writes);
4. a create refused because the person exists (a unique email) links to that record, recorded as *linked*: the
   sync updates the fields it owns there, and never removes or erases it.

A create, its lookups and its re-sends are one logical request: together they go out at most
``[hrflow] max_attempts`` times (:func:`~hrflow_airflow.hooks.http.one_request`). A refused record fails alone.
Each object gets one :class:`~.base.Outcome`; the batch's result is built from them once every thread is done.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from hrflow_airflow.dates import read_datetime
from hrflow_airflow.destinations.base import AtsAuthError, Delivered, Outcome, delivered
from hrflow_airflow.destinations.completion import Pending
from hrflow_airflow.destinations.removal import Removal
from hrflow_airflow.destinations.updates import Updates
from hrflow_airflow.errors import AnswerUnknownError, CircuitOpenError, RateLimitedError, RefusedError
from hrflow_airflow.hooks.http import one_request
from hrflow_airflow.ledger import CREATED, DELIVERED, INTENT, LINKED, UNKNOWN, Ledger
from hrflow_airflow.sealed import record_hash
from hrflow_airflow.settings import setting

if TYPE_CHECKING:
    from hrflow_airflow.destinations.candidate_api import CandidateApiHook
    from hrflow_airflow.destinations.records import Found
    from hrflow_airflow.ledger import Entry

log = logging.getLogger(__name__)


class PerObjectDestination(Updates, Removal):
    """Create, adopt and update one candidate per request through ``client``, each object at most once."""

    def __init__(self, client: CandidateApiHook) -> None:
        self.client = client
        self.name, self.kinds, self.ledger_key = client.name, client.kinds, client.ledger_key

    def default_field_map(self, kind_name: str) -> dict[str, str] | None:
        return self.client.default_field_map(kind_name)

    # -- creates ----------------------------------------------------------------------------------
    def deliver(
        self,
        *,
        plural: str,
        index: int,
        items: list[list[str]],
        records: list[dict[str, Any]],
        ledger: Ledger,
        known: Mapping[str, Entry] | None = None,
        store: Any = None,
        lanes: int = 1,
    ) -> Delivered:
        """Create each object of one batch at most once, the client's concurrency at a time; return the result."""
        api = self.client.paced(lanes)
        if known is None:
            known = ledger.deliveries.lookup(self.ledger_key, [key for key, _ in items])
        outcomes, todo, parts = self.plan(api, ledger, items, records, known)
        if resumed := len(items) - len(todo) + sum(1 for *_, done in todo if done is not None):
            log.info(
                "Batch %s: %s %s already created in %s in an earlier run (ledger); tagging only",
                index,
                resumed,
                plural,
                api.name,
            )
        outcomes += self.create_all(api, ledger, todo, parts)
        states = Counter(outcome.state for outcome in outcomes)
        log.info(
            "Batch %s: %s created %s, adopted %s after a lost answer, linked %s it already held, refused %s, "
            "outcome unknown %s; %s request(s) refused for rate (429)",
            index,
            api.name,
            states["created"],
            states["adopted"],
            states["linked"],
            states["refused"],
            states["unknown"],
            api.limiter.throttled,
        )
        return delivered(outcomes)

    def create_all(
        self, api: CandidateApiHook, ledger: Ledger, todo: list[tuple[Any, ...]], parts: dict[str, Any]
    ) -> list[Outcome]:
        """Create (or complete) each object of ``todo``, the client's concurrency at a time; return the outcomes."""
        stop = threading.Event()  # set when one object fails the task: start nothing more
        settle = timedelta(seconds=setting("lookup_settle_seconds"))
        workers = max(1, min(api.max_concurrency, len(todo) or 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{api.name}-create") as pool:
            futures = [
                pool.submit(
                    self.create_whole,
                    api,
                    ledger,
                    item,
                    record,
                    Pending(since, pending, settle),
                    stop,
                    parts.get(item[0], {}),
                    done,
                )
                for item, record, since, pending, done in todo
            ]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise next((e for e in errors if isinstance(e, AtsAuthError)), errors[0])
        return [outcome for future in futures if (outcome := future.result()) is not None]

    def plan(
        self,
        api: CandidateApiHook,
        ledger: Ledger,
        items: list[list[str]],
        records: list[dict[str, Any]],
        known: Mapping[str, Entry],
    ) -> tuple[list[Outcome], list[tuple[Any, ...]], dict[str, Any]]:
        """
        Return what the ledger settles already (created earlier, complete), what to do (create, or complete what
        an earlier create left: its CV, a job), and the batch's parts.
        """
        outcomes: list[Outcome] = []
        todo = []
        whole = self.whole(api)
        parts = ledger.parts.of(self.ledger_key, [key for key, _ in items]) if whole else {}
        for (key, container), record in zip(items, records):
            entry = known.get(key)
            if entry is not None and entry.state in DELIVERED:
                done = Outcome(key, container, "resumed", entry.remote_id)
                if whole and entry.remote_id and self.incomplete(api, record, parts.get(key, {})):
                    todo.append(((key, container), record, None, False, done))  # its CV or a job did not go yet
                else:
                    outcomes.append(done)
            else:
                pending = entry is not None and entry.state in (INTENT, UNKNOWN)
                since = read_datetime(entry.sent_at) if pending else None
                todo.append(((key, container), record, since, pending, None))
        return outcomes, todo, parts

    def create_once(
        self,
        api: CandidateApiHook,
        ledger: Ledger,
        item: tuple[str, str],
        record: dict[str, Any],
        pending: Pending,
        stop: threading.Event,
    ) -> Outcome | None:
        """
        Create one object unless it exists. An object whose earlier create lost its answer is looked up first:
        adopted if a record provably ours is found, created again only once the lookup has settled.
        """
        key, container = item
        try:
            with one_request(api.retry.attempts):  # the create, its lookups and re-sends together
                if stop.is_set():  # another object failed the task: this one is not sent
                    return None
                if pending.maybe_created and (settled := self.settle(api, ledger, item, record, pending)):
                    return settled
                if (why := api.refusal_before_send(record)) is not None:  # nothing sent: refused here, clearly
                    log.error("%s: not sent to %s: %s", key, api.name, why)
                    return Outcome(key, container, "refused", reason=f"{api.name}: {why}")
                call = api.create_call(record)  # a bad connection raises here, before any intent is recorded
                since = pending.since or datetime.now(timezone.utc)  # a record made by this send is no older
                ledger.deliveries.record_intent(self.ledger_key, [item])
                try:
                    remote = f"{api.name}:{self.create_on_job(api, ledger, key, record, call)}"
                except RefusedError as exc:
                    if isinstance(exc, AtsAuthError):
                        raise
                    if api.already_exists(exc):  # ours after a lost answer, or a person it already held
                        return self.link(api, ledger, item, record, since, exc)
                    # nothing created: the sync step counts the refusal in the ledger
                    log.error("%s: %s refused it: HTTP %s: %s", key, api.name, exc.status, exc.reason)
                    return Outcome(key, container, "refused", reason=f"{api.name} HTTP {exc.status}: {exc.reason}")
                except AnswerUnknownError as exc:  # it may exist now: looked up, never created again in this run
                    log.warning("%s: %s; looking it up", key, exc)
                    lost = Pending(since, maybe_created=True, settle=pending.settle)
                    return self.settle(api, ledger, item, record, lost, may_create=False)
                except (CircuitOpenError, RateLimitedError):  # stopped before it left, or a 429: not processed
                    ledger.deliveries.withdraw_intent(self.ledger_key, key)
                    raise
                return self.accepted(ledger, item, record, remote, "created")
        except BaseException:
            stop.set()  # credentials refused or retries exhausted: start nothing more, fail the task
            raise

    def settle(
        self,
        api: CandidateApiHook,
        ledger: Ledger,
        item: tuple[str, str],
        record: dict[str, Any],
        pending: Pending,
        *,
        may_create: bool = True,
    ) -> Outcome | None:
        """
        Return the outcome of an object whose create lost its answer: adopted when a lookup finds a record provably
        ours, still unknown while the lookup may lag behind that create (or ``may_create`` is False: the lost
        send was this run's); None: settled and not found, create it.
        """
        key, container = item
        found = self.lookup(api, record, key, pending.since)
        if found is not None and found.ours:
            return self.adopted(ledger, item, record, f"{api.name}:{found.ours}")
        age = datetime.now(timezone.utc) - pending.since if pending.since else pending.settle
        if found is not None and may_create and age >= pending.settle:
            log.warning("%s: not in %s %s after a create without answer: creating it", key, api.name, age)
            return None
        reason = (
            f"a create in {api.name} got no answer; looked up {int(age.total_seconds())} s later, not found yet "
            f"(created again once a lookup {int(pending.settle.total_seconds())} s after it finds nothing)"
            if found is not None
            else f"a create in {api.name} got no answer and the record has no {api.email_field} to look it up"
        )
        return self.unknown(ledger, item, reason)

    def link(
        self,
        api: CandidateApiHook,
        ledger: Ledger,
        item: tuple[str, str],
        record: dict[str, Any],
        since: datetime,
        exc: RefusedError,
    ) -> Outcome:
        """Handle "it exists": adopt the record if provably ours; else link to the one the ATS already held."""
        key, container = item
        found = self.lookup(api, record, key, since)
        if found is not None and found.ours:
            return self.adopted(ledger, item, record, f"{api.name}:{found.ours}")
        if found is None or not found.theirs:
            reason = f"{api.name} HTTP {exc.status}: {exc.reason} (and a lookup found no record with that email)"
            return Outcome(key, container, "refused", reason=reason)
        remote = f"{api.name}:{found.theirs}"
        outcome = self.accepted(ledger, item, record, remote, "linked")
        log.info(
            "%s: %s already held this person (HTTP %s): linked %s, not ours to remove",
            key,
            api.name,
            exc.status,
            remote,
        )
        return outcome

    def lookup(self, api: CandidateApiHook, record: dict[str, Any], key: str, since: datetime | None) -> Found | None:
        """Return what a lookup by the record's email found (None: the record has no email to look up)."""
        email = record.get(api.email_field)
        return api.find(str(email), key, since) if email else None

    def adopted(self, ledger: Ledger, item: tuple[str, str], record: dict[str, Any], remote: str) -> Outcome:
        log.info("%s: found %s carrying our marker after a create without answer: adopted", item[0], remote)
        return self.accepted(ledger, item, record, remote, "adopted")

    def accepted(
        self, ledger: Ledger, item: tuple[str, str], record: dict[str, Any], remote: str, state: str
    ) -> Outcome:
        """Record ``remote`` as the object's record in the ledger (ours, or linked); return the outcome ``state``."""
        key, container = item
        origin = LINKED if state == "linked" else CREATED
        ledger.deliveries.record_accepted(
            self.ledger_key, [item], {key: remote}, {key: record_hash(record)}, origin=origin
        )
        return Outcome(key, container, state, remote)

    def unknown(self, ledger: Ledger, item: tuple[str, str], reason: str) -> Outcome:
        key, container = item
        ledger.deliveries.record_unknown(self.ledger_key, [key], reason)
        log.warning("%s: outcome unknown: %s", key, reason)
        return Outcome(key, container, "unknown", reason=reason)
