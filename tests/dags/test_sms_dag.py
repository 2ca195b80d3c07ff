"""End-to-end runs of hrflow_profile_sms: real Airflow, real SDK, the sandbox."""

from __future__ import annotations

import json

from sandbox.objects import API_SECRET, SMS_API_KEY, make_key
from sandbox.state import Fault

SOURCE = make_key("source", "sms")


def event(profile_key: str, source_key: str = SOURCE, event_type: str = "profile.indexing.success") -> dict:
    return {
        "type": event_type,
        "origin": "api",
        "message": "Profile indexed",
        "profile": {"key": profile_key, "source": {"key": source_key}},
    }


def seed_one(sandbox, **kwargs) -> dict:
    [key] = sandbox.state.seed("profile", SOURCE, 1, **kwargs)
    return sandbox.state.get("profile", SOURCE, key)


def assert_no_pii_or_secret(result, profile):
    for secret in (API_SECRET, SMS_API_KEY, profile["info"]["email"]):
        assert secret not in result.output
    if profile["info"]["phone"]:
        assert profile["info"]["phone"] not in result.output


def test_sms_is_sent_once(run_dag, sandbox):
    profile = seed_one(sandbox)
    info = profile["info"]

    result = run_dag("hrflow_profile_sms", event(profile["key"]))

    assert result.succeeded, result.output[-3000:]
    assert sandbox.state.sms.bodies == [
        {"text": f"{info['first_name']} {info['last_name']} just applied ! Send a message to {info['phone']}."}
    ]
    assert_no_pii_or_secret(result, profile)


def test_current_event_name_and_custom_template(run_dag, sandbox):
    profile = seed_one(sandbox)

    result = run_dag(
        "hrflow_profile_sms",
        event(profile["key"], event_type="profile.storing.success"),
        variables={"hrflow_sms_template": "New: {first_name} ({profile_key})"},
    )

    assert result.succeeded, result.output[-3000:]
    assert sandbox.state.sms.bodies == [{"text": f"New: {profile['info']['first_name']} ({profile['key']})"}]


def test_profile_without_phone_is_skipped(run_dag, sandbox):
    profile = seed_one(sandbox)
    sandbox.state.update("profile", SOURCE, profile["key"], lambda p: p["info"].update(phone=None))

    result = run_dag("hrflow_profile_sms", event(profile["key"]))

    assert result.succeeded, result.output[-3000:]
    assert f"Profile {profile['key']} has no phone number: no SMS sent" in result.output
    assert sandbox.state.sms.requests == 0
    assert_no_pii_or_secret(result, {**profile, "info": {**profile["info"], "phone": None}})


def test_unknown_profile_fails_fast_without_retry_storm(run_dag, sandbox):
    seed_one(sandbox)

    result = run_dag("hrflow_profile_sms", event(make_key("unknown")))

    assert not result.succeeded
    assert "Unable to find object: profile" in result.output
    assert sandbox.state.calls["GET /v1/profile/indexing"] == 1
    assert sandbox.state.sms.requests == 0


def test_unknown_source_fails_with_hrflow_message(run_dag, sandbox):
    profile = seed_one(sandbox)

    result = run_dag("hrflow_profile_sms", event(profile["key"], source_key=make_key("nowhere")))

    assert not result.succeeded
    assert "Unable to find object: source" in result.output
    assert sandbox.state.sms.requests == 0


def test_conf_without_source_key_is_refused(run_dag, sandbox):
    profile = seed_one(sandbox)

    result = run_dag("hrflow_profile_sms", {"type": "profile.indexing.success", "profile": {"key": profile["key"]}})

    assert not result.succeeded
    assert "source" in result.output and "required" in result.output
    assert sandbox.state.calls["GET /v1/profile/indexing"] == 0 and sandbox.state.sms.requests == 0


