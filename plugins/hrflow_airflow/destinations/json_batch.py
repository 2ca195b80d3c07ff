"""
The generic JSON batch endpoint (connection type ``http`` or ``hrflow_ats``): one POST of
``{"<plural>": [record, ...]}`` per batch with ``X-API-KEY`` and an ``Idempotency-Key``.

Exactly once: the sync ledger says which objects an earlier run got accepted (they go straight to tagging,
however this run's batches are cut); the rest are posted with an idempotency key that is the same on every
retry; the task state store remembers the answer, so a retry after it arrived posts nothing at all.

Refused records are isolated (the wire format, docs/destinations.md): a refused batch (4xx other than 401, 403
and 429) applied nothing, so its good records are posted again without the refused ones. When the 4xx body
names the refused records (``{"errors": [{"hrflow_key": ..., "message": ...}]}``) they are left out at once;
otherwise the batch is halved until each refused record stands alone (about 2·log2(n) extra requests per bad
record). A 2xx may name refused records the same way: those are refused, the rest accepted.

Updates (an object edited in HrFlow after its sync) are the same POST with ``"mode": "upsert"``: each record
replaces the fields it carries of the record with the same ``hrflow_key``. Its ``Idempotency-Key`` covers the
records and the hash of what each replaces, so an edit back to earlier values is a new request, and a retry
of the same update the same one. An update is idempotent anyway: sent twice, the ATS holds one current record.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hrflow_airflow.destinations.base import AtsAuthError, Delivered, Failure, Removed
from hrflow_airflow.destinations.completion import CarriedInRecord
from hrflow_airflow.destinations.json_wire import hashes_of, named_refusals, request_key
from hrflow_airflow.errors import RefusedError
from hrflow_airflow.ledger import DELIVERED, INTENT, Ledger
from hrflow_airflow.mapping import RECORD_KEY, idempotency_key
from hrflow_airflow.sealed import record_hash

if TYPE_CHECKING:
    from hrflow_airflow.hooks.api_key import AtsHook
    from hrflow_airflow.ledger import Entry

log = logging.getLogger(__name__)
STORED_REASONS = 200  # refused records whose reason the task state store keeps (it caps a value at 64 KB)


REMOVAL_CHUNK = 500  # keys per removal request


class JsonBatchDestination:
    """Post batches through ``client`` (:class:`~hrflow_airflow.hooks.api_key.AtsHook`) to its JSON endpoint."""

    name = "ats"
    kinds = frozenset({"profile", "job"})

    def __init__(self, client: AtsHook) -> None:
        self.client = client
        self.conn_id = client.conn_id

    @property
    def ledger_key(self) -> str:
        return self.conn_id  # rows written before adapters existed keep working

    def default_field_map(self, kind_name: str) -> dict[str, str] | None:
        return None  # the object kind's own map (flat records)

    def check_field_map(self, field_map: Mapping[str, str]) -> None:
        """Accept any field map: the endpoint takes ``custom:<name>`` fields as the record carries them."""

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
        store_key = idempotency_key(plural, records)
        earlier = store.get(store_key) if store is not None else None
        if earlier is not None and ("refused" in earlier or "rejected" in earlier):  # the batch's answer
            log.info("Batch %s was answered by the ATS in an earlier try; not posting again", index)
            return self._replay(earlier, items, records, ledger, known)
        if known is None:
            known = ledger.deliveries.lookup(self.ledger_key, [key for key, _ in items])
        done = {key for key, entry in known.items() if entry.state in DELIVERED}
        result = Delivered(
            accepted=[list(item) for item in items if item[0] in done],
            rejected=[],
            failed=[],
            resumed=len(done),
            remote_ids={},
        )
        if done:
            log.info(
                "Batch %s: %s %s already accepted by the ATS in an earlier run (ledger); tagging only",
                index,
                len(done),
                plural,
            )
        carried = CarriedInRecord(ledger, self.ledger_key)
        group = [(tuple(item), record) for item, record in zip(items, records) if item[0] not in done]
        group, isolated = carried.screen(group)  # a CV a receiver could not fetch goes later, not now
        accepted, refused = self._resend_groups(plural, index, group, known, ledger, store)
        rest = [(item, record) for item, record in group if item[0] not in accepted and item[0] not in refused]
        if rest:
            more, more_refused = self._post_isolating(plural, index, rest, ledger, store)
            accepted.update(dict(more))
            refused.update(more_refused)
        result["accepted"] += [list(item) for item in items if item[0] in accepted]
        result["rejected"] = [Failure(key=k, container=c, reason=r) for k, (c, r) in refused.items()]
        result.update(carried.note([rec for item, rec in group if item[0] in accepted], isolated, items))
        # the answer in a few bytes, what was refused and why; past STORED_REASONS a retry posts the refused
        # records again (the accepted ones are in the ledger) rather than store more than the store holds
        if store is not None and len(result["rejected"]) <= STORED_REASONS:
            reasons = {failure["key"]: failure["reason"] for failure in result["rejected"]}
            store.set(store_key, {"refused": reasons, "resumed": result["resumed"]})
        return result

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
        """Send the batch's changed records as one upsert (refused records isolated as for creates)."""
        carried = CarriedInRecord(Ledger(), self.ledger_key)
        group, isolated = carried.screen([(tuple(item), record) for item, record in zip(items, records)])
        accepted, refused = self._post_isolating(plural, index, group, None, store, bases=bases)
        result = Delivered(
            accepted=[list(item) for item in accepted],
            rejected=[Failure(key=k, container=c, reason=r) for k, (c, r) in refused.items()],
            failed=[],
            resumed=0,
            remote_ids={},
        )
        result.update(carried.note([rec for item, rec in group if item in accepted], isolated, items))
        return result

    def _resend_groups(
        self,
        plural: str,
        index: int,
        group: list[tuple[tuple[str, str], dict[str, Any]]],
        known: dict[str, Any],
        ledger: Ledger,
        store: Any,
    ) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
        """
        Send again, each as one request under its own ``Idempotency-Key``, the objects of requests whose answer
        never came (ledger state ``intent`` with a group key): an endpoint that honours the key answers without
        applying them twice, however this run's batches are cut. A member whose record changed since goes with
        its group first, then as an update. Return ``{key: container}`` accepted and the refused.
        """
        groups: dict[str, list[tuple[tuple[str, str], dict[str, Any]]]] = {}
        for item, record in group:
            entry = known.get(item[0])
            if entry is not None and entry.state == INTENT and entry.group_key:
                groups.setdefault(entry.group_key, []).append((item, record))
        accepted: dict[str, str] = {}
        refused: dict[str, tuple[str, str]] = {}
        for group_key, members in groups.items():
            log.info(
                "Batch %s: %s %s sent before without an answer: sent again as that request (%s)",
                index,
                len(members),
                plural,
                group_key,
            )
            sent = {item[0]: known[item[0]].sent_hash for item, _ in members}
            ok, no = self._post_isolating(plural, index, members, ledger, store, first_key=group_key, hashes=sent)
            accepted.update(dict(ok))
            refused.update(no)
            changed = [(item, rec) for item, rec in members if item in ok and record_hash(rec) != sent[item[0]]]
            if changed:  # the ATS holds what the first request carried: bring it up to date
                bases = {item[0]: sent[item[0]] for item, _ in changed}
                updated, _ = self._post_isolating(plural, index, changed, None, store, bases=bases)
                ledger.deliveries.record_updated(self.ledger_key, hashes_of([rec for _, rec in changed], updated))
        return accepted, refused

    def _post_isolating(
        self,
        plural: str,
        index: int,
        group: list[tuple[tuple[str, str], dict[str, Any]]],
        ledger: Ledger | None,
        store: Any = None,
        bases: dict[str, str | None] | None = None,
        first_key: str | None = None,
        hashes: dict[str, str | None] | None = None,
    ) -> tuple[list[tuple[str, str]], dict[str, tuple[str, str]]]:
        """
        Post ``group``; return the accepted items and ``{key: (container, reason)}`` of the refused ones.

        Each request's answer goes to the task state store before the ledger records it, so a retry after a
        crash between the two replays the answer instead of posting again. With ``bases`` (the hash each
        record replaces) it is an upsert, and the caller records what was accepted (``ledger`` is None).
        """
        pending, accepted, refused, requests = [group], [], {}, 0
        while pending:
            part = pending.pop()
            items = [item for item, _ in part]
            records = [record for _, record in part]
            key, first_key = first_key or request_key(plural, records, items, bases), None
            part_hashes = hashes_of(records, items) if ledger is not None else {}  # of the records as sent now
            answer, sent = self._answer(
                plural, index, items, records, key, part_hashes, ledger, store, upsert=bases is not None
            )
            requests += sent
            named = answer["named"]
            if answer["status"] >= 400 and not named and len(part) > 1:
                middle = len(part) // 2  # refused whole without saying which: halve until it stands alone
                pending += [part[middle:], part[:middle]]
                continue
            for k, container in items:
                if k in named or answer["status"] >= 400 and not named:
                    refused[k] = (container, f"ATS HTTP {answer['status']}: {named.get(k, answer['reason'])}")
            if answer["status"] >= 400:
                rest = [entry for entry in part if entry[0][0] not in refused]
                if rest:
                    pending.append(rest)
                continue
            ok = [item for item in items if item[0] not in named]
            if ledger is not None:
                ok_hashes = {k: (hashes if hashes is not None else part_hashes)[k] for k, _ in ok}
                ledger.deliveries.record_accepted(self.ledger_key, ok, hashes=ok_hashes)
            accepted += ok
            what = "accepted" if bases is None else "updated"
            log.info("Batch %s: ATS %s %s %s (Idempotency-Key %s)", index, what, len(ok), plural, key)
        if refused:
            log.error(
                "Batch %s: ATS refused %s of %s %s (%s request(s) to isolate them); keys: %s",
                index,
                len(refused),
                len(group),
                plural,
                requests,
                ", ".join(sorted(refused)),
            )
        return accepted, refused

    def _answer(
        self,
        plural: str,
        index: int,
        items: list[tuple[str, str]],
        records: list[dict[str, Any]],
        key: str,
        hashes: dict[str, str],
        ledger: Ledger | None,
        store: Any,
        *,
        upsert: bool,
    ) -> tuple[dict[str, Any], bool]:
        """Return the answer to ``key``'s request (its intent noted with ``hashes``) and whether it went now."""
        answer = store.get(key) if store is not None else None
        if answer is not None:
            log.info("Batch %s was answered by the ATS in an earlier try; not posting again (%s)", index, key)
            return answer, False
        if ledger is not None:
            ledger.deliveries.record_intent(self.ledger_key, items, group_key=key, hashes=hashes)
        answer = self._post(plural, records, key, mode="upsert" if upsert else None)
        if store is not None:
            store.set(key, answer)  # the whole batch's first request shares its key: one value
        return answer, True

    def _post(self, plural: str, records: list[dict[str, Any]], key: str, mode: str | None = None) -> dict[str, Any]:
        """POST ``records`` once; return the answer in a few bytes: status, reason, refused records it names."""
        keys = [record["hrflow_key"] for record in records]
        try:
            answer = self.client.post_records(plural, records, idempotency_key=key, mode=mode)
        except RefusedError as exc:
            if exc.status in (401, 403):
                raise AtsAuthError(f"{exc}; check connection '{self.conn_id}'", exc.status) from None
            return {"status": exc.status, "reason": exc.reason, "named": named_refusals(exc.body, keys)}
        try:
            body = answer.json()
        except ValueError:
            body = None
        return {"status": answer.status_code, "reason": "", "named": named_refusals(body, keys)}  # may refuse some

    def _replay(
        self,
        earlier: dict[str, Any],
        items: list[list[str]],
        records: list[dict[str, Any]],
        ledger: Ledger,
        known: Mapping[str, Entry] | None,
    ) -> Delivered:
        """Return the result of a batch answered in an earlier try, from its stored answer."""
        if known is None:
            known = ledger.deliveries.lookup(self.ledger_key, [key for key, _ in items])
        refused = earlier.get("refused")
        if not isinstance(refused, dict):  # stored by an earlier version: one reason for the whole batch
            reason = earlier.get("rejected")
            reason = reason[0]["reason"] if isinstance(reason, list) and reason else reason
            accepted_keys = {k for k, e in known.items() if e.state in DELIVERED}
            refused = {k: reason for k, _ in items if reason and k not in accepted_keys}
        accepted = [list(item) for item in items if item[0] not in refused]
        ok = [tuple(item) for item in accepted]
        ledger.deliveries.record_accepted(self.ledger_key, ok, hashes=hashes_of(records, ok))
        return Delivered(
            accepted=accepted,
            rejected=[Failure(key=k, container=c, reason=refused[k]) for k, c in items if k in refused],
            failed=[],
            resumed=earlier.get("resumed", 0),
            remote_ids={},
        )

    # -- removals ---------------------------------------------------------------------------------
    def remove(
        self,
        *,
        plural: str,
        items: list[list[str]],
        remote_ids: Mapping[str, str],
        mode: str,
        ledger: Ledger,
        lanes: int = 1,
    ) -> Removed:
        """
        Send ``{"mode": "archive" | "delete", plural: [{"hrflow_key": ...}, ...]}`` (docs/destinations.md), up to
        ``REMOVAL_CHUNK`` keys per request, each under the ``Idempotency-Key`` of its mode and keys: a removal
        applied twice leaves the same state. A 4xx fails the request's keys with the endpoint's reason.
        """
        result = Removed(removed=[], unsupported=[], failed=[])
        for start in range(0, len(items), REMOVAL_CHUNK):
            chunk = items[start : start + REMOVAL_CHUNK]
            records = [{RECORD_KEY: key} for key, _ in chunk]
            try:
                self.client.post_records(
                    plural, records, idempotency_key=idempotency_key(f"{plural}-{mode}", records), mode=mode
                )
            except RefusedError as exc:
                if exc.status in (401, 403):
                    raise AtsAuthError(f"{exc}; check connection '{self.conn_id}'", exc.status) from None
                reason = f"ATS HTTP {exc.status}: {exc.reason}"
                result["failed"] += [Failure(key=key, container=container, reason=reason) for key, container in chunk]
                continue
            result["removed"] += [[key, container, mode] for key, container in chunk]
            ledger.deliveries.record_removed(self.ledger_key, [key for key, _ in chunk], mode)
        return result
