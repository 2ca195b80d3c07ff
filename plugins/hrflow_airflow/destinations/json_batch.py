"""
The generic JSON batch endpoint (connection type ``http`` or ``hrflow_ats``): one POST of
``{"<plural>": [record, ...]}`` per batch with ``X-API-KEY`` and an ``Idempotency-Key``.

Exactly once: the sync ledger says which objects an earlier run got accepted (they go straight to tagging,
however this run's batches are cut); the rest are posted with an idempotency key that is the same on every
retry; the task state store remembers the answer, so a retry after it arrived posts nothing at all.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hrflow_airflow.hooks.api_key import AtsHook
from hrflow_airflow.hooks.http import RefusedError
from hrflow_airflow.mapping import idempotency_key

if TYPE_CHECKING:
    from hrflow_airflow.ledger import LedgerHook

log = logging.getLogger(__name__)


class JsonBatchDestination:
    """Post batches to the JSON endpoint of connection ``conn_id``."""

    name = "ats"
    kinds = frozenset({"profile", "job"})

    def __init__(self, *, conn_id: str) -> None:
        self.conn_id = conn_id

    @property
    def ledger_key(self) -> str:
        return self.conn_id  # rows written before adapters existed keep working

    def default_field_map(self, kind_name: str) -> dict[str, str] | None:
        return None  # the object kind's own map (flat records)

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
        result: dict[str, Any] = {"accepted": [], "rejected": [], "resumed": 0, "remote_ids": {}}
        store_key = idempotency_key(plural, records)
        if store is not None and (earlier := store.get(store_key)) is not None:
            log.info("Batch %s was answered by the ATS in an earlier try; not posting again", index)
            return self._replay(earlier, items, ledger)
        known = ledger.lookup(self.ledger_key, [key for key, _ in items])
        done = {key for key, entry in known.items() if entry.state == "accepted"}
        send = [(item, record) for item, record in zip(items, records) if item[0] not in done]
        result["accepted"] = [list(item) for item in items if item[0] in done]
        result["resumed"] = len(done)
        if done:
            log.info(
                "Batch %s: %s %s already accepted by the ATS in an earlier run (ledger); tagging only",
                index,
                len(done),
                plural,
            )
        if send:
            sent_items = [tuple(item) for item, _ in send]
            key = idempotency_key(plural, [record for _, record in send])
            ledger.record_intent(self.ledger_key, sent_items)
            try:
                AtsHook(ats_conn_id=self.conn_id).post_records(plural, [r for _, r in send], idempotency_key=key)
            except RefusedError as exc:
                reason = f"ATS HTTP {exc.status}: {exc.reason}"
                result["rejected"] = [{"key": k, "container": c, "reason": reason} for k, c in sent_items]
                ledger.forget(self.ledger_key, [k for k, _ in sent_items])  # refused: nothing was created
                log.error(
                    "Batch %s: ATS rejected %s %s: %s; keys: %s",
                    index,
                    len(sent_items),
                    plural,
                    reason,
                    ", ".join(k for k, _ in sent_items),
                )
            else:
                result["accepted"] += [list(i) for i in sent_items]
        if store is not None:  # before the ledger write: a retry after a crash here still posts nothing
            # the answer in a few bytes (Airflow caps a stored value at [workers] max_value_storage_bytes, 64 KB):
            # one POST is accepted or refused whole, so the items and the reason say the rest
            store.set(
                store_key,
                {
                    "rejected": result["rejected"][0]["reason"] if result["rejected"] else None,
                    "resumed": result["resumed"],
                },
            )
        if send and not result["rejected"]:
            ledger.record_accepted(self.ledger_key, sent_items)
            log.info("Batch %s: ATS accepted %s %s (Idempotency-Key %s)", index, len(sent_items), plural, key)
        return result

    def _replay(self, earlier: dict[str, Any], items: list[list[str]], ledger: LedgerHook) -> dict[str, Any]:
        """Return the result of a batch answered in an earlier try, from its stored answer."""
        known = ledger.lookup(self.ledger_key, [key for key, _ in items])
        done = [list(i) for i in items if i[0] in known and known[i[0]].state == "accepted"]
        reason = earlier.get("rejected")
        if isinstance(reason, list):  # stored by an earlier version: the whole result
            reason = reason[0]["reason"] if reason else None
        if reason:
            rejected = [{"key": k, "container": c, "reason": reason} for k, c in items if k not in {d[0] for d in done}]
            return {"accepted": done, "rejected": rejected, "resumed": earlier.get("resumed", 0), "remote_ids": {}}
        ledger.record_accepted(self.ledger_key, [tuple(i) for i in items])
        return {
            "accepted": [list(i) for i in items],
            "rejected": [],
            "resumed": earlier.get("resumed", 0),
            "remote_ids": {},
        }
