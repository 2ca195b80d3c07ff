"""A planned delivery recorded in the inbox in one statement, the drain woken, and the answer per event."""

from __future__ import annotations

import logging
from typing import Any

from fastapi.responses import JSONResponse

from hrflow_airflow.events.inbox import Drainer
from hrflow_airflow.events.planning import Planned, run_id_for
from hrflow_airflow.events.sms import DAG_ID, event_conf

log = logging.getLogger(__name__)


def record_delivery(plan: list[Planned], drainer: Drainer) -> JSONResponse:
    """
    Record a delivery's SMS runs and sync announcements in the inbox (one statement), wake the drain, and answer
    per event: ``queued`` / ``duplicate`` (its SMS run), ``sync`` (what it announced); 503 if nothing was recorded.
    """
    run_ids = [run_id_for(*keys) if keys else None for _, keys, _ in plan]
    rows: dict[str, dict[str, Any]] = {}
    for (event, keys, _), run_id in zip(plan, run_ids):
        if run_id and run_id not in rows:  # the first event of a profile names its run
            rows[run_id] = event_conf(event, *keys)
    syncs = [news.row() if news else None for _, _, news in plan]
    rows.update(row for row in syncs if row)
    try:
        statuses = drainer.inbox.record(rows.items())
    except Exception as exc:  # nothing recorded: let HrFlow redeliver
        log.exception("Could not record a delivery of %s events", len(plan))
        return JSONResponse({"detail": f"could not record the delivery: {type(exc).__name__}"}, status_code=503)
    drainer.kick()
    sms_queued = sum(statuses.get(run_id) == "queued" for run_id in run_ids if run_id)
    syncs_queued = sum(statuses.get(row[0]) == "queued" for row in syncs if row)
    log.info(
        "HrFlow delivery of %s events: %s SMS and %s sync announcements queued",
        len(plan),
        sms_queued,
        syncs_queued,
    )
    return JSONResponse({"results": answers(plan, run_ids, syncs, statuses)}, status_code=200)


def answers(
    plan: list[Planned],
    run_ids: list[str | None],
    syncs: list[tuple[str, dict[str, Any]] | None],
    statuses: dict[str, str],
) -> list[dict[str, Any]]:
    """Return the answer per event: its SMS run's status (a run id's second event is a duplicate) and its sync's."""
    results, answered = [], set()
    for (event, _, _), run_id, sync in zip(plan, run_ids, syncs):
        status = ("duplicate" if run_id in answered else statuses[run_id]) if run_id else "ignored"
        answered.add(run_id)
        result: dict[str, Any] = {"type": event["type"], "status": status}
        if run_id:
            result.update(dag_id=DAG_ID, run_id=run_id)
        if sync:
            result["sync"] = statuses[sync[0]]
            result["status"] = result["status"] if run_id else statuses[sync[0]]
        results.append(result)
    return results
