"""AtsHook / MessagingHook against the sandbox receivers."""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowFailException

from hrflow_airflow.hooks.api_key import AtsHook, MessagingHook
from hrflow_airflow.hooks.http import RefusedError, RetryPolicy, TransientHttpError
from sandbox.server import Fault

FAST = RetryPolicy(attempts=3, backoff=0.01)


def test_post_sends_json_api_key_and_idempotency_key(sandbox):
    AtsHook(retry=FAST).post_records("profiles", [{"hrflow_key": "k1", "first_name": "Zoë"}], idempotency_key="abc")
    area = sandbox.state.ats_area("profiles")
    assert area.bodies == [{"profiles": [{"hrflow_key": "k1", "first_name": "Zoë"}]}]
    assert "abc" in area.responses


def test_retry_after_a_lost_answer_reuses_the_idempotency_key(sandbox):
    sandbox.state.faults.append(Fault(path="/ats/profiles", lose_response=True))
    AtsHook(retry=FAST).post_records("profiles", [{"hrflow_key": "k1"}], idempotency_key="same")
    area = sandbox.state.ats_area("profiles")
    assert area.requests == 2 and area.replays == 1 and area.applied["k1"] == 1


def test_retry_after_5xx_sends_again_with_the_same_key(sandbox):
    sandbox.state.faults.append(Fault(path="/ats/profiles", status=503, times=2))
    AtsHook(retry=FAST).post_records("profiles", [{"hrflow_key": "k1"}], idempotency_key="same")
    area = sandbox.state.ats_area("profiles")
    assert sandbox.state.calls["POST /ats/profiles"] == 3  # two 503s, then the one that was applied
    assert area.requests == 1 and area.applied["k1"] == 1 and list(area.responses) == ["same"]


def test_4xx_is_rejected_with_the_reason_and_not_retried(sandbox):
    sandbox.state.ats_reject_keys["bad"] = "phone is invalid"
    with pytest.raises(RefusedError, match="ATS \\(ats_default\\) answered HTTP 422: .*phone is invalid") as err:
        AtsHook(retry=FAST).post_records("profiles", [{"hrflow_key": "bad"}], idempotency_key="x")
    assert err.value.status == 422
    assert sandbox.state.calls["POST /ats/profiles"] == 1


def test_exhausted_429_is_transient(sandbox):
    sandbox.state.faults.append(Fault(path="/sms", status=429, retry_after=0, times=3))
    with pytest.raises(TransientHttpError, match="HTTP 429"):
        MessagingHook(retry=FAST).send_sms("hi", idempotency_key="k")
    assert sandbox.state.calls["POST /sms"] == FAST.attempts


def test_wrong_api_key_is_a_clear_rejection(sandbox, monkeypatch):
    conn = json.loads(sandbox.airflow_env()["AIRFLOW_CONN_SMS_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_SMS_DEFAULT", json.dumps({**conn, "password": "wrong"}))
    with pytest.raises(RefusedError, match="messaging service \\(sms_default\\) answered HTTP 401"):
        MessagingHook(retry=FAST).send_sms("hi", idempotency_key="k")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"host": ""}, "Connection 'ats_default' has no host"),
        ({"password": None}, "Connection 'ats_default' has no password"),
        ({"extra": {"timeout": "soon"}}, "extra 'timeout' must be a number"),
    ],
)
def test_bad_connection_names_id_and_field(sandbox, monkeypatch, change, message):
    conn = json.loads(sandbox.airflow_env()["AIRFLOW_CONN_ATS_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps({**conn, **change}))
    with pytest.raises(AirflowFailException, match=message):
        AtsHook().post_records("profiles", [{"hrflow_key": "k"}], idempotency_key="k")
