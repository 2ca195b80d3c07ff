"""
The sync DAGs' tasks, a few lines each: each reads its context, calls the one function that does the work
(:mod:`.find`, :mod:`.batch`, :mod:`.summary`) and returns its payload (:mod:`.payloads`).

``kind`` is the object kind's name ("profile" or "job"). The DAG files set what differs by kind with
``.override()``: the tag task's id, the ATS pool, the report's asset alias.

Every task that returns a dict says ``multiple_outputs=False``: Airflow would otherwise infer True from the
annotation and push each key again as its own XCom (twice the XCom, and a sealed copy that the end-of-run
deletion would not reach). Return values that hold keys are not logged (``show_return_value_in_logs``).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import Variable, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from hrflow_airflow.alerts.metrics import log_run_progress, publish_report
from hrflow_airflow.alerts.monitoring import under_dags_test
from hrflow_airflow.destinations import destination_for
from hrflow_airflow.errors import NotYourTurnError, fails_fast
from hrflow_airflow.hooks.hrflow_api import HrFlowHook
from hrflow_airflow.ledger import Ledger
from hrflow_airflow.ledger.seen import seen_keys
from hrflow_airflow.ledger.turns import wait as turn_wait
from hrflow_airflow.settings import settings
from hrflow_airflow.sync.batch import DEFAULT_MAX_REFUSALS, post_batch, tag_batch, transform_batch
from hrflow_airflow.sync.changes import commit_watermark, find_updates
from hrflow_airflow.sync.config import (
    resolve_field_map,
    resolve_job_map,
    run_config,
    update_fields,
    updates_enabled,
)
from hrflow_airflow.sync.dag_args import DEPTH_FIRST, MAX_BATCHES, asset_alias, object_kind, stage_task_ids
from hrflow_airflow.sync.find import find_batches
from hrflow_airflow.sync.history import record_run
from hrflow_airflow.sync.memory import gives_memory_back
from hrflow_airflow.sync.payloads import Batch, Posted, Summary, Tagged, Transformed
from hrflow_airflow.sync.removals import find_gone, guard, removal_mode, remove_gone
from hrflow_airflow.sync.summary import (
    add_removal,
    batch_results,
    build_summary,
    end_of_run_cleanup,
    failure_message,
    log_summary,
)
from hrflow_airflow.sync.unknown import still_unknown

log = logging.getLogger(__name__)


@task(show_return_value_in_logs=False)  # the DAG file sets the pool (dag_args.hrflow_pool) when it is parsed
@fails_fast
@gives_memory_back
def search(kind: str, **context: Any) -> list[Batch]:
    """Find every unsynced object in the run's window, mapped to its record as it is read, in batches."""
    objects = object_kind(kind)
    cfg = run_config(objects, context)
    destination = destination_for(objects.ats_conn_id, objects.name)  # bad setup: @fails_fast fails the task
    default_map = destination.default_field_map(objects.name)
    field_map = resolve_field_map(objects, lambda name: Variable.get(name, default=None), default=default_map)
    update_fields(field_map)  # a field the map does not have is a bad setting: named now
    if not cfg.dry_run:
        destination.check_field_map(field_map)  # custom fields the ATS does not define: named before any send
    log.info("Listing: %s; destination: %s (connection '%s')", cfg.why, destination.name, objects.ats_conn_id)
    ledger = Ledger()  # the task's one ledger, passed on
    seen = seen_keys(ledger.db, f"{context['dag'].dag_id}/{context['run_id']}") if cfg.sweep else None
    job_map = resolve_job_map(Variable.get)  # records are made while listing
    batches, stats = find_batches(
        objects,
        cfg,
        field_map,
        dag_id=context["dag"].dag_id,
        run_id=context["run_id"],
        sequential=under_dags_test(),
        ledger_key=destination.ledger_key,
        ledger=ledger,
        on_listed=seen.add if seen else None,
        job_map=job_map,
    )
    stats["gone"] = None
    if seen is not None and not cfg.dry_run:
        stats["gone"] = find_gone(
            objects,
            HrFlowHook(requests_per_minute=cfg.requests_per_minute),
            seen,
            ledger=ledger,
            ledger_key=destination.ledger_key,
            containers=cfg.containers,
            listed=seen.count,
            params=context["params"],
        )
    # synced objects whose record changed since: updates (updates off: only the re-sends the HrFlow page queued)
    stats["changes"] = find_updates(
        objects,
        cfg,
        field_map,
        batches=batches,
        ledger_key=destination.ledger_key,
        updates=updates_enabled(context["params"]),
        max_batches=MAX_BATCHES,
        ledger=ledger,
        job_map=job_map,
    )
    stats["batches"] = len(batches)
    context["ti"].xcom_push(key="field_map", value=field_map)
    context["ti"].xcom_push(key="stats", value=stats)
    return batches


@task(show_return_value_in_logs=False, multiple_outputs=False, weight_rule=DEPTH_FIRST)
@gives_memory_back
def transform(kind: str, batch: Batch, field_map: dict[str, str]) -> Transformed:
    """Pass the batch's records (mapped as search read them) on; report its mapping failures by key."""
    objects = object_kind(kind)
    job_map = resolve_job_map(Variable.get) if objects.whole_candidate else None
    result = transform_batch(batch, field_map, kind=objects, job_map=job_map)
    for failure in result["failed"]:
        log.warning("%s %s: %s", kind, failure["key"], failure["reason"])
    log.info("Batch %s: %s record(s), %s mapping failure(s)", result["index"], result["count"], len(result["failed"]))
    return result


