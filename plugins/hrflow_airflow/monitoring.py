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
import time
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseNotifier, DeadlineAlert, DeadlineReference, SyncCallback, Variable, conf
from airflow.sdk.exceptions import AirflowNotFoundException

from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.hooks.api_key import MessagingHook
from hrflow_airflow.metrics import under_dags_test

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
            raise BadConfigError(f"connection '{ALERT_CONN_ID}' has no extra 'phone' (or 'to') (the on-call number)")
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
