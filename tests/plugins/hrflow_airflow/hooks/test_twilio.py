"""TwilioHook through the official twilio SDK, over HTTP, against the sandbox's Twilio emulator."""

from __future__ import annotations

import json

import pytest

from hrflow_airflow.errors import AuthError, BadConfigError, TransientError
from hrflow_airflow.hooks.http import RetryPolicy
from hrflow_airflow.hooks.messaging import messaging_hook
from hrflow_airflow.hooks.twilio import TwilioHook, TwilioSendError, to_e164
from sandbox.connections import twilio_connection
from sandbox.state import Fault

FAST = RetryPolicy(attempts=3, backoff=0.01)
RECRUITER = "+33612345678"


class Store(dict):
    """The task state store's get/set, as a dict."""

    def set(self, key, value):
        self[key] = value


@pytest.fixture
def twilio(sandbox, monkeypatch):
    def configure(**extra):
        conn = twilio_connection(sandbox.url, **extra)
        monkeypatch.setenv("AIRFLOW_CONN_SMS_DEFAULT", json.dumps(conn))
        return TwilioHook(retry=FAST)

    return configure


def messages(sandbox) -> list[dict]:
    return sandbox.state.twilio_messages


def test_send_posts_form_fields_and_returns_the_message_sid(twilio, sandbox):
    sid, sent = twilio().send_sms("Zoë Moreau just applied !", idempotency_key="k1", store=Store())
    [message] = messages(sandbox)
    assert sent and sid == message["sid"] and sid.startswith("SM")
    assert (message["to"], message["from"], message["body"]) == (RECRUITER, "+15005550006", "Zoë Moreau just applied !")


def test_messaging_hook_is_chosen_by_connection_type(twilio, sandbox):
    twilio()
    assert isinstance(messaging_hook("sms_default"), TwilioHook)


def test_lost_answer_then_retry_adopts_the_message_instead_of_sending_again(twilio, sandbox):
    """The message is still queued when the retry looks: ``date_sent`` null, as Twilio documents it."""
    sandbox.state.twilio_send_after = 600
    hook, store = twilio(), Store()
    sandbox.state.faults.append(Fault(path="/twilio/2010-04-01/Accounts/", method="POST", lose_response=True))
    with pytest.raises(TransientError, match=r"Twilio \(sms_default\): POST got no answer"):
        hook.send_sms("hello", idempotency_key="k", store=store)
    assert len(messages(sandbox)) == 1 and "intent" in store["k"]  # Twilio accepted it; we never heard back

    sid, sent = TwilioHook(retry=FAST).send_sms("hello", idempotency_key="k", store=store)  # the task's retry

    assert not sent and sid == messages(sandbox)[0]["sid"] and len(messages(sandbox)) == 1
    assert messages(sandbox)[0]["date_sent"] is None and messages(sandbox)[0]["status"] == "queued"
    assert store["k"] == {"sid": sid}
    assert TwilioHook(retry=FAST).send_sms("hello", idempotency_key="k", store=store) == (sid, False)
    assert len(messages(sandbox)) == 1


def test_intent_without_a_message_at_twilio_sends(twilio, sandbox):
    store = Store(k={"intent": "2026-11-28T10:00:00+00:00"})  # the process died before the request left
    sid, sent = twilio().send_sms("hello", idempotency_key="k", store=store)
    assert sent and [m["sid"] for m in messages(sandbox)] == [sid]


def test_429_is_retried_with_backoff(twilio, sandbox):
    sandbox.state.faults.append(Fault(path="/twilio/", method="POST", status=429, times=2, reason="Too Many Requests"))
    sid, sent = twilio().send_sms("hello", idempotency_key="k", store=Store())
    assert sent and len(messages(sandbox)) == 1
    assert (
        sandbox.state.calls[f"POST /twilio/2010-04-01/Accounts/{messages(sandbox)[0]['account_sid']}/Messages.json"]
        == 3
    )


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"to": "+15005550001"}, 21211),
        ({"to": "+15005550004"}, 21610),
        ({"to": "+15005550009"}, 21614),
        ({"from": "+15005550007"}, 21606),
        ({"from": "+15005550001"}, 21212),
    ],
    ids=["invalid-to", "unsubscribed", "not-mobile", "from-not-owned", "invalid-from"],
)
def test_permanent_errors_fail_with_twilios_code_and_are_not_retried(twilio, sandbox, extra, code):
    with pytest.raises(TwilioSendError, match=f"error {code}: .*not retried") as err:
        twilio(**extra).send_sms("hello", idempotency_key="k", store=Store())
    assert err.value.code == code
    assert messages(sandbox) == []
    assert sum(n for call, n in sandbox.state.calls.items() if call.startswith("POST /twilio/")) == 1


