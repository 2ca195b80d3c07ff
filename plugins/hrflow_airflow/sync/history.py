"""
The sync run's line in the HrFlow page's run history (:mod:`hrflow_airflow.ledger.runs`): written by ``summary``
with the run's counts, then given the state Airflow decided by the DAG's success or failure callback
(:func:`record_success`, :func:`record_failure`), which adds the line of a run that never reached ``summary``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.ledger import LedgerHook, counts
from hrflow_airflow.ledger.runs import RunHistory
from hrflow_airflow.mapping import redact
from hrflow_airflow.objects import SYNC_DAGS, ObjectKind
from hrflow_airflow.settings import setting
from hrflow_airflow.sync.payloads import Summary

log = logging.getLogger(__name__)


def failures_of(result: Summary) -> list[tuple[str, str | None, str]]:
    """Return ``(key, container, redacted reason)`` of the run's failed, refused and quarantined keys, once each."""
    seen: dict[str, tuple[str, str | None, str]] = {}
    for name in ("failed_keys", "refused_keys", "quarantined_keys"):
        for failure in result.get(name) or ():
            key = str(failure.get("key", ""))
            if key and key not in seen:
                seen[key] = (key, failure.get("container"), redact(str(failure.get("reason", ""))))
    return list(seen.values())


def record_run(kind: ObjectKind, result: Summary, context: Mapping[str, Any]) -> None:
    """
    Record the run in the page's history and count its destination's objects; a dry run records nothing, and a
    failure to record only logs.
    """
    if result.get("dry_run"):
        return
    dag_run, db = context.get("dag_run"), LedgerHook()
    try:
        destination = destination_for(kind.ats_conn_id).ledger_key
        RunHistory(db).record(
            result,
            dag_id=context["dag"].dag_id,
            run_id=context["run_id"],
            destination=destination,
            started_at=getattr(dag_run, "start_date", None),
            failures=failures_of(result),
            keep_days=setting("history_days"),
        )
        counts.take(db, destination)  # the page's counts, as of this run's end
    except Exception as exc:  # the run's outcome is the sync's, not its history's
        log.warning("Run history not recorded (the HrFlow page misses this run): %s", exc)


def record_success(context: Mapping[str, Any]) -> None:
    """A sync DAG's success callback: record that Airflow marked the run a success."""
    record_end(context, "success")


def record_failure(context: Mapping[str, Any]) -> None:
    """A sync DAG's failure callback: record that Airflow failed the run, whether or not ``summary`` ran."""
    record_end(context, "failed")


def record_end(context: Mapping[str, Any], state: str) -> None:
    """
    Record how Airflow ended a sync run (a dry run records nothing); a failure to record only logs. A run that
    failed before ``summary`` (``search`` failed, the run was marked failed) gets its line, without counts; a run
    ``summary`` recorded gets Airflow's state (a stale unknown alert fails a run whose objects all went through).
    """
    dag_run = context.get("dag_run")
    dag_id = getattr(context.get("dag"), "dag_id", None) or getattr(dag_run, "dag_id", None)
    run_id = context.get("run_id") or getattr(dag_run, "run_id", None)
    kind = SYNC_DAGS.get(str(dag_id))
    if kind is None or not run_id or dry_run(context):
        return
    try:
        added = RunHistory(LedgerHook()).settle(
            dag_id=kind.dag_id,
            run_id=str(run_id),
            destination=ledger_key(kind),
            state=state,
            started_at=getattr(dag_run, "start_date", None),
            keep_days=setting("history_days"),
        )
        log.info("Run history: %s %s %s%s", kind.dag_id, run_id, state, " (ended before summary)" if added else "")
    except Exception as exc:  # the run's outcome is Airflow's, not its history's
        log.warning("Run end not recorded (the HrFlow page may miss this run or its state): %s", exc)


def dry_run(context: Mapping[str, Any]) -> bool:
    """Return whether the run is a dry run, from its params (or its conf, where the context has no params)."""
    conf = getattr(context.get("dag_run"), "conf", None) or {}
    return bool((context.get("params") or {}).get("dry_run") or conf.get("dry_run"))


def ledger_key(kind: ObjectKind) -> str:
    """Return the ledger key of ``kind``'s destination; its connection id when it is badly set up (the page's owner)."""
    try:
        return destination_for(kind.ats_conn_id).ledger_key
    except Exception:  # the run may have failed for that very reason: its line still shows
        return kind.ats_conn_id
