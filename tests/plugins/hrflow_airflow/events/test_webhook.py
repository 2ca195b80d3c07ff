from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from fastapi.testclient import TestClient
from hrflow import Hrflow

from hrflow_airflow.events.app import create_app
from hrflow_airflow.events.planning import run_id_for
from hrflow_airflow.events.signing import SIGNATURE_HEADER, SignatureError, sign, verify

SECRET = "whsec-test"
EVENT = {
    "type": "profile.indexing.success",
    "origin": "api",
    "message": "ok",
    "profile": {"key": "p" * 40, "source": {"key": "s" * 40}},
}


def signed(event, secret=SECRET) -> str:
    return sign(secret, json.dumps(event).encode())


def test_signature_matches_the_hrflow_sdk():
    received = []
    client = Hrflow(api_secret="x", api_user="y", webhook_secret=SECRET)
    client.webhooks.handlers["profile.parse.success"] = received.append
    event = {"type": "profile.parse.success", "profile": {"key": "k"}}
    client.webhooks.handle(request_headers={SIGNATURE_HEADER: signed(event)})
    assert received == [event]


def test_valid_signature_returns_the_event():
    assert verify(signed(EVENT), SECRET) == EVENT


def test_non_ascii_payload():
    event = {**EVENT, "message": "Zoë Nguyễn — “ok”"}
    assert verify(sign(SECRET, json.dumps(event, ensure_ascii=False).encode("utf-8")), SECRET) == event


def _tamper(header: str) -> str:
    sig, payload = header.split(".")
    other = json.loads(base64.urlsafe_b64decode(payload + "=="))
    other["profile"]["key"] = "x" * 40
    return f"{sig}.{base64.urlsafe_b64encode(json.dumps(other).encode()).decode()}"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        (signed(EVENT, secret="wrong"), "does not match"),
        (_tamper(signed(EVENT)), "does not match"),
        (signed(EVENT)[:-10], "does not match|not base64url"),
        (signed(EVENT).split(".")[0], "must be"),
        ("a.b.c", "must be"),
        ("!!!.???", "not base64url"),
        (sign(SECRET, b"not json"), "not JSON"),
    ],
    ids=["absent", "empty", "forged", "tampered", "truncated", "no-payload", "three-parts", "garbage", "not-json"],
)
def test_bad_signatures_are_refused(header, reason):
    with pytest.raises(SignatureError, match=reason):
        verify(header, SECRET)


@pytest.fixture
def app_client(ledger_path):
    """
    The webhook app (SMS runs only) on a fresh inbox; ``post`` returns once the drain has started the runs.
    ``triggered``: each profile's run id and conf, whichever run carries it (a burst's share one); ``runs``: the runs.
    """
    from hrflow_airflow.events.inbox import members_of

    triggered: dict[str, dict] = {}
    runs: list[str] = []

    def trigger(run_id, conf):
        if run_id in runs:
            return "duplicate"
        runs.append(run_id)
        for member, member_conf in members_of(run_id, conf):
            assert member not in triggered, "a profile in two runs"
            triggered[member] = member_conf
        return "triggered"

    app = create_app(get_secret=lambda: SECRET, trigger=trigger, check_pool=lambda: None, starts_sync=False)
    client = TestClient(app)
    client.triggered, client.runs = triggered, runs
    return client


def post(client, header):
    """Deliver, and wait until the drain has handled every row the delivery recorded."""
    from hrflow_airflow.events.inbox import Inbox

    answer = client.post("/webhook", headers={SIGNATURE_HEADER: header} if header else {})
    _wait_for(lambda: Inbox().pending() == 0, "the drain")
    return answer