def test_wrong_credentials_fail_naming_the_connection(sandbox, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SMS_DEFAULT", json.dumps({**twilio_connection(sandbox.url), "password": "wrong"}))
    with pytest.raises(AuthError, match="error 20003.*connection 'sms_default'"):
        TwilioHook(retry=FAST).send_sms("hello", idempotency_key="k", store=Store())


def test_local_recipient_number_is_normalized_with_the_default_region(twilio, sandbox):
    twilio(to="06 12 34 56 78", default_region="FR").send_sms("hello", idempotency_key="k", store=Store())
    assert messages(sandbox)[0]["to"] == "+33612345678"


def test_unparseable_recipient_names_the_setting_without_echoing_it(twilio, sandbox):
    with pytest.raises(BadConfigError, match="extra 'to' of connection 'sms_default' is not") as err:
        twilio(to="06 12 34").send_sms("hello", idempotency_key="k", store=Store())
    assert "06 12 34" not in str(err.value)
    assert messages(sandbox) == []


def test_alerts_without_a_store_are_sent_once(twilio, sandbox):
    hook = twilio()
    assert hook.send_sms("[Airflow] run r1 failed", idempotency_key="a", to="+33600000002")[1] is True
    assert hook.send_sms("[Airflow] run r1 failed", idempotency_key="a", to="+33600000002")[1] is False
    assert len(messages(sandbox)) == 1


def test_test_connection_checks_credentials_and_numbers_without_sending(twilio, sandbox, monkeypatch):
    assert twilio().test_connection()[0] is True
    ok, message = twilio(to="not a number").test_connection()
    assert not ok and "extra 'to'" in message
    monkeypatch.setenv("AIRFLOW_CONN_SMS_DEFAULT", json.dumps({**twilio_connection(sandbox.url), "password": "wrong"}))
    ok, message = TwilioHook(retry=FAST).test_connection()
    assert not ok and "20003" in message
    assert messages(sandbox) == []


def test_e164():
    assert to_e164("+33 6 12 34 56 78", None, "x") == "+33612345678"
    assert to_e164("0612345678", "FR", "x") == "+33612345678"


def test_lookup_reads_past_the_first_page_back_to_the_intent(twilio, sandbox):
    """Sixty later messages to the same recruiter push the lost one to the second page: it is still found."""
    hook, store = twilio(), Store()
    sandbox.state.faults.append(Fault(path="/twilio/2010-04-01/Accounts/", method="POST", lose_response=True))
    with pytest.raises(TransientError):
        hook.send_sms("the lost one", idempotency_key="k", store=store)
    for i in range(60):
        hook.send_sms(f"later {i}", idempotency_key=f"later-{i}", store=store)

    sid, sent = TwilioHook(retry=FAST).send_sms("the lost one", idempotency_key="k", store=store)

    assert not sent and sid == messages(sandbox)[0]["sid"] and len(messages(sandbox)) == 61


def test_emulator_dates_a_message_only_once_sent_and_filters_by_gmt_day(twilio, sandbox):
    """DateSent filters see sent messages only, by their GMT day (the Message resource's read parameters)."""
    from datetime import datetime, timezone

    hook = twilio()
    sandbox.state.twilio_send_after = 600
    hook.send_sms("hello", idempotency_key="k", store=Store())
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    assert list(hook.client.messages.stream(to=RECRUITER, date_sent=datetime.now(timezone.utc))) == []  # queued
    sandbox.state.twilio_send_after = 0  # Twilio sends it now
    [sent] = hook.client.messages.list(to=RECRUITER, date_sent_after=datetime.now(timezone.utc))
    assert sent.status == "sent" and sent.date_sent.strftime("%Y-%m-%d") == today
    assert hook.client.messages.list(to=RECRUITER, date_sent_before=datetime(2020, 1, 1, tzinfo=timezone.utc)) == []
    assert hook.client.messages.list(to="+33699999999") == []
