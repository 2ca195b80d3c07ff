"""
Monitoring: failure, deadline and recovery alerts, per-source run reports (asset events) and metrics.

Alerts go on every channel ``[hrflow] alert_channels`` names (:mod:`hrflow_airflow.alerts.channels`: the on-call
SMS, Slack, e-mail), each at most once per channel. They carry the DAG, the run, the failed task, counts and keys,
the run's UI URL and the HrFlow page's: never candidate data. A DAG whose failure was alerted has an open
*incident* in the alerts' record; the next run of it that succeeds sends one recovery message and closes it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseNotifier, DeadlineAlert, DeadlineReference, SyncCallback

from hrflow_airflow.alerts.channels import Alert, alert_records, base_url, deliver, page_url
from hrflow_airflow.alerts.metrics import under_dags_test
from hrflow_airflow.objects import KEY_PATTERN

log = logging.getLogger(__name__)

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
def run_url(dag_id: str, run_id: str, base: str | None = None) -> str:
    """Return the UI URL of one DAG run."""
    return f"{(base or base_url()).rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def with_page(text: str) -> str:
    """Return ``text`` followed by the URL of the HrFlow page (per-profile states, quarantine, run history)."""
    return f"{text} HrFlow page: {page_url()}"


def _format_delay(delay: timedelta) -> str:
    seconds = int(delay.total_seconds())
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def failure_text(
    dag_id: str,
    run_id: str,
    failed_tasks: Iterable[str],
    counts: Mapping[str, Any] | None,
    url: str,
    profiles: Iterable[str] = (),
) -> str:
    """Return the short failure alert: DAG, run, failed task(s), counts so far, the run's profiles, the UI URL."""
    tasks = ", ".join(failed_tasks) or "unknown task"
    numbers = ", ".join(f"{name} {counts[name]}" for name in COUNT_FIELDS if counts and name in counts)
    failures = [f for f in (counts or {}).get("failed_keys") or [] if isinstance(f, Mapping) and "key" in f]
    named = "; ".join(f"{f['key']} ({str(f['reason'])[:REASON_IN_ALERT]})" for f in failures[:KEYS_IN_ALERT])
    more = f" and {len(failures) - KEYS_IN_ALERT} more" if len(failures) > KEYS_IN_ALERT else ""
    profiles = list(profiles)
    others = f" and {len(profiles) - KEYS_IN_ALERT} more" if len(profiles) > KEYS_IN_ALERT else ""
    return (
        f"[Airflow] {dag_id} run {run_id} failed at {tasks}."
        + (f" So far: {numbers}." if numbers else "")
        + (f" Failed: {named}{more}." if named else "")
        + (f" Profiles: {', '.join(profiles[:KEYS_IN_ALERT])}{others}." if profiles else "")
        + f" {url}"
    )


def deadline_text(dag_id: str, run_id: str, deadline: timedelta, url: str) -> str:
    """Return the short deadline alert (one per DAG and 10 minutes: other runs late meanwhile are in the UI)."""
    return (
        f"[Airflow] {dag_id} run {run_id} is not done {_format_delay(deadline)} after it was queued "
        f"(one alert per 10 min for this DAG's late runs). {url}"
    )