def test_valid_event_triggers_one_run_and_redelivery_is_a_duplicate(app_client):
    first = post(app_client, signed(EVENT))
    second = post(app_client, signed(EVENT))
    assert first.status_code == second.status_code == 200
    assert first.json()["results"][0]["status"] == "queued"
    assert second.json()["results"][0]["status"] == "duplicate"
    assert app_client.triggered == {
        run_id_for("s" * 40, "p" * 40): {
            "type": "profile.indexing.success",
            "origin": "api",
            "profile": {"key": "p" * 40, "source": {"key": "s" * 40}},
        }
    }


def test_current_event_name_is_accepted(app_client):
    event = {**EVENT, "type": "profile.storing.success"}
    assert post(app_client, signed(event)).json()["results"][0]["status"] == "queued"


def test_array_of_events(app_client):
    other = {**EVENT, "profile": {"key": "q" * 40, "source": {"key": "s" * 40}}}
    response = post(app_client, signed([EVENT, other, {"type": "job.train.success"}]))
    assert [r["status"] for r in response.json()["results"]] == ["queued", "queued", "ignored"]
    assert len(app_client.triggered) == 2 and len(app_client.runs) == 1  # one run texts both profiles


@pytest.mark.parametrize("raw", [False, True], ids=["hex-digest-python-sdk", "raw-digest-php-sdk"])
def test_both_signature_forms_are_accepted(raw):
    header = sign(SECRET, json.dumps(EVENT).encode(), raw=raw)
    assert verify(header, SECRET) == EVENT
    forged = sign("not-the-secret", json.dumps(EVENT).encode(), raw=raw)
    with pytest.raises(SignatureError, match="does not match"):
        verify(forged, SECRET)


FULL_PROFILE = {
    "key": "p" * 40,
    "source_key": "s" * 40,
    "source": {"key": "s" * 40, "name": "careers"},
    "info": {"first_name": "Zoë", "last_name": "Moreau", "email": "zoe@example.com", "phone": "+33612345678"},
    "text": "Resume " * 1000,
}


def test_new_profile_events_for_one_profile_start_one_run_with_keys_only_in_conf(app_client):
    events = [
        {"type": t, "origin": "api", "message": "ok", "profile": FULL_PROFILE}
        for t in ("profile.parsing.success", "profile.storing.success")
    ]
    first = post(app_client, signed(events))
    later = post(app_client, signed([{"type": "profile.searching.success", "origin": "api", "profile": FULL_PROFILE}]))
    update = post(app_client, signed([{"type": "profile.storing.update", "origin": "api", "profile": FULL_PROFILE}]))

    assert [r["status"] for r in first.json()["results"]] == ["queued", "duplicate"]
    assert later.json()["results"][0]["status"] == "duplicate"
    assert update.json()["results"][0]["status"] == "ignored"
    [conf] = app_client.triggered.values()
    assert conf == {
        "type": "profile.parsing.success",
        "origin": "api",
        "profile": {"key": "p" * 40, "source": {"key": "s" * 40}},
    }
    for value in ("Zoë", "zoe@example.com", "+33612345678", "Resume"):
        assert value not in json.dumps(conf, ensure_ascii=False)


def test_source_key_may_come_as_source_key(app_client):
    event = {"type": "profile.storing.success", "profile": {"key": "k" * 40, "source_key": "s" * 40}}
    assert post(app_client, signed(event)).json()["results"][0]["status"] == "queued"


def test_missing_pool_refuses_the_delivery_naming_the_pool_and_command(ledger_path):
    started = []
    client = TestClient(
        create_app(
            get_secret=lambda: SECRET,
            trigger=lambda *a: started.append(a) or "triggered",
            check_pool=lambda: "hrflow_api",
        )
    )
    response = client.post("/webhook", headers={SIGNATURE_HEADER: signed(EVENT)})
    assert response.status_code == 503
    assert (
        "pool 'hrflow_api'" in response.json()["detail"] and "airflow pools set hrflow_api" in response.json()["detail"]
    )
    assert not started


