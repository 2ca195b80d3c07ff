"""
The bound that holds whatever the nesting: one logical request goes out at most ``[hrflow] max_attempts`` times
in one task try, counted at a peer that answers 503 forever (the sandbox counts every request it gets). And the
circuit breaker: once a peer failed ``[hrflow] breaker_after`` attempts in a row, the task sends it no more.
"""

from __future__ import annotations

import json

import pytest

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.errors import AnswerUnknownError, CircuitOpenError, OutcomeUnknownError, TransientError
from hrflow_airflow.hooks.api_key import MessagingHook
from hrflow_airflow.hooks.hrflow_api import HrFlowHook
from hrflow_airflow.hooks.http import CircuitBreaker, RetryPolicy, one_request
from hrflow_airflow.hooks.twilio import TwilioHook
from hrflow_airflow.ledger import Ledger
from hrflow_airflow.objects import PROFILE
from sandbox.objects import make_key
from sandbox.smartrecruiters import smartrecruiters_connection
from sandbox.state import Fault

SOURCE = make_key("source", "bound")
QUICK = RetryPolicy(backoff=0.001, max_delay=0.01)  # attempts: [hrflow] max_attempts
FOREVER = 10_000


@pytest.fixture(params=[5, 3])
def max_attempts(request, monkeypatch) -> int:
    """The documented default (5), and a setting of 3."""
    monkeypatch.setenv("AIRFLOW__HRFLOW__MAX_ATTEMPTS", str(request.param))
    return request.param


def down(sandbox, path: str, method: str | None = None) -> None:
    sandbox.state.faults.append(Fault(path=path, method=method, status=503, times=FOREVER, retry_after=0))


def sent(sandbox, prefix: str) -> int:
    return sum(n for call, n in sandbox.state.calls.items() if call.startswith(prefix))


def test_a_read_goes_out_at_most_max_attempts_times(sandbox, max_attempts):
    [key] = sandbox.state.seed("profile", SOURCE, 1)
    down(sandbox, "/v1/profile/indexing", "GET")
    with pytest.raises(TransientError, match="HTTP 503"):
        HrFlowHook(retry=QUICK).get_object(PROFILE, SOURCE, key)
    assert sent(sandbox, "GET /v1/profile/indexing") == max_attempts


def test_a_tag_put_and_its_rereads_go_out_at_most_max_attempts_times_together(sandbox, max_attempts):
    [key] = sandbox.state.seed("profile", SOURCE, 1)
    down(sandbox, "/v1/profile/indexing", "PUT")
    with pytest.raises(TransientError, match="HTTP 503"):
        HrFlowHook(retry=QUICK).add_sync_tag(PROFILE, SOURCE, key)
    puts, gets = sent(sandbox, "PUT /v1/profile/indexing"), sent(sandbox, "GET /v1/profile/indexing")
    assert puts + gets == max_attempts and puts >= 1 and gets >= 1


def test_an_ats_create_and_its_lookups_go_out_at_most_max_attempts_times(sandbox, max_attempts, monkeypatch, tmp_path):
    monkeypatch.setenv(
        "AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")})
    )
    monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps(smartrecruiters_connection(sandbox.url)))
    destination = destination_for("ats_default", "profile")
    destination.client.retry = QUICK
    down(sandbox, "/smartrecruiters/candidates")
    record = {"hrflow_key": "k1", "firstName": "A", "lastName": "B", "email": "a@example.com"}
    with pytest.raises(TransientError):
        destination.deliver(plural="profiles", index=0, items=[["k1", "s"]], records=[record], ledger=Ledger())
    assert sandbox.state.vendors.smartrecruiters.requests.total() <= max_attempts
    assert sent(sandbox, "POST /smartrecruiters/candidates") + sent(sandbox, "GET /smartrecruiters/candidates") == (
        max_attempts
    )


