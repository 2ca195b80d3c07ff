from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests

from hrflow_airflow.errors import AnswerUnknownError, CircuitOpenError, TransientError
from hrflow_airflow.hooks.http import CircuitBreaker, RetryPolicy, parse_retry_after, pooled_session, send
from hrflow_airflow.hooks.lean import LeanSession
from sandbox.connections import sandbox_connections
from sandbox.smartrecruiters import SMARTRECRUITERS_TOKEN
from sandbox.state import Fault

FAST = RetryPolicy(attempts=3, backoff=0.01)


@pytest.fixture(params=["requests", "lean"])
def session_for(request):
    """Return a factory of sessions for a service: plain requests, or the lean path ``base_url`` turns on."""
    return (lambda url: pooled_session()) if request.param == "requests" else (lambda url: pooled_session(base_url=url))


@pytest.mark.parametrize(("header", "seconds"), [("2", 2.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None)])
def test_parse_retry_after_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


def test_parse_retry_after_http_date():
    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
    when = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(when, now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=5), usegmt=True), now=now) == 0.0  # past


def test_delay_honours_retry_after_and_caps_it():
    response = requests.Response()
    response.headers["Retry-After"] = "7"
    assert RetryPolicy().delay(1, response) == 7
    assert RetryPolicy(max_delay=3).delay(1, response) == 3
    assert 0.5 <= RetryPolicy(backoff=0.5).delay(1) <= 0.75


def test_send_retries_5xx_then_returns_success(sandbox, session_for):
    sandbox.state.faults.append(Fault(path="/v1/auth", status=502, times=2))
    response = send(session_for(sandbox.url), "GET", f"{sandbox.url}/v1/auth", timeout=5, policy=FAST, target="t")
    assert response.status_code == 401  # reached the real handler (no auth headers)
    assert sandbox.state.calls["GET /v1/auth"] == 3


def test_send_returns_last_retryable_response_when_attempts_run_out(sandbox, session_for):
    sandbox.state.faults.append(Fault(path="/v1/auth", status=503, times=10))
    response = send(session_for(sandbox.url), "GET", f"{sandbox.url}/v1/auth", timeout=5, policy=FAST, target="t")
    assert response.status_code == 503
    assert sandbox.state.calls["GET /v1/auth"] == 3


def test_send_does_not_retry_4xx(sandbox, session_for):
    response = send(session_for(sandbox.url), "GET", f"{sandbox.url}/v1/auth", timeout=5, policy=FAST, target="t")
    assert response.status_code == 401
    assert sandbox.state.calls["GET /v1/auth"] == 1


def test_send_raises_transient_error_when_nothing_listens(session_for):
    with pytest.raises(TransientError, match="failed after 3 attempts: ConnectionError"):
        send(session_for("http://127.0.0.1:9"), "GET", "http://127.0.0.1:9/", timeout=1, policy=FAST, target="t")


def test_send_retries_timeouts(sandbox, session_for):
    sandbox.state.faults.append(Fault(path="/v1/auth", status=200, delay=1.0))
    response = send(session_for(sandbox.url), "GET", f"{sandbox.url}/v1/auth", timeout=0.3, policy=FAST, target="t")
    assert response.status_code == 401
    assert sandbox.state.calls["GET /v1/auth"] == 2  # the slow one timed out, the retry was answered


def test_pooled_session_reads_proxy_settings_once_for_its_service(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "ats.internal")
    assert pooled_session(base_url="https://api.hrflow.ai/v1/").proxies["https"] == "http://proxy.internal:3128"
    assert "https" not in pooled_session(base_url="https://ats.internal/profiles").proxies
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company.pem")
    assert pooled_session(base_url="https://api.hrflow.ai/v1/").verify == "/etc/ssl/company.pem"


def _hrflow_headers(url: str) -> dict[str, str]:
    conn = sandbox_connections(url)["hrflow_default"]
    return {"X-API-KEY": conn["password"], "X-USER-EMAIL": conn["login"]}


