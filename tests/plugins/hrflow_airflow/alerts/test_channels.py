"""Alert channels: SMS, Slack (the sandbox's Incoming Webhook) and e-mail (a local SMTP server), each at most once."""

from __future__ import annotations

import json
import logging
import re
import threading

import pytest

from hrflow_airflow.alerts.channels import Alert, channel_names, deliver
from hrflow_airflow.alerts.monitoring import HrFlowAlertNotifier
from hrflow_airflow.events.outbox import MessageRecords
from sandbox.connections import alert_connection
from sandbox.slack import slack_alert_connection
from sandbox.state import Fault

ON_CALL = "+33 6 00 00 00 01"
DAG_ID = "hrflow_profiles_to_ats"
PAGE = "http://localhost:8080/plugin/hrflow"


@pytest.fixture
def channels(sandbox, smtp_server, ledger_path, monkeypatch):
    """Every channel set up: the sandbox's messaging service and Slack webhook, the local SMTP server."""
    monkeypatch.setenv("AIRFLOW__HRFLOW__ALERT_CHANNELS", "sms,slack,email")
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_ALERT", json.dumps(alert_connection(sandbox.url, ON_CALL)))
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_ALERT_SLACK", json.dumps(slack_alert_connection(sandbox.url)))
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_ALERT_EMAIL", json.dumps(smtp_server.connection()))
    return sandbox, smtp_server


def received(sandbox, smtp_server) -> dict[str, list[str]]:
    """Return the texts each channel received, oldest first (e-mail: subject, then body)."""
    return {
        "sms": [body["text"] for body in sandbox.state.sms.bodies],
        "slack": [message["text"] for message in sandbox.state.slack_messages],
        "email": [f"{m['subject']}\n{m.get_body().get_content()}" for m in smtp_server.messages],
    }


def failure_context(run_id: str = "manual__1") -> dict:
    from airflow.sdk import DAG

    return {"dag": DAG(DAG_ID, schedule=None), "run_id": run_id, "reason": "task_failure"}


def success_context(run_id: str) -> dict:
    return {**failure_context(run_id), "reason": "success"}


def test_channel_names_are_read_in_order_once_each(monkeypatch):
    assert channel_names("") == []
    assert channel_names(" SMS, slack,sms ,email,") == ["sms", "slack", "email"]
    assert channel_names() == ["sms"]  # the default keeps the on-call SMS alone
    monkeypatch.setenv("AIRFLOW__HRFLOW__ALERT_CHANNELS", "slack")
    assert channel_names() == ["slack"]


def test_a_failure_alert_goes_once_on_every_channel_with_the_run_and_the_hrflow_page(channels):
    sandbox, smtp_server = channels
    notifier = HrFlowAlertNotifier()
    notifier(failure_context())
    notifier(failure_context())  # a second call (another scheduler, a rerun of the callback) sends nothing

    got = received(sandbox, smtp_server)
    assert {name: len(texts) for name, texts in got.items()} == {"sms": 1, "slack": 1, "email": 1}
    text = f"[Airflow] {DAG_ID} run manual__1 failed at unknown task."
    assert got["sms"][0].startswith(text) and got["slack"][0] == got["sms"][0]
    assert got["sms"][0].endswith(f"/dags/{DAG_ID}/runs/manual__1 HrFlow page: {PAGE}")
    [mail] = smtp_server.messages
    assert mail["subject"] == f"[Airflow] {DAG_ID}: run failed (manual__1)"
    assert mail["to"] == "on-call@example.com"
    assert f'<a href="{PAGE}">{PAGE}</a>' in mail.get_body().get_content()
    assert sandbox.state.slack_messages[0]["unfurl_links"] is False


def test_one_recovery_per_channel_when_the_next_run_succeeds(channels):
    sandbox, smtp_server = channels
    HrFlowAlertNotifier(event="recovery")(success_context("manual__0"))  # no failure alerted: nothing to recover
    assert received(sandbox, smtp_server) == {"sms": [], "slack": [], "email": []}

    HrFlowAlertNotifier()(failure_context("manual__1"))
    HrFlowAlertNotifier()(failure_context("manual__2"))  # still failing: its own alert, the same incident
    HrFlowAlertNotifier(event="recovery")(success_context("manual__3"))
    HrFlowAlertNotifier(event="recovery")(success_context("manual__3"))  # the same callback again
    HrFlowAlertNotifier(event="recovery")(success_context("manual__4"))  # later successes say nothing

    got = received(sandbox, smtp_server)
    assert {name: len(texts) for name, texts in got.items()} == {"sms": 3, "slack": 3, "email": 3}
    recovered = f"[Airflow] {DAG_ID} recovered: run manual__3 succeeded after the failure of run manual__1."
    assert got["sms"][2].startswith(recovered) and got["slack"][2].startswith(recovered)
    assert got["email"][2].startswith(f"[Airflow] {DAG_ID}: recovered (manual__3)\n")

    HrFlowAlertNotifier()(failure_context("manual__5"))  # a new failure: a new alert, then a new recovery
    HrFlowAlertNotifier(event="recovery")(success_context("manual__6"))
    assert [len(texts) for texts in received(sandbox, smtp_server).values()] == [5, 5, 5]


