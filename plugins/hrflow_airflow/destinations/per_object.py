"""
Exactly once for ATS APIs that create one candidate per request and have no idempotency key (SmartRecruiters,
Workable, ...), built from a client (:class:`~hrflow_airflow.destinations.candidate_api.CandidateApiHook`) that
only speaks HTTP. It rests on the sync ledger (:mod:`hrflow_airflow.ledger`), per object:

1. before each create, the intent is recorded durably;
2. after the 2xx, the candidate id the ATS returned is recorded;
3. on any retry or later run, an object with a recorded id is never created again; one with an intent but no
   id (a crash or a lost answer between 1 and 2) is first looked up in the ATS by email: found, its id is
   adopted; not found, it is created. An object without an email cannot be looked up: it is not created
   again (at most once) and is reported failed, with what to check.

A create, its lookups and its re-sends are one logical request: together they go out at most
``[hrflow] max_attempts`` times (:func:`~hrflow_airflow.hooks.http.one_request`). A refused record fails alone.
Each object gets one :class:`~.base.Outcome`; the batch's result is built from them once every thread is done.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from hrflow_airflow.destinations.base import AtsAuthError, Delivered, Failure, Outcome, Removed, delivered
from hrflow_airflow.errors import AnswerUnknownError, CircuitOpenError, RefusedError, TransientError
from hrflow_airflow.hooks.http import one_request
from hrflow_airflow.ledger import DELIVERED
from hrflow_airflow.sealed import record_hash

if TYPE_CHECKING:
    from hrflow_airflow.destinations.candidate_api import CandidateApiHook
    from hrflow_airflow.ledger import Entry, Ledger

log = logging.getLogger(__name__)


class PerObjectDestination:
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
        outcomes: list[Outcome] = []
        todo = []
        for (key, container), record in zip(items, records):
            entry = known.get(key)
            if entry is not None and entry.state in DELIVERED:
                outcomes.append(Outcome(key, container, "resumed", entry.remote_id))
            else:
                todo.append(((key, container), record, entry is not None and entry.state == "intent"))
        if outcomes:
            log.info("Batch %s: %s %s already created in %s in an earlier run (ledger); tagging only", index,
                     len(outcomes), plural, api.name)  # fmt: skip
        stop = threading.Event()  # set when one object fails the task: start nothing more
        with ThreadPoolExecutor(max_workers=max(1, min(api.max_concurrency, len(todo) or 1)),
                                thread_name_prefix=f"{api.name}-create") as pool:  # fmt: skip
            futures = [pool.submit(self.create_once, api, ledger, i, r, maybe, stop) for i, r, maybe in todo]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise next((e for e in errors if isinstance(e, AtsAuthError)), errors[0])
        outcomes += [outcome for future in futures if (outcome := future.result()) is not None]
        states = Counter(outcome.state for outcome in outcomes)
        log.info(
            "Batch %s: %s created %s, adopted %s after a lost answer, refused %s; %s request(s) refused for rate "
            "(429)", index, api.name, states["created"], states["adopted"], states["refused"], api.limiter.throttled,
        )  # fmt: skip
        return delivered(outcomes)

    def create_once(
        self,
        api: CandidateApiHook,
        ledger: Ledger,
        item: tuple[str, str],
        record: dict[str, Any],
        maybe_created: bool,
        stop: threading.Event,
    ) -> Outcome | None:
        """Create one object unless it exists; look it up by email first when an earlier create lost its answer."""
        key, container = item
        try:
            with one_request(api.retry.attempts) as budget:  # the create, its lookups and re-sends together
                while budget.left:
                    if stop.is_set():  # another object failed the task: this one is not sent
                        return None
                    if maybe_created and (found := self.adopt(api, ledger, item, record)) is not None:
                        return found
                    ledger.deliveries.record_intent(self.ledger_key, [item])
                    try:
                        remote = f"{api.name}:{api.create(record)}"
                    except AtsAuthError:
                        raise
                    except RefusedError as exc:
                        if api.already_exists(exc) and not maybe_created:  # ours, its answer lost: look it up
                            maybe_created = True
                            log.warning("%s: %s has it already (HTTP %s); looking it up by email", key, api.name,
                                        exc.status)  # fmt: skip
                            continue
                        # nothing created: the sync step counts the refusal in the ledger
                        log.error("%s: %s refused it: HTTP %s: %s", key, api.name, exc.status, exc.reason)
                        return Outcome(key, container, "refused", reason=f"{api.name} HTTP {exc.status}: {exc.reason}")
                    except CircuitOpenError:
                        raise
                    except AnswerUnknownError as exc:  # it may exist now: look it up before creating again
                        maybe_created = True
                        wait = api.retry.delay(budget.spent)
                        log.warning("%s: %s; looking it up by email in %.1fs before creating again", key, exc, wait)
                        time.sleep(wait)
                        continue
                    ledger.deliveries.record_accepted(
                        self.ledger_key, [item], {key: remote}, {key: record_hash(record)}
                    )
                    return Outcome(key, container, "created", remote)
            raise TransientError(f"{api.name} ({api.ats_conn_id}): creates kept getting no answer")
        except BaseException:
            stop.set()  # credentials refused or retries exhausted: start nothing more, fail the task
            raise

    def adopt(
        self, api: CandidateApiHook, ledger: Ledger, item: tuple[str, str], record: dict[str, Any]
    ) -> Outcome | None:
        """Return the outcome of an object whose create lost its answer: found by email, or refused without one."""
        key, container = item
        email = record.get(api.email_field)
        if not email:
            reason = (
                f"a create in {api.name} got no answer and the profile has no email to look it up: not created "
                f"again (at most once); check {api.name}, then tag it sync=1 in HrFlow, or delete its row from "
                "hrflow_sync_ledger to have it created"
            )
            log.error("%s: %s", key, reason)
            return Outcome(key, container, "unknown", reason=reason)
        found = api.find(str(email))
        if found is None:
            return None
        remote = f"{api.name}:{found}"
        ledger.deliveries.record_accepted(self.ledger_key, [item], {key: remote}, {key: record_hash(record)})
        log.info("%s: found in %s by email after a create without answer: adopted %s", key, api.name, remote)
        return Outcome(key, container, "adopted", remote)

    # -- updates ----------------------------------------------------------------------------------
    def update_batch(
        self,
        *,
        plural: str,
        index: int,
        items: list[list[str]],
        records: list[dict[str, Any]],
        remote_ids: dict[str, str],
        bases: dict[str, str | None],
        store: Any = None,
        lanes: int = 1,
    ) -> Delivered:
        """Update each changed candidate of one batch, the client's concurrency at a time; return the result."""
        api = self.client.paced(lanes)

        def one(item: list[str], record: dict[str, Any]) -> Outcome:
            key, container = item
            remote = remote_ids.get(key)
            if not remote or not remote.startswith(f"{api.name}:"):
                reason = f"no {api.name} candidate id is known for it (ledger, ats_id tag): cannot update"
                return Outcome(key, container, "refused", reason=reason)
            try:
                api.update(remote, record)
            except AtsAuthError:
                raise
            except RefusedError as exc:  # e.g. 404: deleted in the ATS; 400: a value it refuses
                log.error("%s: %s refused the update: HTTP %s: %s", key, api.name, exc.status, exc.reason)
                return Outcome(key, container, "refused", reason=f"{api.name} HTTP {exc.status}: {exc.reason}")
            return Outcome(key, container, "updated", remote)

        with ThreadPoolExecutor(max_workers=max(1, min(api.max_concurrency, len(items) or 1)),
                                thread_name_prefix=f"{api.name}-update") as pool:  # fmt: skip
            outcomes = list(pool.map(one, items, records))
        states = Counter(outcome.state for outcome in outcomes)
        log.info(
            "Batch %s: %s updated %s %s, refused %s; %s request(s) refused for rate (429)",
            index, api.name, states["updated"], plural, states["refused"], api.limiter.throttled,
        )  # fmt: skip
        return delivered(outcomes)

    # -- removals ---------------------------------------------------------------------------------
    def remove(
        self, *, plural: str, items: list[list[str]], remote_ids: Mapping[str, str], mode: str, ledger: Ledger,
        lanes: int = 1,
    ) -> Removed:  # fmt: skip
        """Archive or delete (``mode``) each object's candidate once, the client's concurrency at a time."""
        api = self.client.paced(lanes)
        result = Removed(removed=[], unsupported=[], failed=[])

        def one(item: list[str]) -> None:
            key, container = item
            remote = remote_ids.get(key) or ""
            if not remote.startswith(f"{api.name}:"):
                result["failed"].append(Failure(key=key, container=container, reason=f"no {api.name} id is known"))
                return
            try:
                how = api.remove(remote, mode)
            except AtsAuthError:
                raise
            except RefusedError as exc:
                reason = f"{api.name} HTTP {exc.status}: {exc.reason}"
                result["failed"].append(Failure(key=key, container=container, reason=reason))
                return
            if how.startswith("unsupported: "):
                result["unsupported"].append(Failure(key=key, container=container, reason=how[13:]))
            else:
                result["removed"].append([key, container, mode if how == "removed" else how])

        with ThreadPoolExecutor(max_workers=max(1, min(api.max_concurrency, len(items) or 1)),
                                thread_name_prefix=f"{api.name}-remove") as pool:  # fmt: skip
            list(pool.map(one, items))
        for how in {entry[2] for entry in result["removed"]}:
            keys = [key for key, _, done in result["removed"] if done == how]
            ledger.deliveries.record_removed(self.ledger_key, keys, how)
        return result
