"""
Monitoring: failure and deadline alerts, per-source run reports (asset events) and metrics.

The alert target is the Airflow connection ``hrflow_alert`` (a messaging connection like ``sms_default``
whose extra ``phone`` is the on-call number) or, without it, the Variable ``hrflow_alert_phone`` (sent through
``sms_default``). With neither, the notifier logs that no alert target is set. Alerts carry the DAG, the run,
the failed task, counts and the run's UI URL: never candidate data.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from airflow.sdk import Asset, BaseNotifier, DeadlineAlert, DeadlineReference, SyncCallback, Variable, conf
from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.sdk.observability import stats

from hrflow_airflow.hooks.api_key import MessagingHook
from hrflow_airflow.objects import ObjectKind

log = logging.getLogger(__name__)

ALERT_CONN_ID = "hrflow_alert"
ALERT_PHONE_VARIABLE = "hrflow_alert_phone"
COUNT_FIELDS = ("found", "posted", "tagged", "skipped", "failed")
METRIC_PREFIX = "hrflow"
MAX_KEYS_IN_EVENT = 500
KEYS_IN_ALERT = 3  # failed keys an alert names, with their reasons (redacted: no candidate data)
REASON_IN_ALERT = 80

DEADLINE_BURST_SECONDS = 600  # late runs of one DAG within 10 minutes share one deadline alert


# Deadlines, read when the DAG file is parsed (airflow.cfg [hrflow] or AIRFLOW__HRFLOW__*); 0 turns one off.
def sync_deadline() -> timedelta:
    """Return ``[hrflow] sync_deadline_minutes`` as a duration."""
    from hrflow_airflow.settings import settings

    return timedelta(minutes=settings().sync_deadline_minutes)


def sms_deadline() -> timedelta:
    """Return ``[hrflow] sms_deadline_seconds`` as a duration."""
    from hrflow_airflow.settings import settings

    return timedelta(seconds=settings().sms_deadline_seconds)


# -- messages (pure) ---------------------------------------------------------------------------------------
def run_url(dag_id: str, run_id: str, base_url: str | None = None) -> str:
    """Return the UI URL of one DAG run."""
    if base_url is None:
        base_url = (
            conf.get("api", "base_url", fallback="") or f"http://localhost:{conf.get('api', 'port', fallback='8080')}"
        )
    base = base_url.rstrip("/")
    return f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def _format_delay(delay: timedelta) -> str:
    seconds = int(delay.total_seconds())
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def failure_text(
    dag_id: str, run_id: str, failed_tasks: Iterable[str], counts: Mapping[str, Any] | None, url: str
) -> str:
    """Return the short failure alert: DAG, run, failed task(s), counts so far and the UI URL."""
    tasks = ", ".join(failed_tasks) or "unknown task"
    numbers = ", ".join(f"{name} {counts[name]}" for name in COUNT_FIELDS if counts and name in counts)
    failures = [f for f in (counts or {}).get("failed_keys") or [] if isinstance(f, Mapping) and "key" in f]
    named = "; ".join(f"{f['key']} ({str(f['reason'])[:REASON_IN_ALERT]})" for f in failures[:KEYS_IN_ALERT])
    more = f" and {len(failures) - KEYS_IN_ALERT} more" if len(failures) > KEYS_IN_ALERT else ""
    return (
        f"[Airflow] {dag_id} run {run_id} failed at {tasks}."
        + (f" So far: {numbers}." if numbers else "")
        + (f" Failed: {named}{more}." if named else "")
        + f" {url}"
    )


def deadline_text(dag_id: str, run_id: str, deadline: timedelta, url: str) -> str:
    """Return the short deadline alert (one per DAG and 10 minutes: other runs late meanwhile are in the UI)."""
    return (
        f"[Airflow] {dag_id} run {run_id} is not done {_format_delay(deadline)} after it was queued "
        f"(one alert per 10 min for this DAG's late runs). {url}"
    )


def summary_table(summary: Mapping[str, Any]) -> str:
    """Return a human-readable table of a sync run's counts, one row per source or board, plus a total."""
    rows = [
        (name, *(str(counts.get(f, 0)) for f in COUNT_FIELDS))
        for name, counts in sorted((summary.get("by_container") or {}).items())
    ]
    rows.append(("TOTAL", *(str(summary.get(f, 0)) for f in COUNT_FIELDS)))
    header = (summary.get("container", "container"), *COUNT_FIELDS)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row) -> str:
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *(line(r) for r in rows[:-1]), rule, line(rows[-1])])