# the DAG file sets its pool (dag_args.ats_pool) and how many run at once (dag_args.ats_concurrency)
@task(show_return_value_in_logs=False, multiple_outputs=False, weight_rule=DEPTH_FIRST)
@fails_fast
@gives_memory_back
def post_to_ats(kind: str, batch: Transformed, **context: Any) -> Posted:
    """Send the batch's objects the ATS has not accepted yet, once (see :func:`.batch.post_batch`)."""
    if context["params"].get("dry_run"):
        raise AirflowSkipException("dry_run: nothing posted to the ATS")
    max_refusals = settings().max_refusals or DEFAULT_MAX_REFUSALS
    try:
        posted = post_batch(
            object_kind(kind),
            batch,
            run_id=context["run_id"],
            store=context.get("task_state_store"),
            max_refusals=max_refusals,
            retry_quarantined=bool(context["params"].get("retry_quarantined")),
            update_fields=update_fields(),
        )
    except NotYourTurnError as exc:  # rescheduled (fails_fast): longer waits the longer the other run writes
        exc.wait = turn_wait(context.get("task_reschedule_count", 0))
        log.info("Run %s is writing %s: waiting %g s for its turn (nothing sent yet)", exc.holder, exc.name, exc.wait)
        raise
    log_run_progress(context, stage="posted", count=len(posted["accepted"]), plural=object_kind(kind).plural)
    return posted


# the DAG file sets its pool and how many run at once (dag_args.parallel_batches), which the run's plan divides
# [hrflow] max_in_flight among
@task(multiple_outputs=False, weight_rule=DEPTH_FIRST)
@fails_fast
@gives_memory_back
def tag(kind: str, batch: Posted, **context: Any) -> Tagged:
    """Re-read each accepted object and add ``sync=1`` unless it is already there, then PUT it."""
    result = tag_batch(object_kind(kind), batch, context["params"])
    log.info(
        "Batch %s: tagged %s, already synced %s, failed %s",
        result["index"],
        result["tagged"],
        result["skipped"],
        len(result["failed"]),
    )
    done = result["tagged"] + result["skipped"]
    log_run_progress(context, stage="tagged", count=done, plural=object_kind(kind).plural)
    return result


# the DAG file sets its pool (dag_args.ats_pool): it writes to the ATS
@task(show_return_value_in_logs=False, multiple_outputs=False)
@fails_fast
def remove(kind: str, **context: Any) -> dict[str, Any] | None:
    """Archive or delete in the ATS what the full sweep found archived or deleted in HrFlow ([hrflow] on_archive)."""
    stats = context["ti"].xcom_pull(task_ids="search", key="stats") or {}
    if not (gone := stats.get("gone")):
        return None
    objects, ledger = object_kind(kind), Ledger()
    mode, destination = removal_mode(context["params"]), destination_for(objects.ats_conn_id, objects.name)
    if mode != "keep" and gone["archived"] + gone["deleted"]:
        guard(objects, gone, ledger, destination.ledger_key)
    return remove_gone(objects, destination, gone, mode, ledger)


@task(trigger_rule="all_done", show_return_value_in_logs=False, multiple_outputs=False)
@fails_fast
def report(kind: str, **context: Any) -> Summary:
    """Add up the run; emit one asset event per source or board and the run's metrics."""
    objects, ti = object_kind(kind), context["ti"]
    stats = ti.xcom_pull(task_ids="search", key="stats")
    if stats is None:
        raise AirflowFailException("search did not finish (see its log): nothing was synced")
    stages = stage_task_ids(objects)  # each stage's results are read once, one batch at a time
    results = {name: batch_results(ti, task_id, stats["batches"]) for name, task_id in stages.items()}
    dry_run = bool(context["params"].get("dry_run"))
    result = build_summary(objects, stats=stats, dry_run=dry_run, **results)
    if stats.get("gone"):  # the remove task's result; None when it failed (the guard's first stop, an error)
        add_removal(result, ti.xcom_pull(task_ids="remove", default=None), stats["gone"])
    if not dry_run and (changes := stats.get("changes")):  # every update batch posted: the watermark moves
        posted = [i for i in changes["batches"] if ti.xcom_pull(task_ids=stages["posted"], map_indexes=i, default=None)]
        commit_watermark(destination_for(objects.ats_conn_id).ledger_key, changes, posted, result.get("newest_write"))
    if not dry_run:
        result["stale_unknown"] = still_unknown(objects, destination_for(objects.ats_conn_id).ledger_key)
    dag_id, run_id = context["dag"].dag_id, context["run_id"]
    publish_report(objects, result, dag_id=dag_id, run_id=run_id, events=context["outlet_events"][asset_alias(kind)])
    end_of_run_cleanup(context, stats, stages["transformed"], keep=bool(result["failed_keys"]))
    return result


@task(trigger_rule="all_done", retries=0, multiple_outputs=False)
def summary(kind: str, result: Summary | None, **context: Any) -> Summary:
    """Log the run's counts as a table; fail the run if any object failed (or nothing could be counted)."""
    if result is None:
        raise AirflowFailException("report did not finish (see its log): the run could not be counted")
    context["ti"].xcom_push(key="summary", value=result)
    record_run(object_kind(kind), result, context)  # the HrFlow page's run history
    log_summary(object_kind(kind), result)
    if message := failure_message(object_kind(kind), result):
        raise AirflowFailException(message)
    if stale := result.get("stale_unknown"):  # alerted once: later runs log it only, until it is settled
        raise AirflowFailException(stale)
    return result