def test_lean_session_sends_session_headers_params_and_json_and_answers_a_requests_response(sandbox):
    session = pooled_session(base_url=sandbox.url)
    assert isinstance(session, LeanSession)
    session.headers.update(_hrflow_headers(sandbox.url))  # as the ATS hooks set their credentials
    key = sandbox.state.seed("profile", "src-lean", 1)[0]
    got = session.request(
        "GET",
        f"{sandbox.url}/v1/profile/indexing",
        params={"source_key": "src-lean", "key": key, "unused": None},
        timeout=5,
    )
    assert isinstance(got, requests.Response) and got.ok
    profile = got.json()["data"]
    assert profile["key"] == key and got.headers["content-type"] == "application/json"
    profile["tags"] = [{"name": "sync", "value": "1"}]
    put = session.request("PUT", f"{sandbox.url}/v1/profile/indexing", json=profile, timeout=5)
    assert put.status_code == 200, put.text
    assert sandbox.state.get("profile", "src-lean", key)["tags"] == [{"name": "sync", "value": "1"}]
    put.close()  # send() closes retryable answers: a lean answer closes like any other


def test_lean_session_times_out_and_refuses_like_requests(sandbox):
    session = pooled_session(base_url=sandbox.url)
    sandbox.state.faults.append(Fault(path="/v1/auth", status=200, delay=1.0))
    with pytest.raises(requests.ReadTimeout):
        session.request("GET", f"{sandbox.url}/v1/auth", timeout=0.2)
    with pytest.raises(requests.ConnectionError):
        pooled_session(base_url="http://127.0.0.1:9").request("GET", "http://127.0.0.1:9/", timeout=1)


def test_lean_session_leaves_proxied_and_unusual_requests_to_requests(sandbox, monkeypatch):
    session = pooled_session(base_url=sandbox.url)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # a proxy nobody listens on
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    proxied = pooled_session(base_url="http://hrflow.internal")
    with pytest.raises(requests.exceptions.ProxyError):  # only requests' path knows the proxy
        proxied.request("GET", "http://hrflow.internal/v1/auth", timeout=2)
    form = session.request("POST", f"{sandbox.url}/v1/auth", data={"a": "1"}, timeout=5)  # a form: requests encodes it
    assert form.status_code in (401, 404, 405)
    assert sandbox.state.calls["POST /v1/auth"] == 1


def test_lean_session_answers_headers_and_a_body_requests_can_read(sandbox):
    session = pooled_session(base_url=sandbox.url)
    session.headers.update(_hrflow_headers(sandbox.url))
    sandbox.state.faults.append(Fault(path="/v1/auth", status=429, retry_after=3))
    got = session.request("GET", f"{sandbox.url}/v1/auth", timeout=5)
    assert got.status_code == 429 and got.headers["Retry-After"] == "3"
    assert got.headers["content-type"] == "application/json"
    assert got.content == got.content and got.text and isinstance(got.json(), dict)  # read once, kept


def test_a_write_that_never_left_is_resent_at_once_and_one_that_lost_its_answer_is_not(sandbox, session_for):
    """Connection refused proves nothing was sent: retried (a TransientError at the end, not "outcome unknown").
    A dropped answer may follow an apply: raised at once as outcome unknown, sent once."""
    refused = "http://127.0.0.1:9/"
    with pytest.raises(TransientError, match="failed after 3 attempts") as never_left:
        send(session_for(refused), "POST", refused, timeout=1, policy=FAST, target="t", repeatable=False)
    assert not isinstance(never_left.value, AnswerUnknownError)
    sandbox.state.faults.append(Fault(path="/smartrecruiters/candidates", method="POST", lose_response=True))
    url, body = f"{sandbox.url}/smartrecruiters/candidates", {"firstName": "A", "lastName": "B", "email": "a@b.co"}
    headers = {"X-SmartToken": SMARTRECRUITERS_TOKEN}
    with pytest.raises(AnswerUnknownError):
        send(
            session_for(sandbox.url),
            "POST",
            url,
            json=body,
            headers=headers,
            timeout=5,
            policy=FAST,
            target="t",
            repeatable=False,
        )
    assert sandbox.state.calls["POST /smartrecruiters/candidates"] == 1
    assert sandbox.state.vendors.smartrecruiters.creates == 1  # applied, its answer lost


def test_the_breaker_counts_attempts_so_one_failing_request_opens_it_within_its_ladder(sandbox, session_for):
    sandbox.state.faults.append(Fault(path="/v1/auth", status=503, times=10))
    breaker = CircuitBreaker("t", threshold=2)
    policy = RetryPolicy(attempts=5, backoff=0.01)
    with pytest.raises(CircuitOpenError, match="after 2 failed attempts in a row"):
        url = f"{sandbox.url}/v1/auth"
        send(session_for(sandbox.url), "GET", url, timeout=5, policy=policy, target="t", breaker=breaker)
    assert sandbox.state.calls["GET /v1/auth"] == 2  # not the 5 of its ladder