def test_lost_answer_at_a_key_ignoring_gateway_is_reported_by_key_and_never_sent_twice(run_dag, sandbox):
    """The gateway ignores Idempotency-Key (most do) and sends; the answer is lost. One SMS, the run says so."""
    profile = seed_one(sandbox)
    sandbox.state.faults.append(Fault(path="/sms", status=200, lose_response=True))

    result = run_dag("hrflow_profile_sms", event(profile["key"]))

    assert not result.succeeded
    assert "may have been sent once. Not sent again (at most once)" in result.output
    assert "new_state=up_for_retry" not in result.output  # no retry could tell whether it was sent
    assert sandbox.state.calls["POST /sms"] == 1 and len(sandbox.state.sms.bodies) == 1
    assert_no_pii_or_secret(result, profile)


def test_endpoint_that_honours_the_key_gets_its_503s_and_lost_answer_retried_with_it(run_dag, sandbox):
    """Extra ``idempotency_key_honoured``: the documented replay of a repeated key makes retrying safe."""
    profile = seed_one(sandbox)
    sandbox.state.sms_honours_idempotency = True
    sandbox.state.faults.append(Fault(path="/sms", status=503, times=2))
    sandbox.state.faults.append(Fault(path="/sms", lose_response=True))
    conn = sandbox.connections()["sms_default"]
    conn["extra"] = {**conn["extra"], "idempotency_key_honoured": True}
    env = {"AIRFLOW_CONN_SMS_DEFAULT": json.dumps(conn)}

    result = run_dag("hrflow_profile_sms", event(profile["key"]), env=env)

    assert result.succeeded, result.output[-3000:]
    assert sandbox.state.calls["POST /sms"] == 4
    assert len(sandbox.state.sms.bodies) == 1 and sandbox.state.sms.replays == 1


def test_messaging_4xx_fails_with_the_reason(run_dag, sandbox):
    profile = seed_one(sandbox)
    sandbox.state.faults.append(Fault(path="/sms", status=400, reason="phone number not reachable"))

    result = run_dag("hrflow_profile_sms", event(profile["key"]))

    assert not result.succeeded
    assert "answered HTTP 400" in result.output and "phone number not reachable" in result.output
    assert sandbox.state.sms.bodies == []


def test_past_sms_digest_over_the_recruiter_gets_one_digest_instead(run_dag, sandbox, airflow_home, monkeypatch):
    """`[hrflow] sms_digest_over` 2: this window already counted 2 runs (a bulk import), so this one sends the
    digest, not its own SMS; the next window is primed the same, in case the run crosses into it."""
    from hrflow_airflow.events.digest import WINDOW_SECONDS, Bursts

    ledger = json.dumps({"conn_type": "sqlite", "host": str(airflow_home / "burst_ledger.db")})
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_LEDGER", ledger)
    import time as clock

    for window in (clock.time(), clock.time() + WINDOW_SECONDS):
        for _ in range(2):
            Bursts().count(window)
    profile = seed_one(sandbox)

    env = {"AIRFLOW__HRFLOW__SMS_DIGEST_OVER": "2", "AIRFLOW_CONN_HRFLOW_LEDGER": ledger}
    result = run_dag("hrflow_profile_sms", event(profile["key"]), env=env)

    assert result.succeeded, result.output[-3000:]
    [digest] = [b["text"] for b in sandbox.state.sms.bodies]
    assert digest.startswith("[HrFlow] More than 2 new profiles in 10 min") and "the digest was sent" in result.output
    assert_no_pii_or_secret(result, profile)


# -- Twilio: sms_default of type twilio ---------------------------------------------------------------------------
def _twilio_env(sandbox, **extra) -> dict[str, str]:
    from sandbox.connections import twilio_connection

    return {"AIRFLOW_CONN_SMS_DEFAULT": json.dumps(twilio_connection(sandbox.url, **extra))}


def test_storing_success_event_sends_one_sms_through_twilio(run_dag, sandbox):
    profile = seed_one(sandbox)
    info = profile["info"]

    result = run_dag(
        "hrflow_profile_sms",
        event(profile["key"], event_type="profile.storing.success"),
        env=_twilio_env(sandbox, to="06 12 34 56 78", default_region="FR"),
    )

    assert result.succeeded, result.output[-3000:]
    [message] = sandbox.state.twilio_messages
    assert message["to"] == "+33612345678" and message["from"] == "+15005550006"
    assert (
        message["body"] == f"{info['first_name']} {info['last_name']} just applied ! Send a message to {info['phone']}."
    )
    assert message["sid"] in result.output  # the message SID is logged; the text is not
    assert_no_pii_or_secret(result, profile)


