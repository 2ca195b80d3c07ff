"""
Run reports and metrics: one asset event per source or board (counts and failed keys), ``hrflow.*`` counters,
and the progress lines of a running sync. Keys and counts only, never candidate data.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import Asset
from airflow.sdk.observability import stats

from hrflow_airflow.objects import ObjectKind

log = logging.getLogger(__name__)
COUNT_FIELDS = ("found", "posted", "tagged", "skipped", "failed")
METRIC_PREFIX = "hrflow"
MAX_KEYS_IN_EVENT = 500


def container_asset(plural: str, container: str) -> Asset:
    """Return the asset that receives one event per sync run of a source or board: ``hrflow://<plural>/<key>``."""
    return Asset(uri=f"hrflow://{plural}/{container}", name=f"hrflow_{plural}_{container}", group="hrflow")


def event_extra(dag_id: str, run_id: str, counts: Mapping[str, Any]) -> dict[str, Any]:
    """Return the asset event extra of one source: counts and failed keys (capped), plus the run."""
    failed_keys = [f["key"] for f in counts.get("failed_keys", [])]
    extra = {
        "dag_id": dag_id,
        "run_id": run_id,
        **{f: counts.get(f, 0) for f in COUNT_FIELDS},
        "failed_keys": failed_keys[:MAX_KEYS_IN_EVENT],
    }
    if len(failed_keys) > MAX_KEYS_IN_EVENT:
        extra["failed_keys_truncated"] = len(failed_keys) - MAX_KEYS_IN_EVENT
    for name in ("refused", "quarantined"):  # reported, not failed: keys and redacted reasons, when there are any
        entries = list(counts.get(f"{name}_keys") or [])
        if not entries:
            continue
        extra[name] = len(entries)
        extra[f"{name}_keys"] = [{"key": e["key"], "reason": e["reason"]} for e in entries[:MAX_KEYS_IN_EVENT]]
    return extra


def publish_report(kind: ObjectKind, summary: Mapping[str, Any], *, dag_id: str, run_id: str, events: Any) -> None:
    """Emit one asset event per source or board (its counts and failed keys) and the run's counters."""
    listed: dict[str, dict[str, list]] = {}
    for name in ("failed_keys", "refused_keys", "quarantined_keys"):
        for entry in summary.get(name) or []:
            listed.setdefault(entry.get("container"), {}).setdefault(name, []).append(entry)
    for container, counts in summary["by_container"].items():
        mine = listed.get(container, {})
        keys = {name: mine.get(name, []) for name in ("failed_keys", "refused_keys", "quarantined_keys")}
        events.add(container_asset(kind.plural, container), extra=event_extra(dag_id, run_id, {**counts, **keys}))
        emit_counts("objects", {f: counts[f] for f in COUNT_FIELDS}, {"dag_id": dag_id, kind.container: container})
    log.info("Reported %s %s(s) on assets hrflow://%s/<key>", len(summary["by_container"]), kind.container, kind.plural)


def emit_counts(metric: str, counts: Mapping[str, int], tags: Mapping[str, str]) -> None:
    """Increment ``hrflow.<metric>.<name>`` by each count, with ``tags`` (StatsD/OpenTelemetry via Airflow)."""
    for name, count in counts.items():
        stats.incr(f"{METRIC_PREFIX}.{metric}.{name}", count=int(count), tags=dict(tags))


# -- progress while a run lasts ------------------------------------------------------------------------------
def log_run_progress(context: Mapping[str, Any], *, stage: str, count: int, plural: str) -> None:
    """
    Log how far the run is through ``stage`` (the batches whose instance of this task succeeded, this one included) and
    when the stage should end at this batch's pace (its duration x batches left / batches running at once:
    the task's ``max_active_tis_per_dagrun``, one under ``airflow dags test``); count ``hrflow.progress.<stage>``
    (``count`` objects, tagged ``dag_id``).

    Informative: any failure to read the counts is logged at debug level and ignored.
    """
    ti = context["ti"]
    emit_counts("progress", {stage: count}, {"dag_id": ti.dag_id})
    try:
        stats_ = ti.xcom_pull(task_ids="search", key="stats") or {}
        batches, found = int(stats_.get("batches") or 0), int(stats_.get("found") or 0)
        done = 1 + type(ti).get_ti_count(
            dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], states=["success"]
        )
        started = context["dag_run"].start_date
        batch_started = getattr(ti, "start_date", None)
        cap = ti.task.max_active_tis_per_dagrun  # the sync DAG caps each batch task: see sync.py
    except Exception as exc:  # progress must never fail a batch
        log.debug("Run progress unavailable: %s", exc)
        return
    if not batches:
        return
    done, now = min(done, batches), datetime.now(timezone.utc)
    elapsed = (now - started).total_seconds() if started else 0.0
    at_once = 1 if under_dags_test() else max(1, cap or 1)
    batch_time = (now - batch_started).total_seconds() if batch_started else elapsed / done
    left = batch_time * (batches - done) / min(at_once, max(1, batches - done))
    log.info(
        "Run progress: %s of %s batch(es) %s (about %s of %s %s), %s since the run started, about %s left",
        done,
        batches,
        stage,
        found * done // batches,
        found,
        plural,
        duration_text(elapsed),
        duration_text(left),
    )


def duration_text(seconds: float) -> str:
    """Return ``seconds`` as ``1h05m`` or ``4m09s``."""
    seconds = int(seconds)
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def under_dags_test() -> bool:
    """Return True while ``airflow dags test`` parses the DAG (it runs no scheduler and has its own callback path)."""
    return sys.argv[1:3] == ["dags", "test"]