# -- the notifier --------------------------------------------------------------------------------------------
class HrFlowAlertNotifier(BaseNotifier):
    """
    Send a short alert to the on-call number through the messaging hook, at most once per run and event.

    Use it as a DAG's ``on_failure_callback`` (``event="failure"``), or through :func:`deadline_alert`.
    A missing target or a failing messaging service is logged; the callback itself never raises.
    """

    def __init__(
        self, *, event: str = "failure", deadline_seconds: float | None = None, context: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(context=dict(context) if context else None)
        self.event = event
        self.deadline_seconds = deadline_seconds

    def render_template_fields(self, context: Mapping[str, Any], jinja_env: Any = None) -> None:
        """Render nothing: the alert has no templated fields (and ``dags test`` passes a DAG Jinja can't use)."""

    def notify(self, context: Mapping[str, Any]) -> None:
        try:
            dag_id, run_id = _run_identity(context)
            text = self.message(context, dag_id, run_id)
        except Exception:  # a broken context must not break the callback
            log.exception("HrFlow alert (%s): could not build the message", self.event)
            return
        if self.event == "deadline" and (state := _ended_state(context)):
            # Airflow keeps the deadline of a failed run (apache/airflow#60927): it had its failure alert already
            log.info("%s run %s already ended (%s): no deadline alert", dag_id, run_id, state)
            return
        try:
            target = alert_target()
        except Exception as exc:
            log.error("HrFlow alert not sent, the alert target is misconfigured: %s. Alert: %s", exc, text)
            return
        if target is None:
            log.warning(
                "No alert target is set (connection '%s' or Variable '%s'); alert not sent: %s",
                ALERT_CONN_ID,
                ALERT_PHONE_VARIABLE,
                text,
            )
            return
        conn_id, phone = target
        key = "alert-" + hashlib.sha256(self.alert_identity(dag_id, run_id).encode()).hexdigest()[:40]
        try:
            from hrflow_airflow.hooks.messaging import messaging_hook

            # the durable record (intent, then answer) keeps a second call or a lost answer from a second alert
            messaging_hook(conn_id).send_sms(text, idempotency_key=key, to=phone, store=alert_records())
        except Exception as exc:
            log.error("HrFlow alert not sent through connection '%s': %s. Alert: %s", conn_id, exc, text)
            return
        log.info("HrFlow %s alert sent through connection '%s' for %s run %s", self.event, conn_id, dag_id, run_id)

    def alert_identity(self, dag_id: str, run_id: str) -> str:
        """
        Return what makes an alert the same alert: a failure is per run; a deadline per DAG and 10-minute burst.

        A bulk import starts hundreds of SMS runs at once; if they are late, they are late together, and one
        alert says so (its text names the first late run) instead of one per run.
        """
        if self.event == "deadline":
            return f"deadline/{dag_id}/{int(time.time() // DEADLINE_BURST_SECONDS)}"
        return f"{self.event}/{dag_id}/{run_id}"

    def message(self, context: Mapping[str, Any], dag_id: str, run_id: str) -> str:
        url = run_url(dag_id, run_id)
        if self.event == "deadline":
            return deadline_text(dag_id, run_id, timedelta(seconds=self.deadline_seconds or 0), url)
        return failure_text(dag_id, run_id, _failed_tasks(context), _counts_so_far(context), url)


def alert_records() -> Any:
    """
    Return the alerts' durable record, or None when this process cannot open it.

    Executor callbacks (deadline alerts) read connections through the Execution API, which may deny
    ``hrflow_ledger`` when it lives in the metadata database or a secrets backend rather than in the environment
    (``AIRFLOW_CONN_HRFLOW_LEDGER``, as docker-compose.yaml and the Helm values set it). The alert then still
    goes, keyed (``Idempotency-Key``; Twilio: looked up first), and the log says why it has no record.
    """
    from hrflow_airflow.outbox import MessageRecords

    records = MessageRecords("alert")
    try:
        _ = records.table  # opens the database and creates the table
    except Exception as exc:
        log.warning("HrFlow alert record unavailable here (%s: %s): sending with its key only", type(exc).__name__, exc)
        return None
    return records


def alert_target() -> tuple[str, str] | None:
    """Return ``(messaging connection id, on-call number)``, or None when no alert target is set."""
    try:
        conn = MessagingHook.get_connection(ALERT_CONN_ID)
    except AirflowNotFoundException:
        conn = None
    if conn is not None:
        phone = conn.extra_dejson.get("phone") or conn.extra_dejson.get("to")  # "to" on a twilio connection
        if not phone:
            raise ValueError(f"connection '{ALERT_CONN_ID}' has no extra 'phone' (or 'to') (the on-call number)")
        return ALERT_CONN_ID, str(phone)
    phone = Variable.get(ALERT_PHONE_VARIABLE, default=None)
    return (MessagingHook.default_conn_name, str(phone)) if phone else None


def _run_identity(context: Mapping[str, Any]) -> tuple[str, str]:
    dag_run = context.get("dag_run")
    if isinstance(dag_run, Mapping):  # deadline callbacks get the run as JSON
        return dag_run["dag_id"], dag_run["dag_run_id"]
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or getattr(dag_run, "dag_id", None)
    return dag_id, context.get("run_id") or getattr(dag_run, "run_id", None)


def _ended_state(context: Mapping[str, Any]) -> str | None:
    dag_run = context.get("dag_run")
    state = dag_run.get("state") if isinstance(dag_run, Mapping) else None
    return state if state in ("success", "failed") else None


def _failed_tasks(context: Mapping[str, Any]) -> list[str]:
    """Return the run's failed task instances (``task`` or ``task_<map index>``), else the one the callback names."""
    ti = context.get("ti")
    if ti is None:
        return []
    try:
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
        if failed := sorted(name for name, state in states.items() if state == "failed"):
            return failed
    except Exception:  # task states are a nicety; the failed TI the callback names is enough
        log.debug("Could not read the run's task states", exc_info=True)
    index = getattr(ti, "map_index", -1)
    return [ti.task_id if index in (None, -1) else f"{ti.task_id}_{index}"]


def _counts_so_far(context: Mapping[str, Any]) -> dict[str, Any] | None:
    ti = context.get("ti")
    if ti is None:
        return None
    for task_id, key in (("summary", "summary"), ("search", "stats")):
        try:
            value = ti.xcom_pull(task_ids=task_id, key=key)
        except Exception:
            log.debug("Could not read XCom %s/%s", task_id, key, exc_info=True)
            continue
        if isinstance(value, Mapping):
            return {k: v for k, v in value.items() if k in COUNT_FIELDS or k == "failed_keys"}
    return None


# -- deadlines -----------------------------------------------------------------------------------------------
def under_dags_test() -> bool:
    """Return True while ``airflow dags test`` parses the DAG (it runs no scheduler and has its own callback path)."""
    return sys.argv[1:3] == ["dags", "test"]


def deadline_alert(interval: timedelta) -> DeadlineAlert | None:
    """
    Return an alert for a run not done ``interval`` after it was queued, or None when ``interval`` is 0.

    ``airflow dags test`` gets None too: it never evaluates deadlines, and Airflow 3.3's ``DAG.test()`` crashes
    at the end of a successful run of a DAG that has one (apache/airflow#73428).
    """
    if interval <= timedelta(0) or under_dags_test():
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=SyncCallback(
            HrFlowAlertNotifier, kwargs={"event": "deadline", "deadline_seconds": interval.total_seconds()}
        ),
    )


# -- run reports and metrics ----------------------------------------------------------------------------------
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