def test_unhandled_event_type_is_ignored_with_2xx(app_client):
    response = post(app_client, signed({"type": "profile.parse.success", "profile": {"key": "k"}}))
    assert response.status_code == 200 and response.json()["results"][0]["status"] == "ignored"
    assert not app_client.triggered


@pytest.mark.parametrize("header", [None, signed(EVENT, secret="forged"), _tamper(signed(EVENT)), "garbage"])
def test_unsigned_forged_or_tampered_is_401_and_starts_nothing(app_client, header):
    assert post(app_client, header).status_code == 401
    assert not app_client.triggered


@pytest.mark.parametrize(
    ("event", "detail"),
    [
        ({"profile": {}}, "has no 'type'"),
        ({"type": "profile.indexing.success", "profile": {"source": {"key": "s"}}}, "no profile key"),
        (
            {"type": "profile.indexing.success", "profile": {"key": "k"}},
            "no source key ('profile.source.key' or 'profile.source_key')",
        ),
        ([EVENT, {"type": "profile.indexing.success"}], "event 1: event has no 'profile' object"),
    ],
)
def test_malformed_event_is_422_and_starts_nothing(app_client, event, detail):
    response = post(app_client, signed(event))
    assert response.status_code == 422 and detail in response.json()["detail"]
    assert not app_client.triggered


def test_during_a_rotation_either_secret_signs_and_no_other(ledger_path):
    """``webhook_secret_next``: deliveries signed with the old or the new secret are both taken, nothing else."""
    runs = []
    client = TestClient(
        create_app(
            get_secret=lambda: (SECRET, "the-next-secret"),
            trigger=lambda run_id, conf: runs.append(run_id) or "triggered",
            check_pool=lambda: None,
            starts_sync=False,
        )
    )
    for i, secret in enumerate((SECRET, "the-next-secret")):
        event = {**EVENT, "profile": {"key": str(i) * 40, "source": {"key": "s" * 40}}}
        assert post(client, signed(event, secret)).status_code == 200
    forged = sign("an-old-leaked-secret", b'{"type": "profile.storing.success"}')
    assert post(client, forged).status_code == 401
    assert len(runs) == 2


def test_webhook_secrets_come_from_the_connection(monkeypatch):
    from hrflow_airflow.hooks.hrflow_api import HrFlowHook

    conn = {"conn_type": "hrflow", "login": "u@example.com", "password": "p", "extra": {"webhook_secret": "a"}}
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_DEFAULT", json.dumps(conn))
    assert HrFlowHook().webhook_secrets == ("a",)
    conn["extra"]["webhook_secret_next"] = "b"
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_DEFAULT", json.dumps(conn))
    assert HrFlowHook().webhook_secrets == ("a", "b")


def test_missing_secret_is_503(ledger_path):
    def no_secret():
        raise RuntimeError("Connection 'hrflow_default' has no extra 'webhook_secret'")

    client = TestClient(create_app(get_secret=no_secret, trigger=lambda *_: "triggered", check_pool=lambda: None))
    assert client.post("/webhook", headers={SIGNATURE_HEADER: signed(EVENT)}).status_code == 503


def test_signed_but_deeply_nested_payload_is_422_not_a_server_error(app_client):
    payload = b"[" * 20_000 + b"]" * 20_000
    mac = hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest().encode()
    header = f"{base64.urlsafe_b64encode(mac).decode()}.{base64.urlsafe_b64encode(payload).decode()}"
    response = post(app_client, header)
    assert response.status_code == 422 and "nested too deeply" in response.json()["detail"]
    assert not app_client.triggered


@pytest.mark.parametrize("key", ["p" * 2_000_000, "p" * 129, "../../etc/passwd", "a b", "a%2Fb", "k\u00e9y"])
def test_a_key_that_is_not_an_hrflow_key_is_422_and_starts_nothing(app_client, key):
    huge = {**EVENT, "profile": {"key": key, "source": {"key": "s" * 40}}}
    response = post(app_client, signed(huge))
    assert response.status_code == 422 and "'profile.key' is not an HrFlow key" in response.json()["detail"]
    assert not app_client.triggered