def recovery_text(dag_id: str, run_id: str, failed_run: str, counts: Mapping[str, Any] | None, url: str) -> str:
    """Return the recovery message: the run that succeeded, the failed run it follows, its counts and URL."""
    numbers = ", ".join(f"{name} {counts[name]}" for name in COUNT_FIELDS if counts and name in counts)
    return (
        f"[Airflow] {dag_id} recovered: run {run_id} succeeded after the failure of run {failed_run}."
        + (f" Counts: {numbers}." if numbers else "")
        + f" {url}"
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
    Send a short alert on every channel of ``[hrflow] alert_channels``, at most once per run, event and channel.

    Use it as a DAG's ``on_failure_callback`` (``event="failure"``), ``on_success_callback`` (``event="recovery"``:
    one message when the first run after a failure alert succeeds), or through :func:`deadline_alert`.
    A missing target or a failing channel is logged; the callback itself never raises.
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
        except Exception:  # a broken context must not break the callback
            log.exception("HrFlow alert (%s): could not read the run", self.event)
            return
        if self.event == "deadline" and (state := _ended_state(context)):
            # Airflow keeps the deadline of a failed run (apache/airflow#60927): it had its failure alert already
            log.info("%s run %s already ended (%s): no deadline alert", dag_id, run_id, state)
            return
        records = alert_records()
        try:
            if self.event == "recovery":
                return self.recover(context, dag_id, run_id, records)
            alert = Alert(
                self.event, dag_id, run_id, self.message(context, dag_id, run_id), self.alert_identity(dag_id, run_id)
            )
            deliver(alert, records)  # never raises: each channel logs its own failure
            if self.event == "failure" and records is not None:
                open_incident(records, dag_id, run_id)
        except Exception:  # a broken context or an unreachable record must not break the callback
            log.exception("HrFlow %s alert for %s run %s failed", self.event, dag_id, run_id)

    def recover(self, context: Mapping[str, Any], dag_id: str, run_id: str, records: Any) -> None:
        """Send the recovery message when a failure alert of ``dag_id`` is open, then close it."""
        failed_run = open_incident_run(records, dag_id) if records is not None else None
        if failed_run is None:
            return
        text = recovery_text(dag_id, run_id, failed_run, _counts_so_far(context), run_url(dag_id, run_id))
        deliver(Alert("recovery", dag_id, run_id, with_page(text), f"recovery/{dag_id}/{failed_run}"), records)
        close_incident(records, dag_id, run_id)

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
            return with_page(deadline_text(dag_id, run_id, timedelta(seconds=self.deadline_seconds or 0), url))
        tasks, counts = _failed_tasks(context), _counts_so_far(context)
        return with_page(failure_text(dag_id, run_id, tasks, counts, url, profiles_of_run(context)))


# -- incidents: a DAG whose failure was alerted, until a run of it succeeds ------------------------------------
def incident_key(dag_id: str) -> str:
    """Return the record key of ``dag_id``'s open failure (one per DAG; its state names the first failed run)."""
    return "incident-" + hashlib.sha256(dag_id.encode()).hexdigest()[:40]


def open_incident(records: Any, dag_id: str, run_id: str) -> None:
    """Note that ``dag_id`` has failed since ``run_id``, unless a failure of it is open already."""
    if open_incident_run(records, dag_id) is None:
        records.set(incident_key(dag_id), {"open": run_id, "since": _now()})


def open_incident_run(records: Any, dag_id: str) -> str | None:
    """Return the run whose failure alert opened ``dag_id``'s incident, or None when none is open."""
    state = records.get(incident_key(dag_id))
    return state.get("open") if isinstance(state, Mapping) else None


def close_incident(records: Any, dag_id: str, run_id: str) -> None:
    """Note that ``run_id`` of ``dag_id`` succeeded: the next failure opens a new incident (and a new recovery)."""
    records.set(incident_key(dag_id), {"closed": run_id, "at": _now()})


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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


def profiles_of_run(context: Mapping[str, Any]) -> list[str]:
    """
    Return the profile keys an event-started run carries in its conf (one profile, or a burst's ``batch``): what an
    SMS run's alert names, as the sync's name their failed keys. Only what is an HrFlow key is named.
    """
    dag_run = context.get("dag_run")
    conf = dag_run.get("conf") if isinstance(dag_run, Mapping) else getattr(dag_run, "conf", None)
    if not isinstance(conf, Mapping):
        return []
    members = conf.get("batch") if isinstance(conf.get("batch"), list) else [conf]
    profiles = [member.get("profile") for member in members if isinstance(member, Mapping)]
    keys = [profile.get("key") for profile in profiles if isinstance(profile, Mapping)]
    return list(dict.fromkeys(key for key in keys if isinstance(key, str) and KEY_PATTERN.fullmatch(key)))


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
