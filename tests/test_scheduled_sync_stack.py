"""
A real api-server, scheduler, dag-processor and LocalExecutor: a scheduled sync run (no lower bound on
created_at), and a real webhook delivery answered with an SMS through Twilio (sms_default of type twilio).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from hrflow_airflow.events.signing import SIGNATURE_HEADER, sign
from sandbox.airflow_home import AirflowStack
from sandbox.connections import twilio_connection
from sandbox.objects import WEBHOOK_SECRET, make_key

SOURCE = make_key("source", "scheduled")
DAG_ID = "hrflow_profiles_to_ats"


@pytest.fixture(scope="module")
def stack(sandbox_server, tmp_path_factory):
    stack = AirflowStack(
        tmp_path_factory.mktemp("scheduled_home"),
        extra_env={
            **sandbox_server.airflow_env(),
            "AIRFLOW_VAR_HRFLOW_SOURCE_KEYS": json.dumps([SOURCE]),
            "AIRFLOW__HRFLOW__FULL_SWEEP_HOUR": "-1",  # this run uses search, whatever the hour
            # the runs here are the timetable's and the tests' own (tests/test_realtime_stack.py: the webhook's)
            "AIRFLOW__HRFLOW__WEBHOOK_STARTS_SYNC": "False",
            # the killed post_to_ats is retried after 1 s, not [hrflow] task_retry_delay_seconds' 15
            "AIRFLOW__HRFLOW__TASK_RETRY_DELAY_SECONDS": "1",
            "AIRFLOW_CONN_SMS_DEFAULT": json.dumps(
                twilio_connection(sandbox_server.url, to="06 12 34 56 78", default_region="FR")
            ),
        },
    )
    stack.start(wait_for_dags=(DAG_ID,))
    yield stack
    stack.stop()


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S+0000")


def test_scheduled_run_syncs_backdated_and_missed_interval_profiles(stack, sandbox):
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    state = sandbox.state
    [backdated] = state.seed("profile", SOURCE, 1, created_at=_stamp(hour - timedelta(days=40)))
    [missed] = state.seed("profile", SOURCE, 1, start=1, created_at=_stamp(hour - timedelta(hours=3, minutes=20)))
    [in_interval] = state.seed("profile", SOURCE, 1, start=2, created_at=_stamp(hour - timedelta(minutes=30)))
    [next_interval] = state.seed("profile", SOURCE, 1, start=3, created_at=_stamp(hour + timedelta(hours=2)))

    stack.unpause(DAG_ID)  # catchup=False: the scheduler creates one run, for the latest complete interval

    runs: list[dict] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not runs:
        runs = [
            r
            for r in stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns").json()["dag_runs"]
            if r["run_type"] == "scheduled"
        ]
        time.sleep(1)
    assert len(runs) == 1, "the scheduler created no scheduled run"
    [run] = runs
    assert stack.wait_for_run(DAG_ID, run["dag_run_id"], timeout=240) == "success"
    interval_end = datetime.fromisoformat(run["data_interval_end"].replace("Z", "+00:00"))
    assert interval_end <= hour + timedelta(hours=1)
    assert dict(state.ats_area("profiles").applied) == {backdated: 1, missed: 1, in_interval: 1}
    assert state.snapshot()["synced"]["profile"] == sorted([backdated, missed, in_interval])
    assert next_interval not in state.ats_area("profiles").applied  # created after the interval end: the next run's


def test_storing_success_delivery_sends_one_sms_through_twilio(stack, sandbox):
    [key] = sandbox.state.seed("profile", SOURCE, 1, start=50)
    profile = sandbox.state.get("profile", SOURCE, key)
    body = json.dumps(
        [
            {"type": t, "origin": "api", "message": "Profile stored", "profile": profile}
            for t in ("profile.storing.success", "profile.searching.success")
        ]
    ).encode()

    response = requests.post(
        f"{stack.url}/hrflow/webhook",
        data=body,
        timeout=30,
        headers={SIGNATURE_HEADER: sign(WEBHOOK_SECRET, body), "Content-Type": "application/json"},
    )

    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["queued", "duplicate"]
    run_id = response.json()["results"][0]["run_id"]
    assert stack.wait_for_run("hrflow_profile_sms", run_id, timeout=240) == "success"
    [message] = sandbox.state.twilio_messages
    info = profile["info"]
    assert message["to"] == "+33612345678"
    assert (
        message["body"] == f"{info['first_name']} {info['last_name']} just applied ! Send a message to {info['phone']}."
    )


def test_post_killed_after_the_ats_answered_is_not_posted_again_on_retry(stack, sandbox):
    """
    The task state store's "answered in an earlier try" path, shown to run: post_to_ats gets the ATS's answer,
    records it, and is SIGKILLed before it can finish (the test holds the ledger's write lock so the task
    waits right there). Its retry finds the answer and posts nothing.
    """
    import re
    import sqlite3
    from urllib.parse import quote

    import psutil

    source = make_key("source", "answered-then-killed")
    keys = sandbox.state.seed("profile", source, 4, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    hold = sandbox.state.hold_next_ats_answer()
    stack.unpause(DAG_ID)  # also when this test runs alone (the first test of the module unpauses it otherwise)
    run = stack.api(
        "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {"source_keys": [source]}}
    ).json()
    run_id = run["dag_run_id"]

    assert hold["held"].wait(120), "the batch never reached the ATS"
    ledger = sqlite3.connect(stack.home / "hrflow_ledger.db", timeout=30, isolation_level=None)
    ledger.execute("BEGIN EXCLUSIVE")  # the task will block on recording 'accepted', after the store write
    hold["release"].set()
    try:
        deadline = time.monotonic() + 120
        with sqlite3.connect(stack.home / "airflow.db") as db:
            while not db.execute(
                "SELECT count(*) FROM task_state_store WHERE run_id = ? AND task_id = 'batch.post_to_ats'", (run_id,)
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "post_to_ats never recorded the ATS's answer"
                time.sleep(0.2)
        tis = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances").json()
        [ti_id] = [
            ti["id"]
            for ti in tis["task_instances"]
            if ti["task_id"] == "batch.post_to_ats" and ti["state"] == "running"
        ]
        title = re.compile(rf"^airflow worker -- {ti_id}")
        victims = [p for p in psutil.process_iter(["cmdline"]) if title.match(" ".join(p.info["cmdline"] or []))]
        assert victims, "the post_to_ats task process was not found"
        for victim in victims:
            victim.kill()
    finally:
        ledger.execute("ROLLBACK")
        ledger.close()

    assert stack.wait_for_run(DAG_ID, run_id, timeout=300) == "success"
    assert sandbox.state.ats_area("profiles").requests == 1  # the retry did not post
    assert dict(sandbox.state.ats_area("profiles").applied) == {k: 1 for k in keys}
    assert set(keys) <= set(sandbox.state.snapshot()["synced"]["profile"])
    logs = "".join(
        p.read_text(errors="replace")
        for p in (stack.home / "logs").rglob("*")
        if p.is_file() and "task_id=batch.post_to_ats" in str(p) and f"run_id={run_id}" in str(p)
    )
    assert "was answered by the ATS in an earlier try; not posting again" in logs