def test_a_slack_refusal_is_sent_by_a_later_call_and_a_lost_answer_never_twice(channels, monkeypatch, caplog):
    sandbox, _ = channels
    monkeypatch.setenv("AIRFLOW__HRFLOW__ALERT_CHANNELS", "slack")
    sandbox.state.faults.append(Fault(path="/slack/", status=429, reason="rate_limited"))
    HrFlowAlertNotifier()(failure_context("manual__1"))
    assert sandbox.state.slack_messages == []
    HrFlowAlertNotifier()(failure_context("manual__1"))  # 429: not posted, so a later call may post it
    assert len(sandbox.state.slack_messages) == 1

    sandbox.state.faults.append(Fault(path="/slack/", lose_response=True))
    with caplog.at_level(logging.ERROR):
        HrFlowAlertNotifier()(failure_context("manual__2"))
        HrFlowAlertNotifier()(failure_context("manual__2"))
    assert len(sandbox.state.slack_messages) == 2  # posted once; its answer was lost; not posted again
    assert sum("it may have been sent once" in m for m in caplog.messages) == 2
    [key] = {re.search(r"alert-slack-[0-9a-f]{40}", m)[0] for m in caplog.messages if "may have been sent once" in m}
    assert MessageRecords("alert").get(key).keys() == {"intent"}


def test_an_email_refusal_is_sent_by_a_later_call_and_a_lost_answer_never_twice(channels, monkeypatch):
    _, smtp_server = channels
    monkeypatch.setenv("AIRFLOW__HRFLOW__ALERT_CHANNELS", "email")
    smtp_server.refuse.extend(["451 4.3.0 try later"] * 6)  # the SMTP hook tries 1 + 5 times (extra retry_limit)
    HrFlowAlertNotifier()(failure_context("manual__1"))
    assert smtp_server.messages == []
    HrFlowAlertNotifier()(failure_context("manual__1"))
    assert len(smtp_server.messages) == 1

    smtp_server.lose_answer = 1
    HrFlowAlertNotifier()(failure_context("manual__2"))
    HrFlowAlertNotifier()(failure_context("manual__2"))
    assert len(smtp_server.messages) == 2


@pytest.mark.parametrize(
    ("setup", "named"),
    [
        ({"AIRFLOW__HRFLOW__ALERT_CHANNELS": "sms,pagerduty,slack"}, "unknown channel 'pagerduty'"),
        ({"AIRFLOW_CONN_HRFLOW_ALERT_SLACK": None}, "connection 'hrflow_alert_slack' (type slackwebhook) is not set"),
        ({"AIRFLOW_CONN_HRFLOW_ALERT_EMAIL": None}, "connection 'hrflow_alert_email' (type smtp) is not set"),
    ],
)
def test_a_channel_badly_set_up_is_named_and_the_others_still_send(channels, monkeypatch, caplog, setup, named):
    sandbox, smtp_server = channels
    for name, value in setup.items():
        monkeypatch.setenv(name, value) if value else monkeypatch.delenv(name)
    with caplog.at_level(logging.ERROR):
        HrFlowAlertNotifier()(failure_context())
    assert named in caplog.text and "bad setup" in caplog.text
    assert len(sandbox.state.sms.bodies) == 1  # the on-call SMS went all the same


def test_an_email_connection_without_recipients_is_named(channels, monkeypatch, caplog):
    _, smtp_server = channels
    conn = smtp_server.connection()
    del conn["extra"]["to"]
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_ALERT_EMAIL", json.dumps(conn))
    with caplog.at_level(logging.ERROR):
        HrFlowAlertNotifier()(failure_context())
    assert "connection 'hrflow_alert_email' has no extra 'to' (the alert's recipients)" in caplog.text


def test_two_callers_at_once_claim_a_message_once(ledger_path):
    records = MessageRecords("alert")
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        wins.append(records.claim("alert-slack-x", {"intent": "now"}))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 7 + [True]
    records.set("alert-slack-x", {"refused": "HTTP 429"})
    assert records.claim("alert-slack-x", {"intent": "later"}) is True  # a refusal may be sent again
    assert records.claim("alert-slack-x", {"intent": "again"}) is False


def test_the_email_body_escapes_the_text_and_links_its_urls():
    alert = Alert(
        "failure", "d", "r", "key <k1> failed. http://h/dags/d/runs/r?a=1&b=2 HrFlow page: http://h/hrflow/ui", "i"
    )
    assert alert.html() == (
        '<p>key &lt;k1&gt; failed. <a href="http://h/dags/d/runs/r?a=1&amp;b=2">http://h/dags/d/runs/r?a=1&amp;b=2</a>'
        ' HrFlow page: <a href="http://h/hrflow/ui">http://h/hrflow/ui</a></p>'
    )
    assert alert.key("sms").startswith("alert-") and alert.key("slack").startswith("alert-slack-")
    assert len({alert.key(c) for c in ("sms", "slack", "email")}) == 3


def test_no_channel_configured_logs_the_alert(ledger_path, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW__HRFLOW__ALERT_CHANNELS", "")
    with caplog.at_level(logging.WARNING):
        assert deliver(Alert("failure", "d", "r", "[Airflow] d run r failed.", "failure/d/r"), None) == {}
    assert "[hrflow] alert_channels is empty; alert not sent: [Airflow] d run r failed." in caplog.text


def test_alerts_link_to_the_hrflow_page_in_airflows_navigation():
    from hrflow_airflow.alerts.channels import HRFLOW_PAGE_PATH, page_url
    from hrflow_airflow.plugin import HrFlowPlugin

    [view] = HrFlowPlugin.external_views
    assert HRFLOW_PAGE_PATH == f"/plugin/{view['url_route']}"  # the UI's route of an external view: plugin/:page
    assert page_url("https://airflow.example.com/") == "https://airflow.example.com/plugin/hrflow"


def test_a_record_that_fails_mid_callback_never_breaks_it(channels, monkeypatch, caplog):
    def broken(self, key, default=None):
        raise OSError("database is locked")

    monkeypatch.setattr(MessageRecords, "get", broken)
    with caplog.at_level(logging.ERROR):
        HrFlowAlertNotifier(event="recovery")(success_context("manual__2"))  # logged, not raised
    assert f"HrFlow recovery alert for {DAG_ID} run manual__2 failed" in caplog.text
