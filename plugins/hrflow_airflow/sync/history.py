"""The sync run's line in the HrFlow page's run history (:mod:`hrflow_airflow.ledger.runs`), written by ``summary``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.ledger import LedgerHook, counts
from hrflow_airflow.ledger.runs import RunHistory
from hrflow_airflow.mapping import redact
from hrflow_airflow.objects import ObjectKind
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
