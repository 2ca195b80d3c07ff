"""Deadline and failure alerts on a real scheduler, dag-processor and executor (LocalExecutor, SQLite): on-call SMS,
Slack (the sandbox's Incoming Webhook) and e-mail (a local SMTP server)."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from sandbox.airflow_home import AirflowStack
from sandbox.connections import alert_connection
from sandbox.faults import Fault
from sandbox.objects import make_key
from sandbox.slack import slack_alert_connection

ON_CALL = "+33 6 00 00 00 02"
SYNC_DEADLINE_S, SMS_DEADLINE_S = 6, 30  # a late SMS run is alerted, not failed: its measured duration decides


@pytest.fixture(scope="module")
def stack(sandbox_server, _smtp_receiver, tmp_path_factory):
    stack = AirflowStack(
        tmp_path_factory.mktemp("monitoring_home"),
        extra_env={
            **sandbox_server.airflow_env(),
            "AIRFLOW__HRFLOW__ALERT_CHANNELS": "sms,slack,email",
            "AIRFLOW_CONN_HRFLOW_ALERT": json.dumps(alert_connection(sandbox_server.url, ON_CALL)),
            "AIRFLOW_CONN_HRFLOW_ALERT_SLACK": json.dumps(slack_alert_connection(sandbox_server.url)),
            "AIRFLOW_CONN_HRFLOW_ALERT_EMAIL": json.dumps(_smtp_receiver.connection()),
            "AIRFLOW__HRFLOW__SYNC_DEADLINE_MINUTES": str(SYNC_DEADLINE_S / 60),
            "AIRFLOW__HRFLOW__SMS_DEADLINE_SECONDS": str(SMS_DEADLINE_S),
        },
    )
    stack.start(wait_for_dags=("hrflow_profiles_to_ats", "hrflow_profile_sms"))
    yield stack
    stack.stop()


def alerts(sandbox, run_id: str) -> list[str]:
    return [b["text"] for b in sandbox.state.sms.bodies if b.get("to") == ON_CALL and f" run {run_id} " in b["text"]]


def trigger(stack, dag_id: str, conf: dict) -> dict:
    response = stack.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
    assert response.status_code == 200, response.text
    return response.json()


def _deadlines(stack, run_id: str) -> list[tuple[bool, str | None]]:
    """Return ``(missed, callback state)`` of each deadline of a run, read from the metadata database."""
    import sqlite3

    with sqlite3.connect(stack.home / "airflow.db") as db:
        return db.execute(
            "SELECT d.missed, c.state FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id "
            "LEFT JOIN callback c ON c.id = d.callback_id WHERE r.run_id = ?",
            (run_id,),
        ).fetchall()


def _poll(condition, what: str, ceiling: float = 240):
    deadline = time.monotonic() + ceiling
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.5)
    raise AssertionError(f"not seen within {ceiling:.0f} s: {what}")


def test_late_and_failing_sync_run_gets_one_deadline_alert_and_one_failure_alert(stack, sandbox, smtp_server):
    source = make_key("source", "late")
    keys = sandbox.state.seed("profile", source, 10, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    sandbox.state.ats_reject_keys[keys[0]] = "field 'email' is invalid"  # one record of the batch is refused
    sandbox.state.faults.append(Fault(path="/v1/profiles/searching", status=0, delay=SYNC_DEADLINE_S + 4))
    stack.unpause("hrflow_profiles_to_ats")

    run = trigger(stack, "hrflow_profiles_to_ats", {"source_keys": [source], "batch_size": 5})

    assert stack.wait_for_run("hrflow_profiles_to_ats", run["dag_run_id"], timeout=300) == "failed"
    # the deadline alert (scheduler) and the failure alert (dag-processor) arrive in their own time: poll for both
    _poll(lambda: len(alerts(sandbox, run["dag_run_id"])) >= 2, "a deadline alert and a failure alert")
    url = f"{stack.url}/dags/hrflow_profiles_to_ats/runs/{run['dag_run_id'].replace(':', '%3A').replace('+', '%2B')}"
    page = f"HrFlow page: {stack.url}/plugin/hrflow"
    expected = [
        f"[Airflow] hrflow_profiles_to_ats run {run['dag_run_id']} is not done {SYNC_DEADLINE_S} s "
        f"after it was queued (one alert per 10 min for this DAG's late runs). {url} {page}",
        f"[Airflow] hrflow_profiles_to_ats run {run['dag_run_id']} failed at summary. "
        f"So far: found 10, posted 9, tagged 9, skipped 0, failed 1. "
        f"Failed: {keys[0]} (ATS HTTP 422: field 'email' is invalid). {url} {page}",
    ]
    assert alerts(sandbox, run["dag_run_id"]) == expected

    # the same two on Slack and by e-mail, from the scheduler's executor callback and the dag-processor alike (the
    # hourly run that started when the DAG was unpaused has its own alerts)
    def slack() -> list[str]:
        return sorted(m["text"] for m in sandbox.state.slack_messages if f" run {run['dag_run_id']} " in m["text"])

    def mails() -> list[str]:
        return sorted(m["subject"] for m in smtp_server.messages if f"({run['dag_run_id']})" in m["subject"])

    _poll(lambda: len(slack()) >= 2 and len(mails()) >= 2, "the two alerts on Slack and by e-mail")
    assert slack() == sorted(expected)
    assert mails() == [
        f"[Airflow] hrflow_profiles_to_ats: run failed ({run['dag_run_id']})",
        f"[Airflow] hrflow_profiles_to_ats: run late ({run['dag_run_id']})",
    ]


def test_prompt_sms_run_meets_its_deadline_and_a_failed_one_alerts_once(stack, sandbox):
    source = make_key("source", "prompt")
    [key] = sandbox.state.seed("profile", source, 1)
    info = sandbox.state.get("profile", source, key)["info"]
    event = {"type": "profile.indexing.success", "profile": {"key": key, "source": {"key": source}}}
    unknown = {**event, "profile": {"key": make_key("profile", "unknown"), "source": {"key": source}}}

    prompt = trigger(stack, "hrflow_profile_sms", event)
    failing = trigger(stack, "hrflow_profile_sms", unknown)

    assert stack.wait_for_run("hrflow_profile_sms", prompt["dag_run_id"]) == "success"
    assert stack.wait_for_run("hrflow_profile_sms", failing["dag_run_id"]) == "failed"
    # the failed run's deadline is kept (apache/airflow#60927): wait until the scheduler has evaluated it and
    # its callback has run, so that "no deadline alert" below is a fact, not the result of looking too early
    _poll(
        lambda: (
            all(missed and state in ("success", "failed") for missed, state in _deadlines(stack, failing["dag_run_id"]))
            and _deadlines(stack, failing["dag_run_id"])
        ),
        "the failed run's deadline evaluated and its callback done",
    )
    [failure] = _poll(lambda: alerts(sandbox, failing["dag_run_id"]), "the failure alert")
    assert failure.startswith(f"[Airflow] hrflow_profile_sms run {failing['dag_run_id']} failed at send_sms.")
    assert key not in failure and f" Profiles: {unknown['profile']['key']}. " in failure  # its own key, by key only
    assert alerts(sandbox, failing["dag_run_id"]) == [failure]  # the deadline callback sent nothing on top
    # the prompt run: what it must get follows from how long it took, read from Airflow, not from the outcome
    run = stack.api("GET", f"/api/v2/dags/hrflow_profile_sms/dagRuns/{prompt['dag_run_id']}").json()
    took = (datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["queued_at"])).total_seconds()
    if took < SMS_DEADLINE_S:  # in time: its deadline is pruned at once and no alert can come
        assert _deadlines(stack, prompt["dag_run_id"]) == [], took
        assert alerts(sandbox, prompt["dag_run_id"]) == [], took
    else:  # late on a loaded machine: exactly one deadline alert
        _poll(lambda: alerts(sandbox, prompt["dag_run_id"]), "the late run's deadline alert")
        assert len(alerts(sandbox, prompt["dag_run_id"])) == 1, took
    # exactly one SMS to the recruiter, for this profile
    assert [b["text"] for b in sandbox.state.sms.bodies if "to" not in b] == [
        f"{info['first_name']} {info['last_name']} just applied ! Send a message to {info['phone']}."
    ]
    # the next run that succeeds says the SMS DAG recovered, once, on every channel (the dag-processor runs it)
    [later] = sandbox.state.seed("profile", source, 1, start=1)
    recovered = trigger(stack, "hrflow_profile_sms", {**event, "profile": {"key": later, "source": {"key": source}}})
    assert stack.wait_for_run("hrflow_profile_sms", recovered["dag_run_id"]) == "success"
    text = (
        f"[Airflow] hrflow_profile_sms recovered: run {recovered['dag_run_id']} succeeded after the failure of run "
        f"{failing['dag_run_id']}."
    )
    [sms] = _poll(lambda: [t for t in alerts(sandbox, recovered["dag_run_id"]) if t.startswith(text)], "the recovery")
    _poll(lambda: [m for m in sandbox.state.slack_messages if m["text"] == sms], "the recovery on Slack")
    assert later not in sms and [t for t in alerts(sandbox, recovered["dag_run_id"]) if " recovered: " in t] == [sms]
