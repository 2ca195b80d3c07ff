"""AtsHook / MessagingHook against the sandbox receivers."""

from __future__ import annotations

import json

import pytest

from hrflow_airflow.errors import BadConfigError, RefusedError, TransientError
from hrflow_airflow.hooks.api_key import AtsHook, MessageUnknownError, MessagingHook
from hrflow_airflow.hooks.http import RetryPolicy
from sandbox.state import Fault

FAST = RetryPolicy(attempts=3, backoff=0.01)


def test_post_sends_json_api_key_and_idempotency_key(sandbox):
    AtsHook(retry=FAST).post_records("profiles", [{"hrflow_key": "k1", "first_name": "Zoë"}], idempotency_key="abc")
    area = sandbox.state.ats_area("profiles")
    assert area.bodies == [{"profiles": [{"hrflow_key": "k1", "first_name": "Zoë"}]}]
    assert "abc" in area.responses


def test_retry_after_a_lost_answer_reuses_the_idempotency_key(sandbox):
    sandbox.state.honour_idempotency = True  # the JSON wire format's replay
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
    with pytest.raises(TransientError, match="HTTP 429"):
        MessagingHook(retry=FAST).send_sms("hi", idempotency_key="k")
    assert sandbox.state.calls["POST /sms"] == FAST.attempts


class Store(dict):
    """The task state store's get/set, as a dict."""

    def set(self, key, value):
        self[key] = value


@pytest.mark.parametrize("fault", [{"lose_response": True}, {"status": 502}], ids=["lost-answer", "502"])
def test_sms_whose_answer_is_lost_is_reported_and_never_sent_twice_by_a_key_ignoring_gateway(sandbox, fault):
    """The gateway ignores Idempotency-Key: no in-process retry, no task retry sends a second SMS."""
    sandbox.state.faults.append(Fault(path="/sms", **({"status": 200} if "lose_response" in fault else {}), **fault))
    store = Store()
    with pytest.raises(MessageUnknownError, match="SMS k through connection 'sms_default'.*may have been sent") as e:
        MessagingHook(retry=FAST).send_sms("hi", idempotency_key="k", store=store)
    assert e.value.key == "k" and store["k"].keys() == {"intent"}
    with pytest.raises(MessageUnknownError, match="an earlier try"):  # the task's retry
        MessagingHook(retry=FAST).send_sms("hi", idempotency_key="k", store=store)
    assert sandbox.state.calls["POST /sms"] == 1


def test_sms_after_a_lost_answer_is_retried_with_the_key_when_the_endpoint_honours_it(sandbox, monkeypatch):
    conn = json.loads(sandbox.airflow_env()["AIRFLOW_CONN_SMS_DEFAULT"])
    extra = {**conn.get("extra", {}), "idempotency_key_honoured": True}
    monkeypatch.setenv("AIRFLOW_CONN_SMS_DEFAULT", json.dumps({**conn, "extra": extra}))
    sandbox.state.sms_honours_idempotency = True
    sandbox.state.faults.append(Fault(path="/sms", status=503, times=2))
    sandbox.state.faults.append(Fault(path="/sms", lose_response=True))
    store = Store()
    hook = MessagingHook(retry=RetryPolicy(attempts=4, backoff=0.01))
    assert hook.send_sms("hi", idempotency_key="k", store=store) == ("k", True)
    assert len(sandbox.state.sms.bodies) == 1 and sandbox.state.sms.replays == 1 and store["k"].keys() == {"sent"}


def test_wrong_api_key_is_a_clear_rejection(sandbox, monkeypatch):
    conn = json.loads(sandbox.airflow_env()["AIRFLOW_CONN_SMS_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_SMS_DEFAULT", json.dumps({**conn, "password": "wrong"}))
    with pytest.raises(RefusedError, match="messaging service \\(sms_default\\) refused the credentials \\(HTTP 401"):
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
    with pytest.raises(BadConfigError, match=message):
        AtsHook().post_records("profiles", [{"hrflow_key": "k"}], idempotency_key="k")
