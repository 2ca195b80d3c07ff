"""
An erasure request (GDPR Art. 17), honoured end to end (DAG ``hrflow_erasure``; docs/operations.md, "Erasure
request"). For each profile key of one source:

1. the ATS's record is deleted now (``delete``, or ``archive`` where the ATS has no delete), whatever
   ``[hrflow] on_archive`` says; a 404 means it was not there;
2. what Airflow still holds for it is forgotten: batch files (sealed) of runs that carried it, in the XCom object
   storage, and the SMS path's records (the webhook inbox row, the message intent);
3. the ledger keeps only a tombstone (key, date, the destination id removed), so no later run creates the
   candidate again while the profile still exists in HrFlow.

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
from hrflow_airflow.events.sms import KEY_PATTERN, MAX_KEY_LENGTH
from hrflow_airflow.ledger import Ledger
from hrflow_airflow.objects import PROFILE

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
    held = [k for k in keys if k in known and not str(known[k].reason or "").startswith("erased")]
    cvs = delete_cvs(destination, ledger, [k for k in held if known[k].ours], report)
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
    ledger.parts.forget(destination.ledger_key, done)
    ledger.deliveries.tombstone(
        destination.ledger_key, [(k, known[k].container if k in known else source) for k in done], "erased"
    )
    forget_airflow_copies(source, done, ledger)
    log.info("Erasure of %s profile(s): %s", len(keys), {name: len(found) for name, found in report.items()})
    return report


def delete_cvs(destination: Any, ledger: Ledger, keys: list[str], report: dict[str, list[str]]) -> set[str]:
    """
    Delete the CV file of each of ``keys`` where the ATS can delete files (e.g. Lever's files endpoint), noting it
    in ``report``; return the keys whose CV the ATS holds (files it cannot delete go with a deleted record only).
    """
    from hrflow_airflow.ledger.parts import CV, SENT

    parts = ledger.parts.of(destination.ledger_key, keys)
    holding = {key for key, own in parts.items() if CV in own and own[CV].state == SENT}
    client = getattr(destination, "client", None)
    if client is None or not getattr(client, "cv_deletable", False):
        return holding
    known = ledger.deliveries.lookup(destination.ledger_key, list(holding))
    for key in sorted(holding):
        file_id, remote = parts[key][CV].remote_id, known[key].remote_id if key in known else None
        if file_id and remote:
            method, path = client.cv_delete_request(remote.split(":", 1)[1], file_id)
            try:
                client.request(method, path)
            except RefusedError as exc:  # 404: not there any more, which is done; else the erasure is run again
                if exc.status not in (404, 410):
                    raise
            report["cv_deleted"].append(key)
    return holding


def deleted_with_record(destination: Any, ledger: Ledger, keys: set[str]) -> set[str]:
    """Return the keys whose ATS record was deleted (not archived): their files went with it."""
    known = ledger.deliveries.lookup(destination.ledger_key, list(keys))
    return {key for key, entry in known.items() if str(entry.reason or "") in ("delete", "gone")}


def forget_airflow_copies(source: str, keys: list[str], ledger: Ledger) -> None:
    """Delete the batch files that carried ``keys`` and the SMS path's rows for them."""
    from sqlalchemy import delete

    from hrflow_airflow.events.inbox import Inbox
    from hrflow_airflow.events.outbox import MessageRecords
    from hrflow_airflow.events.planning import run_id_for
    from hrflow_airflow.events.sms import DAG_ID, sms_idempotency_key
    from hrflow_airflow.spill import forget_keys

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
    try:
        source, keys = parse_request(dict(context["params"]))
    except BadConfigError as exc:
        raise AirflowFailException(f"Bad erasure request: {exc}") from None
    report = erase(source, keys)
    if report["failed"]:
        raise AirflowFailException(f"Erasure failed for {', '.join(report['failed'])} (see the log): run it again")
    return report
