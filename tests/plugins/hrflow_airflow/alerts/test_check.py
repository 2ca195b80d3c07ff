"""`python -m hrflow_airflow.alerts.check`: each channel ready, or what is wrong with it, without sending."""

from __future__ import annotations

import json

from hrflow_airflow.alerts.check import main
from sandbox.connections import alert_connection
from sandbox.slack import slack_alert_connection


def test_every_channel_set_up_is_ready_and_nothing_is_sent(sandbox, smtp_server, monkeypatch, capsys):
    monkeypatch.setenv("AIRFLOW__HRFLOW__ALERT_CHANNELS", "sms,slack,email")
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_ALERT", json.dumps(alert_connection(sandbox.url, "+33 6 00 00 00 01")))
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_ALERT_SLACK", json.dumps(slack_alert_connection(sandbox.url)))
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_ALERT_EMAIL", json.dumps(smtp_server.connection()))

    assert main([]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "sms\tready\tconnection 'hrflow_alert'",
        "slack\tready\tconnection 'hrflow_alert_slack'",
        "email\tready\tconnection 'hrflow_alert_email'",
    ]
    assert sandbox.state.sms.requests == 0 and sandbox.state.slack_messages == [] and smtp_server.messages == []


def test_what_is_wrong_is_named_and_exits_1(sandbox, smtp_server, monkeypatch, capsys):
    monkeypatch.setenv("AIRFLOW__HRFLOW__ALERT_CHANNELS", "sms,pagerduty,slack,email")
    conn = smtp_server.connection()
    del conn["extra"]["from_email"]
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_ALERT_EMAIL", json.dumps(conn))

    assert main([]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "sms\tNOT READY\tno alert target is set (connection 'hrflow_alert' or Variable 'hrflow_alert_phone')",
        "pagerduty\tNOT READY\t[hrflow] alert_channels names unknown channel 'pagerduty': use sms, slack or email",
        "slack\tNOT READY\t[hrflow] alert_channels names 'slack', but connection 'hrflow_alert_slack' (type "
        "slackwebhook) is not set",
        "email\tNOT READY\tconnection 'hrflow_alert_email' has no extra 'from_email' (the sender)",
    ]


def test_no_channel_is_said(monkeypatch, capsys):
    monkeypatch.setenv("AIRFLOW__HRFLOW__ALERT_CHANNELS", " ")
    assert main([]) == 0
    assert "[hrflow] alert_channels is empty: alerts are only logged" in capsys.readouterr().err
