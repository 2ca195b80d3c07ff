"""Deadline and failure alerts on a real scheduler, dag-processor and executor (LocalExecutor, SQLite)."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from sandbox.airflow_home import AirflowStack
from sandbox.server import Fault, alert_connection, make_key

ON_CALL = "+33 6 00 00 00 02"
SYNC_DEADLINE_S, SMS_DEADLINE_S = 6, 30  # the SMS run takes a few seconds: 30 s leaves room on a busy box


@pytest.fixture(scope="module")
def stack(sandbox_server, tmp_path_factory):
    stack = AirflowStack(tmp_path_factory.mktemp("monitoring_home"), extra_env={
        **sandbox_server.airflow_env(),
        "AIRFLOW_CONN_HRFLOW_ALERT": json.dumps(alert_connection(sandbox_server.url, ON_CALL)),
        "AIRFLOW__HRFLOW__SYNC_DEADLINE_MINUTES": str(SYNC_DEADLINE_S / 60),
        "AIRFLOW__HRFLOW__SMS_DEADLINE_SECONDS": str(SMS_DEADLINE_S),
    })
    stack.start(wait_for_dags=("hrflow_profiles_to_ats", "hrflow_profile_sms"))
    yield stack
    stack.stop()


def alerts(sandbox, run_id: str) -> list[str]:
    return [b["text"] for b in sandbox.state.sms.bodies if b.get("to") == ON_CALL and f" run {run_id} " in b["text"]]


def trigger(stack, dag_id: str, conf: dict) -> dict:
    response = stack.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
    assert response.status_code == 200, response.text
    return response.json()


def wait_until_past(queued_at: str, seconds: float) -> None:
    """Sleep until ``seconds`` after ``queued_at`` (so a deadline there has been evaluated)."""
    left = datetime.fromisoformat(queued_at.replace("Z", "+00:00")).timestamp() + seconds - time.time()
    time.sleep(max(0.0, left))


def test_late_and_failing_sync_run_gets_one_deadline_alert_and_one_failure_alert(stack, sandbox):
    source = make_key("source", "late")
    keys = sandbox.state.seed("profile", source, 10, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    sandbox.state.ats_reject_keys[keys[0]] = "field 'email' is invalid"  # one batch of 5 is refused
    sandbox.state.faults.append(Fault(path="/v1/profiles/searching", status=0, delay=SYNC_DEADLINE_S + 4))
    stack.unpause("hrflow_profiles_to_ats")

    run = trigger(stack, "hrflow_profiles_to_ats", {"source_keys": [source], "batch_size": 5})

    assert stack.wait_for_run("hrflow_profiles_to_ats", run["dag_run_id"], timeout=300) == "failed"
    wait_until_past(run["queued_at"], SYNC_DEADLINE_S + 10)
    for _ in range(30):  # the failure callback runs in the dag-processor shortly after the run ends
        if len(alerts(sandbox, run["dag_run_id"])) == 2:
            break
        time.sleep(1)
    url = f"{stack.url}/dags/hrflow_profiles_to_ats/runs/{run['dag_run_id'].replace(':', '%3A').replace('+', '%2B')}"
    assert alerts(sandbox, run["dag_run_id"]) == [
        f"[Airflow] hrflow_profiles_to_ats run {run['dag_run_id']} is not done {SYNC_DEADLINE_S} s after it was queued. {url}",
        f"[Airflow] hrflow_profiles_to_ats run {run['dag_run_id']} failed at summary. "
        f"So far: found 10, posted 5, tagged 5, skipped 0, failed 5. {url}",
    ]


def test_prompt_sms_run_meets_its_deadline_and_a_failed_one_alerts_once(stack, sandbox):
    source = make_key("source", "prompt")
    [key] = sandbox.state.seed("profile", source, 1)
    event = {"type": "profile.indexing.success", "profile": {"key": key, "source": {"key": source}}}
    unknown = {**event, "profile": {"key": make_key("profile", "unknown"), "source": {"key": source}}}

    prompt = trigger(stack, "hrflow_profile_sms", event)
    failing = trigger(stack, "hrflow_profile_sms", unknown)

    assert stack.wait_for_run("hrflow_profile_sms", prompt["dag_run_id"]) == "success"
    assert stack.wait_for_run("hrflow_profile_sms", failing["dag_run_id"]) == "failed"
    # past both deadlines: the prompt run's was met, the failed run's must not fire on top of its failure alert
    wait_until_past(max(prompt["queued_at"], failing["queued_at"]), SMS_DEADLINE_S + 10)
    assert alerts(sandbox, prompt["dag_run_id"]) == []
    [failure] = alerts(sandbox, failing["dag_run_id"])
    assert failure.startswith(f"[Airflow] hrflow_profile_sms run {failing['dag_run_id']} failed at fetch_profile.")
    assert [b["text"] for b in sandbox.state.sms.bodies if "to" not in b] and key not in failure
