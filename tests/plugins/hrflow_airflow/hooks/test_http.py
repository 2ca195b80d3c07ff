from __future__ import annotations

from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import pytest
import requests

from hrflow_airflow.hooks._http import RetryPolicy, TransientHttpError, parse_retry_after, pooled_session, send
from sandbox.server import Fault

FAST = RetryPolicy(attempts=3, backoff=0.01)


@pytest.mark.parametrize(("header", "seconds"), [("2", 2.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None)])
def test_parse_retry_after_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


def test_parse_retry_after_http_date():
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 <= parse_retry_after(when) <= 30


def test_delay_honours_retry_after_and_caps_it():
    response = requests.Response()
    response.headers["Retry-After"] = "7"
    assert RetryPolicy().delay(1, response) == 7
    assert RetryPolicy(max_delay=3).delay(1, response) == 3
    assert 0.5 <= RetryPolicy(backoff=0.5).delay(1) <= 0.75


def test_send_retries_5xx_then_returns_success(sandbox):
    sandbox.state.faults.append(Fault(path="/v1/auth", status=502, times=2))
    response = send(pooled_session(), "GET", f"{sandbox.url}/v1/auth", timeout=5, policy=FAST, target="t")
    assert response.status_code == 401  # reached the real handler (no auth headers)
    assert sandbox.state.calls["GET /v1/auth"] == 3


def test_send_returns_last_retryable_response_when_attempts_run_out(sandbox):
    sandbox.state.faults.append(Fault(path="/v1/auth", status=503, times=10))
    response = send(pooled_session(), "GET", f"{sandbox.url}/v1/auth", timeout=5, policy=FAST, target="t")
    assert response.status_code == 503
    assert sandbox.state.calls["GET /v1/auth"] == 3


def test_send_does_not_retry_4xx(sandbox):
    response = send(pooled_session(), "GET", f"{sandbox.url}/v1/auth", timeout=5, policy=FAST, target="t")
    assert response.status_code == 401
    assert sandbox.state.calls["GET /v1/auth"] == 1


def test_send_raises_transient_error_when_nothing_listens():
    with pytest.raises(TransientHttpError, match="failed after 3 attempts: ConnectionError"):
        send(pooled_session(), "GET", "http://127.0.0.1:9/", timeout=1, policy=FAST, target="t")


def test_send_retries_timeouts(sandbox):
    sandbox.state.faults.append(Fault(path="/v1/auth", status=200, delay=1.0))
    response = send(pooled_session(), "GET", f"{sandbox.url}/v1/auth", timeout=0.3, policy=FAST, target="t")
    assert response.status_code == 401
    assert sandbox.state.calls["GET /v1/auth"] == 2  # the slow one timed out, the retry was answered


def test_pooled_session_reads_proxy_settings_once_for_its_service(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "ats.internal")
    assert pooled_session(base_url="https://api.hrflow.ai/v1/").proxies["https"] == "http://proxy.internal:3128"
    assert "https" not in pooled_session(base_url="https://ats.internal/profiles").proxies
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company.pem")
    assert pooled_session(base_url="https://api.hrflow.ai/v1/").verify == "/etc/ssl/company.pem"
