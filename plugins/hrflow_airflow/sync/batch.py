"""
The three steps each batch goes through, one function each: transform (pure), post to the destination, tag in
HrFlow. Each takes what the step before returned and returns the next payload (:mod:`.payloads`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.destinations.base import ATS_ID_TAG
from hrflow_airflow.hooks.hrflow_api import HrFlowHook
from hrflow_airflow.ledger import QUARANTINED, REMOVED, Entry, Ledger, Refusal
from hrflow_airflow.mapping import RECORD_KEY, MappingError, redact, to_record
from hrflow_airflow.objects import ObjectKind
from hrflow_airflow.sealed import SEALED, record_hashes, seal_items, unseal, unsealed
from hrflow_airflow.sync.config import resolve_hrflow_tuning
from hrflow_airflow.sync.payloads import UPDATE, Delivered, Failure, Posted, Tagged, Transformed
from hrflow_airflow.sync.spill import keep_beside, load_batch, load_beside, mark_done
from hrflow_airflow.sync.summary import lost

log = logging.getLogger(__name__)
DEFAULT_MAX_REFUSALS = 3  # refusals of one unchanged record before it is quarantined ([hrflow] max_refusals)
DEFAULT_TAG_CONCURRENCY = 8  # HrFlow calls in flight in a tagging task when neither the plan nor a param says


def transform_batch(
    batch: Mapping[str, Any],
    field_map: Mapping[str, str],
    *,
    kind: ObjectKind | None = None,
    job_map: Mapping[str, str] | None = None,
) -> Transformed:
    """
    Return a batch's ATS records (sealed) and the objects whose mapping failed, by key; the rest go on.

    A batch holds records already (``search`` maps each object as it is read, :mod:`.find`, :mod:`.changes`): its
    records go on as they are, by reference, and its mapping failures are reported here; only the objects an
    earlier run of a resumed listing tagged are left out. A batch of trimmed objects (a listing written by
    0.2, resumed) is mapped here: ``kind``, the object kind, whose records may carry more than the mapped
    fields (a profile's CV and jobs, ``job_map`` naming their ATS ids); None: the mapped fields only.
    """
    head = load_batch(dict(batch), head=True)
    if not head.get("records"):
        return map_batch(batch, field_map, kind=kind, job_map=job_map)
    skip = set(head.get("skip") or ())  # tagged by the stopped run whose listing this run resumed
    items = [item for item in head["items"] if item[0] not in skip]
    failed = [Failure(**f) for f in head.get("failed") or () if f["key"] not in skip]
    if len(items) == len(head["items"]):  # nothing to leave out: the batch's own records, unopened
        records: dict[str, Any] = {"records_ref": batch["ref"]} if batch.get("ref") else {SEALED: head[SEALED]}
    else:
        whole = load_batch(dict(batch))
        kept = (record for (key, _), record in zip(whole["items"], unsealed(whole)) if key not in skip)
        records = keep_beside(batch.get("ref"), "records", seal_items(compact(record) for record in kept))
    return transformed(batch, items, failed, records)


def map_batch(
    batch: Mapping[str, Any],
    field_map: Mapping[str, str],
    *,
    kind: ObjectKind | None = None,
    job_map: Mapping[str, str] | None = None,
) -> Transformed:
    """
    Return ATS records for a batch of trimmed objects (sealed); an item whose mapping fails is reported by key.
    Objects are opened, mapped and sealed again a chunk at a time: the task never holds the batch twice.
    """
    whole = load_batch(dict(batch))
    items, failed = [], []
    skip = set(whole.get("skip") or ())

    def records() -> Iterator[str]:
        for (key, container), data in zip(whole["items"], unsealed(whole)):
            if key in skip:
                continue
            try:
                record = kind.record(key, data, field_map, job_map) if kind else to_record(key, data, field_map)
            except MappingError as exc:
                failed.append(Failure(key=key, container=container, reason=f"mapping failed: {exc}"))
                continue
            items.append([key, container])
            yield compact(record)

    sealed = seal_items(records())
    return transformed(batch, items, failed, keep_beside(batch.get("ref"), "records", sealed))


def compact(value: Any) -> str:
    """Return ``value`` as compact JSON text, as records are sealed."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def transformed(
    batch: Mapping[str, Any], items: list[list[str]], failed: list[Failure], records: dict[str, Any]
) -> Transformed:
    """Return the ``transform`` payload of ``batch``: its records (sealed, or where they are) and failures."""
    return Transformed(
        index=batch["index"],
        items=items,
        failed=failed,
        count=len(items),
        concurrency=batch.get("concurrency"),
        lanes=batch.get("lanes", 1),
        ref=batch.get("ref"),  # the batch file: marked done once every object of it is tagged
        **{name: batch[name] for name in ("mode", "remote_ids", "bases") if name in batch},
        **records,
    )