def test_an_sms_goes_out_once_to_a_gateway_that_ignores_keys_and_at_most_max_attempts_times_otherwise(
    sandbox, max_attempts, monkeypatch
):
    down(sandbox, "/sms")
    with pytest.raises(OutcomeUnknownError, match="may have been sent once"):
        MessagingHook(retry=QUICK).send_sms("hi", idempotency_key="k1")
    assert sent(sandbox, "POST /sms") == 1  # a 5xx may have been sent: never repeated
    conn = json.loads(sandbox.airflow_env()["AIRFLOW_CONN_SMS_DEFAULT"])
    conn["extra"] = {**(conn.get("extra") or {}), "idempotency_key_honoured": True}
    monkeypatch.setenv("AIRFLOW_CONN_SMS_DEFAULT", json.dumps(conn))
    with pytest.raises(TransientError, match="HTTP 503"):
        MessagingHook(retry=QUICK).send_sms("hi", idempotency_key="k2")
    assert sent(sandbox, "POST /sms") == 1 + max_attempts


def test_a_twilio_send_goes_out_once_and_its_reads_at_most_max_attempts_times(sandbox, max_attempts, monkeypatch):
    from sandbox.connections import twilio_connection

    monkeypatch.setenv("AIRFLOW_CONN_SMS_DEFAULT", json.dumps(twilio_connection(sandbox.url)))
    down(sandbox, "/twilio/")
    store = _Store()
    with pytest.raises(AnswerUnknownError):
        TwilioHook(retry=QUICK).send_sms("hi", idempotency_key="k1", store=store)
    assert sent(sandbox, "POST /twilio/") == 1  # a create without an answer is never repeated
    with pytest.raises(TransientError):  # a retry with the intent recorded: the lookup is a read
        TwilioHook(retry=QUICK).send_sms("hi", idempotency_key="k1", store=store)
    assert sent(sandbox, "GET /twilio/") == max_attempts and sent(sandbox, "POST /twilio/") == 1


def test_nested_requests_share_the_outer_budget(sandbox, max_attempts):
    keys = sandbox.state.seed("profile", SOURCE, 3)
    down(sandbox, "/v1/profile/indexing", "GET")
    hook = HrFlowHook(retry=QUICK)
    with one_request() as budget:
        for key in keys:
            with pytest.raises(TransientError):
                hook.get_object(PROFILE, SOURCE, key)
    assert budget.spent == max_attempts and sent(sandbox, "GET /v1/profile/indexing") == max_attempts


def test_the_breaker_stops_tagging_after_a_few_failed_attempts(sandbox, monkeypatch):
    """HrFlow's PUT answers 503 for all of 30 profiles: at most concurrency + breaker_after PUTs, then the task
    fails; the requests in flight stop before their next attempt."""
    monkeypatch.setenv("AIRFLOW__HRFLOW__MAX_ATTEMPTS", "5")
    monkeypatch.setenv("AIRFLOW__HRFLOW__BREAKER_AFTER", "3")
    keys = sandbox.state.seed("profile", SOURCE, 30)
    down(sandbox, "/v1/profile/indexing", "PUT")
    hook = HrFlowHook(retry=QUICK)
    with pytest.raises(TransientError):
        hook.add_sync_tags(PROFILE, [(k, SOURCE) for k in keys], concurrency=4)
    puts = sent(sandbox, "PUT /v1/profile/indexing")
    assert 3 <= puts <= 4 + 3  # the bound: concurrency + breaker_after (it was 30 x 5 before the breaker)
    assert hook.breaker.opened == {"PUT": "HTTP 503"}
    with pytest.raises(CircuitOpenError, match=r"HrFlow \(hrflow_default\): PUT stopped in this task"):
        hook.add_sync_tag(PROFILE, SOURCE, keys[-1])
    assert sent(sandbox, "PUT /v1/profile/indexing") == puts  # nothing more was sent


def test_the_breaker_counts_failures_in_a_row_per_method_and_logs_once(caplog):
    breaker = CircuitBreaker("peer", threshold=2)
    breaker.failure("PUT", "HTTP 503")
    breaker.success("PUT")  # a success in between: not in a row
    breaker.failure("PUT", "HTTP 503")
    breaker.success("GET")  # another method's success does not close PUT's count
    breaker.check("PUT")
    breaker.failure("PUT", "HTTP 502")
    with pytest.raises(CircuitOpenError, match="peer: PUT stopped .*HTTP 502"):
        breaker.check("PUT")
    breaker.check("GET")
    breaker.failure("PUT", "HTTP 502")
    assert sum("attempts in a row failed" in m for m in caplog.messages) == 1


class _Store(dict):
    def set(self, key, value):
        self[key] = value