def test_twilio_answer_lost_after_accepting_then_retry_sends_no_second_sms(run_dag, sandbox):
    profile = seed_one(sandbox)
    sandbox.state.faults.append(Fault(path="/twilio/2010-04-01/Accounts/", method="POST", lose_response=True))

    result = run_dag("hrflow_profile_sms", event(profile["key"]), env=_twilio_env(sandbox))

    assert result.succeeded, result.output[-3000:]
    assert "new_state=up_for_retry" in result.output
    assert "adopting it" in result.output
    assert len(sandbox.state.twilio_messages) == 1


def test_twilio_permanent_error_fails_the_run_with_its_code_and_sends_nothing(run_dag, sandbox):
    profile = seed_one(sandbox)

    result = run_dag("hrflow_profile_sms", event(profile["key"]), env=_twilio_env(sandbox, to="+15005550004"))

    assert not result.succeeded
    assert "error 21610" in result.output and "unsubscribed" in result.output
    assert "new_state=up_for_retry" not in result.output  # not retried
    assert sandbox.state.twilio_messages == []


def burst(*keys: str, source_key: str = SOURCE) -> dict:
    """The conf of the run the webhook's drain starts for a burst's profiles (events/inbox.py)."""
    from hrflow_airflow.events.inbox import batch_conf
    from hrflow_airflow.events.planning import run_id_for
    from hrflow_airflow.events.sms import event_conf

    return batch_conf([(run_id_for(source_key, k), event_conf(event(k, source_key), source_key, k)) for k in keys])


def text_of(profile: dict) -> str:
    info = profile["info"]
    return f"{info['first_name']} {info['last_name']} just applied ! Send a message to {info['phone']}."


def test_a_burst_run_texts_each_profile_once_and_skips_the_one_without_phone(run_dag, sandbox):
    keys = sandbox.state.seed("profile", SOURCE, 3)
    sandbox.state.update("profile", SOURCE, keys[1], lambda p: p["info"].update(phone=None))
    texted = [sandbox.state.get("profile", SOURCE, k) for k in (keys[0], keys[2])]

    result = run_dag("hrflow_profile_sms", burst(*keys))

    assert result.succeeded, result.output[-3000:]
    assert sorted(b["text"] for b in sandbox.state.sms.bodies) == sorted(text_of(p) for p in texted)
    assert sandbox.state.calls["POST /sms"] == 2
    assert "'sent': 2, 'skipped': 1" in result.output
    for profile in texted:
        assert_no_pii_or_secret(result, profile)


def test_a_burst_run_texts_the_others_then_fails_naming_the_unknown_profile_without_retry(run_dag, sandbox):
    [known] = sandbox.state.seed("profile", SOURCE, 1)
    unknown = make_key("unknown", "burst")

    result = run_dag("hrflow_profile_sms", burst(unknown, known))

    assert not result.succeeded
    assert "Unable to find object: profile" in result.output and "new_state=up_for_retry" not in result.output
    assert [b["text"] for b in sandbox.state.sms.bodies] == [text_of(sandbox.state.get("profile", SOURCE, known))]


def test_a_burst_run_never_sends_twice_the_sms_whose_answer_was_lost(run_dag, sandbox):
    """A gateway that ignores Idempotency-Key loses the answer to one SMS of the run: the others are sent, that
    one once, and the run says which may have been sent (at most once, per profile)."""
    keys = sandbox.state.seed("profile", SOURCE, 3)
    lost = sandbox.state.get("profile", SOURCE, keys[1])
    sandbox.state.faults.append(Fault(path="/sms", status=200, lose_response=True, match_key=lost["info"]["phone"]))

    result = run_dag("hrflow_profile_sms", burst(*keys))

    assert not result.succeeded
    assert "may have been sent once. Not sent again (at most once)" in result.output
    assert "new_state=up_for_retry" not in result.output
    assert sandbox.state.calls["POST /sms"] == 3 and len(sandbox.state.sms.bodies) == 3