def post_batch(
    kind: ObjectKind,
    batch: Transformed,
    *,
    run_id: str,
    store: Any = None,
    max_refusals: int = DEFAULT_MAX_REFUSALS,
    retry_quarantined: bool = False,
    update_fields: list[str] | None = None,
) -> Posted:
    """
    Send the batch's objects the destination has not accepted yet, once, through its adapter.

    The ledger is read once here and handed to the destination: objects an earlier run got accepted go straight
    to tagging, however this run's batches are cut (docs/destinations.md). The read and the sends hold the turn of
    the destination and kind: while another run's task holds it, this raises ``NotYourTurnError`` before any
    (docs/sync.md, "Runs that overlap"). ``store`` is the task state store: a retry after the answer arrived sends
    nothing. A refused record fails alone and its refusals are counted (:func:`count_refusals`); a quarantined one
    is not sent while unchanged, unless ``retry_quarantined``. An update batch (``mode="update"``) sends only
    ``update_fields`` (all when None) to the destination's update.
    """
    destination = destination_for(kind.ats_conn_id, kind.name)
    ledger = Ledger()
    posted = nothing_posted(batch, destination.ledger_key)
    if not batch["count"]:
        return posted
    with ledger.turns.hold(f"{destination.ledger_key}/{kind.plural}", run_id):  # an overlapping run waits
        records = unseal(load_beside(batch, "records"))
        hashes = dict(zip((record[RECORD_KEY] for record in records), record_hashes(records)))
        known = ledger.deliveries.lookup(destination.ledger_key, hashes)  # read once: the destination gets it
        held = held_back(known, hashes, retry_quarantined)
        posted["quarantined"] = [
            Failure(key=key, container=entry.container, reason=f"{not_sent(entry)}: {entry.reason}")
            for key, entry in held.items()
        ]
        send = [(item, record) for item, record in zip(batch["items"], records) if item[0] not in held]
        if not send:
            return posted
        delivered = send_batch(
            destination, kind, batch, send, ledger, hashes, known=known, store=store, update_fields=update_fields
        )
        if batch.get("mode") == UPDATE:
            posted["updated"], delivered["accepted"] = delivered["accepted"], []
        posted.update(delivered)
        by_key = {item[0]: record for item, record in send}
        refusals = [
            Refusal(f["key"], f["container"], hashes[f["key"]], redact(f["reason"], by_key[f["key"]]))
            for f in delivered["rejected"]
        ]
        new, posted["refused"] = count_refusals(  # in the turn: the next run sees them refused, not in flight
            ledger, destination.ledger_key, refusals, run_id=run_id, max_refusals=max_refusals
        )
    posted["rejected"] = new + delivered.get("failed", [])  # not delivered without a refusal: fails every run
    return posted


def nothing_posted(batch: Transformed, ledger_key: str) -> Posted:
    """Return the batch's result before anything is sent: no key accepted, refused or failed yet."""
    return Posted(
        index=batch["index"],
        accepted=[],
        rejected=[],
        failed=[],
        resumed=0,
        remote_ids={},
        refused=[],
        quarantined=[],
        concurrency=batch.get("concurrency"),
        ledger_key=ledger_key,
        ref=batch.get("ref"),
        mapped_all=not batch.get("failed"),
        **({"mode": UPDATE, "updated": []} if batch.get("mode") == UPDATE else {}),
    )


def held_back(known: Mapping[str, Entry], hashes: Mapping[str, str], retry_quarantined: bool) -> dict[str, Entry]:
    """Return the objects not sent: quarantined and unchanged (unless ``retry_quarantined``), or erased."""
    held = {} if retry_quarantined else quarantined_unchanged(known, hashes)
    held.update(erased(known))  # an erasure's tombstone: never sent again, whatever the params
    return held


def not_sent(entry: Entry) -> str:
    """Name why a held object is not sent: an erasure's tombstone, or its quarantine."""
    return "not sent" if entry.state == REMOVED else "quarantined"


def erased(known: Mapping[str, Entry]) -> dict[str, Entry]:
    """Return the entries an erasure request left as tombstones: those objects are never sent again."""
    return {k: e for k, e in known.items() if e.state == REMOVED and str(e.reason or "").startswith("erased")}


def quarantined_unchanged(known: Mapping[str, Entry], hashes: Mapping[str, str]) -> dict[str, Entry]:
    """Return the entries of quarantined objects whose record is the one refused: they are not sent again."""
    return {k: e for k, e in known.items() if e.state == QUARANTINED and e.record_hash == hashes[k]}