def test_health_answers_ok_or_names_what_is_missing(ledger_path):
    ok = TestClient(create_app(get_secret=lambda: SECRET, trigger=lambda *_: "triggered", check_pool=lambda: None))
    assert ok.get("/health").status_code == 200 and ok.get("/health").json() == {"status": "ok", "problems": []}

    def no_secret():
        raise RuntimeError("no secret")

    bad = TestClient(create_app(get_secret=no_secret, trigger=lambda *_: "triggered", check_pool=lambda: "hrflow_api"))
    answer = bad.get("/health")
    assert answer.status_code == 503 and len(answer.json()["problems"]) == 2
    assert "pool 'hrflow_api'" in answer.json()["problems"][1]


# -- every delivery: recorded in the inbox, answered at once, started by the drain ------------------------------------
def _bulk(n: int, start: int = 0) -> list[dict]:
    return [{**EVENT, "profile": {"key": f"{i:040d}", "source": {"key": "s" * 40}}} for i in range(start, start + n)]


def _wait_for(condition, what: str) -> None:
    import time

    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_bulk_delivery_is_recorded_answered_queued_and_each_run_started_once(ledger_path):
    from hrflow_airflow.events.inbox import members_of

    started, runs = [], []

    def trigger(run_id, conf):
        runs.append(run_id)
        started.extend(member for member, _ in members_of(run_id, conf))
        return "triggered"

    app = create_app(get_secret=lambda: SECRET, trigger=trigger, check_pool=lambda: None, starts_sync=False)
    with TestClient(app) as client:
        answer = client.post("/webhook", headers={SIGNATURE_HEADER: signed(_bulk(5))})
        assert answer.status_code == 200 and [r["status"] for r in answer.json()["results"]] == ["queued"] * 5
        _wait_for(lambda: len(started) == 5, "the drain to start the five profiles' SMS")
        again = client.post("/webhook", headers={SIGNATURE_HEADER: signed(_bulk(5))})  # HrFlow redelivers
        assert [r["status"] for r in again.json()["results"]] == ["duplicate"] * 5
    assert sorted(started) == sorted(r["run_id"] for r in answer.json()["results"]) and len(set(started)) == 5
    assert len(runs) == 1  # one run for the delivery's five profiles
    from hrflow_airflow.events.inbox import Inbox

    assert Inbox().pending() == 0


def test_runs_recorded_by_an_api_server_that_stopped_are_started_by_the_next(ledger_path):
    from hrflow_airflow.events.inbox import Inbox

    Inbox().record([(run_id_for("s" * 40, f"{i:040d}"), {"profile_key": f"{i:040d}"}) for i in range(3)])
    from hrflow_airflow.events.inbox import members_of

    started = []

    def trigger(run_id, conf):
        started.extend(member_conf["profile_key"] for _, member_conf in members_of(run_id, conf))
        return "triggered"

    app = create_app(
        get_secret=lambda: SECRET, trigger=trigger, check_pool=lambda: None, drain_at_start=True, starts_sync=False
    )
    with TestClient(app):
        _wait_for(lambda: len(started) == 3, "the drain at start")
    assert sorted(started) == [f"{i:040d}" for i in range(3)] and Inbox().pending() == 0


def test_a_run_the_drain_cannot_start_stays_recorded_for_the_next_round(ledger_path):
    from hrflow_airflow.events.inbox import Inbox

    inbox = Inbox()
    inbox.record([("r1", {}), ("r2", {})])

    def broken(run_id, conf):
        raise RuntimeError("the DAG is not parsed yet")

    with pytest.raises(RuntimeError):
        inbox.drain(broken)
    assert inbox.pending() == 2
    assert inbox.drain(lambda run_id, conf: "triggered") == 2 and inbox.pending() == 0
