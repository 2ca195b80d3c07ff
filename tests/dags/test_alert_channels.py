"""Alerts on every channel, end to end (``airflow dags test``): SMS, Slack (the sandbox's Incoming Webhook) and
e-mail (a local SMTP server), one message per state change and one recovery, none twice when a task retries."""

from __future__ import annotations

import json

from sandbox.connections import alert_connection
from sandbox.objects import make_key
from sandbox.slack import slack_alert_connection
from sandbox.state import Fault

ON_CALL = "+33 6 00 00 00 01"
DAG_ID = "hrflow_profiles_to_ats"


def channel_env(sandbox, smtp_server) -> dict[str, str]:
    return {
        "AIRFLOW__HRFLOW__ALERT_CHANNELS": "sms,slack,email",
        "AIRFLOW_CONN_HRFLOW_ALERT": json.dumps(alert_connection(sandbox.url, ON_CALL)),
        "AIRFLOW_CONN_HRFLOW_ALERT_SLACK": json.dumps(slack_alert_connection(sandbox.url)),
        "AIRFLOW_CONN_HRFLOW_ALERT_EMAIL": json.dumps(smtp_server.connection()),
    }


def received(sandbox, smtp_server) -> dict[str, list[str]]:
    """Return the texts each channel received, oldest first (e-mail: subject, then body)."""
    return {
        "sms": [body["text"] for body in sandbox.state.sms.bodies if body.get("to") == ON_CALL],
        "slack": [message["text"] for message in sandbox.state.slack_messages],
        "email": [f"{m['subject']}\n{m.get_body().get_content()}" for m in smtp_server.messages],
    }


def test_one_alert_per_state_change_and_one_recovery_on_every_channel(run_dag, sandbox, smtp_server):
    source = make_key("source", "alert-channels")
    keys = sandbox.state.seed("profile", source, 6, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    sandbox.state.ats_reject_keys[keys[0]] = "field 'email' is invalid"  # refused: the run fails
    # the other batch's first try exhausts its HTTP retries: Airflow retries that task, which must not re-alert
    sandbox.state.faults.append(Fault(path="/ats/", status=503, times=5, match_key=keys[4]))
    env = channel_env(sandbox, smtp_server)
    conf = {"source_keys": [source], "batch_size": 3}

    failed = run_dag(DAG_ID, conf, env=env)

    assert not failed.succeeded
    assert "new_state=up_for_retry" in failed.output  # post_to_ats went through an Airflow retry
    got = received(sandbox, smtp_server)
    assert {name: len(texts) for name, texts in got.items()} == {"sms": 1, "slack": 1, "email": 1}
    page = "http://localhost:8080/plugin/hrflow"
    for text in (got["sms"][0], got["slack"][0], got["email"][0]):
        assert f"{DAG_ID} run {failed.run_id} failed at summary" in text or f"run failed ({failed.run_id})" in text
        assert page in text
    for key in keys:  # keys and counts may be named, never candidate data
        info = sandbox.state.get("profile", source, key)["info"]
        for value in (info["first_name"], info["last_name"], info["email"], info["phone"]):
            assert not any(value in text for texts in got.values() for text in texts)

    sandbox.state.ats_reject_keys.clear()  # fixed on the ATS side: the next run sends it and succeeds
    recovered = run_dag(DAG_ID, conf, env=env)

    assert recovered.succeeded, recovered.output[-3000:]
    got = received(sandbox, smtp_server)
    assert {name: len(texts) for name, texts in got.items()} == {"sms": 2, "slack": 2, "email": 2}
    recovery = (
        f"[Airflow] {DAG_ID} recovered: run {recovered.run_id} succeeded after the failure of run {failed.run_id}."
    )
    assert got["sms"][1].startswith(recovery) and got["slack"][1].startswith(recovery)
    assert got["email"][1].startswith(f"[Airflow] {DAG_ID}: recovered ({recovered.run_id})\n")
    assert page in got["sms"][1]

    assert run_dag(DAG_ID, conf, env=env).succeeded  # still green: no state change, no message
    assert [len(texts) for texts in received(sandbox, smtp_server).values()] == [2, 2, 2]
