"""
An erasure request (GDPR Art. 17), honoured end to end (DAG ``hrflow_erasure``; docs/operations.md, "Erasure
request"). For each profile key of one source:

1. the ATS's record is deleted now (``delete``, or ``archive`` where the ATS has no delete), whatever
   ``[hrflow] on_archive`` says; a 404 means it was not there. Where the vendor makes one record per job, each
   of the profile's records is (its per-job records have ledger keys of their own, ``<key>~<hash>``), and each
   record's CV file is deleted where the ATS deletes files, else reported as remaining;
2. what Airflow still holds for it is forgotten: batch files (sealed) of runs that carried it, in the XCom object
   storage, and the SMS path's records (the webhook inbox row, the message intent);
3. the ledger keeps only a tombstone of each of its records (key, date, the destination id removed) and none
   of their parts, so no later run creates the candidate again while the profile still exists in HrFlow.

The request carries keys only (validated like the webhook's); the report says per key: removed, not found, not
supported by that ATS, or left in place: a record the ATS already held that the sync only linked to (its id is
not ours to erase; the ledger's tombstone still stops the sync from writing to it again).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk import task
from airflow.sdk.exceptions import AirflowFailException

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.errors import BadConfigError, RefusedError, fails_fast
from hrflow_airflow.ledger import Ledger
from hrflow_airflow.objects import KEY_PATTERN, MAX_KEY_LENGTH, PROFILE

log = logging.getLogger(__name__)
MAX_KEYS = 1000


def parse_request(conf: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Return ``(source_key, profile_keys)`` of an erasure request, or raise BadConfigError naming the field."""
    source, keys = conf.get("source_key"), conf.get("profile_keys")
    if not isinstance(source, str) or not KEY_PATTERN.fullmatch(source.strip()):
        raise BadConfigError(
            f"source_key must be an HrFlow key (letters, digits, '-' or '_', at most {MAX_KEY_LENGTH} characters)"
        )
    if not isinstance(keys, list) or not keys or len(keys) > MAX_KEYS:
        raise BadConfigError(f"profile_keys must be a list of 1 to {MAX_KEYS} profile keys")
    bad = [i for i, key in enumerate(keys) if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key.strip())]
    if bad:
        raise BadConfigError(f"profile_keys[{bad[0]}] is not an HrFlow key (keys only: no names or emails)")
    return source.strip(), list(dict.fromkeys(key.strip() for key in keys))


def erase(source: str, keys: list[str], *, ledger: Ledger | None = None) -> dict[str, list[str]]:
    """Honour the request for ``keys`` of ``source``; return the keys per outcome."""
    ledger = ledger or Ledger()
    destination = destination_for(PROFILE.ats_conn_id, PROFILE.name)
    known = ledger.deliveries.lookup(destination.ledger_key, keys)
    report: dict[str, list[str]] = {
        "removed": [],
        "not_found": [],
        "not_supported": [],
        "left_in_place": [],
        "failed": [],
        "cv_deleted": [],
        "cv_remains": [],
    }
    per_job = ledger.parts.per_job(destination.ledger_key, keys)  # its own records on other jobs
    held = [k for k in keys if k in known and not str(known[k].reason or "").startswith("erased")]
    records = {k: [k, *per_job.get(k, [])] for k in held if known[k].ours}
    cvs = delete_cvs(destination, ledger, records, report)
    report["not_found"] += [k for k in keys if k not in held]
    remote_ids = {k: known[k].remote_id for k in held if known[k].remote_id}
    todo = [[k, known[k].container] for k in held]
    for mode in ("delete", "archive"):  # archive only where the ATS has no delete
        if not todo:
            break
        result = destination.remove(plural=PROFILE.plural, items=todo, remote_ids=remote_ids, mode=mode, ledger=ledger)
        for key, _, how in result["removed"]:
            report["not_found" if how == "gone" else "removed"].append(key)
        report["failed"] += [f["key"] for f in result["failed"]]
        report["left_in_place"] += [f["key"] for f in result.get("not_ours", [])]  # linked: not ours to erase
        unsupported = {f["key"] for f in result["unsupported"]}
        todo = [item for item in todo if item[0] in unsupported]
    report["not_supported"] += [key for key, _ in todo]
    archived = {key for key in held if key in report["removed"]} - set(report["cv_deleted"])
    report["cv_remains"] = sorted((archived & cvs) - deleted_with_record(destination, ledger, archived))
    done = [k for k in keys if k not in report["failed"]]
    keep_tombstones(ledger, destination.ledger_key, source, known, {k: per_job.get(k, []) for k in done})
    forget_airflow_copies(source, done, ledger)
    log.info("Erasure of %s profile(s): %s", len(keys), {name: len(found) for name, found in report.items()})
    return report


