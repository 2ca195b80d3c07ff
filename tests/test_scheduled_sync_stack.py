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

from hrflow_airflow.webhook import SIGNATURE_HEADER, sign
from sandbox.airflow_home import AirflowStack
from sandbox.server import WEBHOOK_SECRET, make_key, twilio_connection

SOURCE = make_key("source", "scheduled")
DAG_ID = "hrflow_profiles_to_ats"


@pytest.fixture(scope="module")
def stack(sandbox_server, tmp_path_factory):
    stack = AirflowStack(tmp_path_factory.mktemp("scheduled_home"), extra_env={
        **sandbox_server.airflow_env(),
        "AIRFLOW_VAR_HRFLOW_SOURCE_KEYS": json.dumps([SOURCE]),
        "AIRFLOW__HRFLOW__FULL_SWEEP_HOUR": "-1",  # this run uses search, whatever the hour
        "AIRFLOW_CONN_SMS_DEFAULT": json.dumps(twilio_connection(sandbox_server.url, to="06 12 34 56 78",
                                                                 default_region="FR")),
    })
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
        runs = [r for r in stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns").json()["dag_runs"]
                if r["run_type"] == "scheduled"]
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
    body = json.dumps([{"type": t, "origin": "api", "message": "Profile stored", "profile": profile}
                       for t in ("profile.storing.success", "profile.searching.success")]).encode()

    response = requests.post(f"{stack.url}/hrflow/webhook", data=body, timeout=30,
                             headers={SIGNATURE_HEADER: sign(WEBHOOK_SECRET, body), "Content-Type": "application/json"})

    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["triggered", "duplicate"]
    run_id = response.json()["results"][0]["run_id"]
    assert stack.wait_for_run("hrflow_profile_sms", run_id, timeout=240) == "success"
    [message] = sandbox.state.twilio_messages
    info = profile["info"]
    assert message["to"] == "+33612345678"
    assert message["body"] == f"{info['first_name']} {info['last_name']} just applied ! Send a message to {info['phone']}."