def send_batch(
    destination: Any,
    kind: ObjectKind,
    batch: Transformed,
    send: list[tuple[list[str], dict[str, Any]]],
    ledger: Ledger,
    hashes: dict[str, str],
    *,
    known: Mapping[str, Any],
    store: Any,
    update_fields: list[str] | None,
) -> Delivered:
    """Send ``(item, record)`` pairs as creates, or as updates of what they may overwrite (an update batch)."""
    items, records = [item for item, _ in send], [record for _, record in send]
    common = {
        "plural": kind.plural,
        "index": batch["index"],
        "items": items,
        "store": store,
        "lanes": batch.get("lanes", 1),
    }
    if batch.get("mode") != UPDATE:
        return destination.deliver(records=records, ledger=ledger, known=known, **common)
    delivered = destination.update_batch(
        records=[overwritable(record, update_fields) for record in records],
        remote_ids=batch.get("remote_ids") or {},
        bases=batch.get("bases") or {},
        **common,
    )
    ledger.deliveries.record_updated(destination.ledger_key, {key: hashes[key] for key, _ in delivered["accepted"]})
    return delivered


def overwritable(record: Mapping[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """
    Return the part of ``record`` an update may overwrite: ``fields`` (all mapped fields when None). A CV or
    applications left out are not governed by the update: neither sent nor read as removed (destinations.completion).
    """
    if fields is None:
        return dict(record)
    return {name: value for name, value in record.items() if name == RECORD_KEY or name in fields}


def count_refusals(
    ledger: Ledger, ledger_key: str, refusals: list[Refusal], *, run_id: str, max_refusals: int
) -> tuple[list[Failure], list[Failure]]:
    """
    Count the run's refusals in the ledger; return what is new (a first refusal, a quarantine: the run fails
    and pages) and what is known (refused before, below ``max_refusals``: reported, the run does not fail).
    """
    entries = ledger.refusals.record(ledger_key, refusals, run_id=run_id, max_refusals=max_refusals)
    new, known = [], []
    for refusal in refusals:
        entry = entries[refusal.key]
        if entry.state == QUARANTINED:
            reason = f"quarantined after {entry.refusals} refusals of the same record: {refusal.reason}"
            new.append(Failure(key=refusal.key, container=refusal.container, reason=reason))
        elif entry.refusals == 1:
            new.append(Failure(key=refusal.key, container=refusal.container, reason=refusal.reason))
        else:
            reason = f"refused again ({entry.refusals} of {max_refusals}): {refusal.reason}"
            known.append(Failure(key=refusal.key, container=refusal.container, reason=reason))
    return new, known


def tag_batch(kind: ObjectKind, batch: Posted, params: Mapping[str, Any]) -> Tagged:
    """Re-read each accepted object and add ``sync=1`` (and the ATS's id) unless it is there, then PUT it."""
    result = Tagged(index=batch["index"], tagged=0, skipped=0, failed=[], by_container={})
    if not batch["accepted"]:
        return result
    param_concurrency, requests_per_minute = resolve_hrflow_tuning(params)
    concurrency = batch.get("concurrency") or param_concurrency or DEFAULT_TAG_CONCURRENCY
    hook = HrFlowHook(requests_per_minute=requests_per_minute, pool_size=concurrency)
    container_of = dict(map(tuple, batch["accepted"]))
    # the ATS's own id goes on the object with sync=1, so the link survives Airflow
    extra_tags = {key: [{"name": ATS_ID_TAG, "value": remote}] for key, remote in batch["remote_ids"].items()}
    outcomes = hook.add_sync_tags(
        kind, [tuple(i) for i in batch["accepted"]], concurrency=concurrency, extra_tags=extra_tags
    )
    result["newest"] = hook.newest_write
    done = [key for key, outcome, _ in outcomes if outcome != "failed"]
    if batch.get("ref"):  # a run resuming this listing skips these objects
        settled = not (batch["rejected"] or batch.get("refused") or batch.get("quarantined"))
        complete = batch["mapped_all"] and settled and len(done) == len(outcomes)
        mark_done(batch["ref"], [[key, container_of[key]] for key in done], complete=complete)
    # sync=1 is on them now; the ledger keeps the hash of what the destination accepted (change detection)
    Ledger().deliveries.mark_synced(batch["ledger_key"], done)  # the tagging task's one ledger
    for key, outcome, reason in outcomes:
        if outcome == "failed":
            result["failed"] += lost([[key, container_of[key]]], reason)
            log.warning("%s %s: not tagged: %s", kind.name, key, reason)
            continue
        count = "skipped" if outcome == "already" else "tagged"  # "already": it carried sync=1
        result[count] += 1
        per = result["by_container"].setdefault(container_of[key], {"tagged": 0, "skipped": 0})
        per[count] += 1
    return result