def delete_cvs(
    destination: Any, ledger: Ledger, records: Mapping[str, list[str]], report: dict[str, list[str]]
) -> set[str]:
    """
    Delete the CV file of each record of each profile (``records``: its key -> the ledger keys of its records, its
    own and its per-job ones) where the ATS can delete files (e.g. Lever's files endpoint), noting in ``report``
    the profiles whose every CV went; return the profiles whose records hold a CV (files the ATS cannot delete
    go with a deleted record only).
    """
    from hrflow_airflow.ledger.parts import CV, SENT

    owner = {record: key for key, own in records.items() for record in own}
    parts = ledger.parts.of(destination.ledger_key, owner)
    holding = sorted(record for record, own in parts.items() if CV in own and own[CV].state == SENT)
    client = getattr(destination, "client", None)
    if client is None or not getattr(client, "cv_deletable", False):
        return {owner[record] for record in holding}
    known, remains = ledger.deliveries.lookup(destination.ledger_key, holding), set()
    for record in holding:
        file_id, remote = parts[record][CV].remote_id, known[record].remote_id if record in known else None
        if not (file_id and remote):
            remains.add(owner[record])
            continue
        method, path = client.cv_delete_request(remote.split(":", 1)[1], file_id)
        try:
            client.request(method, path)
        except RefusedError as exc:  # 404: not there any more, which is done; else the erasure is run again
            if exc.status not in (404, 410):
                raise
    report["cv_deleted"] += sorted({owner[record] for record in holding} - remains)
    return {owner[record] for record in holding}


def deleted_with_record(destination: Any, ledger: Ledger, keys: set[str]) -> set[str]:
    """Return the keys whose ATS record was deleted (not archived): their files went with it."""
    known = ledger.deliveries.lookup(destination.ledger_key, list(keys))
    return {key for key, entry in known.items() if str(entry.reason or "") in ("delete", "gone")}


def keep_tombstones(
    ledger: Ledger, ledger_key: str, source: str, known: Mapping[str, Any], per_job: Mapping[str, list[str]]
) -> None:
    """
    Drop the parts of each erased profile (``per_job``: its key -> its per-job records' ledger keys) and of each of
    its records; keep only a tombstone of each row, so no later run creates any of them again.
    """
    subs = [sub for own in per_job.values() for sub in own]
    containers = {key: entry.container for key, entry in ledger.deliveries.lookup(ledger_key, subs).items()}
    containers.update({key: known[key].container for key in per_job if key in known})
    rows = [*per_job, *subs]
    ledger.parts.forget(ledger_key, rows)
    ledger.deliveries.tombstone(ledger_key, [(key, containers.get(key) or source) for key in rows], "erased")


def forget_airflow_copies(source: str, keys: list[str], ledger: Ledger) -> None:
    """Delete the batch files that carried ``keys`` and the SMS path's rows for them."""
    from sqlalchemy import delete

    from hrflow_airflow.events.inbox import Inbox
    from hrflow_airflow.events.outbox import MessageRecords
    from hrflow_airflow.events.planning import run_id_for
    from hrflow_airflow.events.sms import DAG_ID, sms_idempotency_key
    from hrflow_airflow.sync.spill import forget_keys

    removed = forget_keys(set(keys))
    inbox, outbox = Inbox(ledger.db).table, MessageRecords("sms", ledger.db).table
    runs = [run_id_for(source, key) for key in keys]
    with ledger.db.engine.begin() as conn:
        conn.execute(delete(inbox).where(inbox.c.run_id.in_(runs)))
        conn.execute(delete(outbox).where(outbox.c.message_key.in_([sms_idempotency_key(DAG_ID, r) for r in runs])))
    log.info("Forgot %s batch file(s) and the SMS records of %s key(s)", removed, len(keys))


def erasure_params() -> dict[str, Any]:
    """Return the request's params, keys only, for the trigger form and validation."""
    from airflow.sdk import Param

    return {
        "source_key": Param(type="string", minLength=1, title="Source key", description="The profiles' source."),
        "profile_keys": Param(
            type="array",
            items={"type": "string", "minLength": 1},
            minItems=1,
            maxItems=MAX_KEYS,
            title="Profile keys",
            description="Keys of the profiles to erase (keys only: never names or emails).",
        ),
    }


@task(task_id="erase", show_return_value_in_logs=False, multiple_outputs=False)  # the DAG file sets its pool
@fails_fast
def erase_request(**context: Any) -> dict[str, list[str]]:
    """Delete each profile's ATS record, forget Airflow's copies, leave a tombstone; report keys per outcome."""
    source, keys = parse_request(dict(context["params"]))  # BadConfigError: fails_fast fails the task, naming it
    report = erase(source, keys)
    if report["failed"]:
        raise AirflowFailException(f"Erasure failed for {', '.join(report['failed'])} (see the log): run it again")
    return report
