"""The per-object engine built from the SmartRecruiters and Workable clients, against their emulators, over HTTP."""

from __future__ import annotations

import json

import pytest

from hrflow_airflow.destinations import DestinationError, destination_for
from hrflow_airflow.destinations.base import AtsAuthError, nest
from hrflow_airflow.destinations.json_batch import JsonBatchDestination
from hrflow_airflow.destinations.per_object import PerObjectDestination
from hrflow_airflow.destinations.smartrecruiters import SmartRecruitersHook
from hrflow_airflow.destinations.workable import WorkableHook
from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.hooks.http import RateLimiter, RetryPolicy
from hrflow_airflow.ledger import Ledger
from sandbox.smartrecruiters import smartrecruiters_connection
from sandbox.state import Fault
from sandbox.workable import workable_connection


@pytest.fixture
def ats(sandbox, monkeypatch, tmp_path):
    """Point ats_default at one emulator; the ledger lives in a file of this test's own."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "ledger.db")})
    )

    def configure(name: str, **extra):
        conn = (
            smartrecruiters_connection(sandbox.url, **extra)
            if name == "smartrecruiters"
            else workable_connection(sandbox.url, oauth=True, **extra)
        )
        monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps(conn))
        destination = destination_for("ats_default", "profile")
        destination.client.retry = RetryPolicy(attempts=4, backoff=0.01)
        return destination

    return configure


def record(i: int, **fields) -> dict:
    return {"hrflow_key": f"k{i}", "firstName": f"F{i}", "lastName": f"L{i}", "email": f"c{i}@example.com", **fields}


def test_nest_builds_nested_bodies_and_leaves_out_empty_values():
    assert nest(
        {
            "hrflow_key": "k",
            "firstName": "Zoë",
            "location.city": "Paris",
            "location.country": None,
            "a.b.c": 1,
            "tags": [],
        }
    ) == {"firstName": "Zoë", "location": {"city": "Paris"}, "a": {"b": {"c": 1}}}
    with pytest.raises(ValueError, match="'a.b' nests under a field"):
        nest({"a": 1, "a.b": 2})


def test_rate_limiter_never_lets_more_than_the_limit_through_in_a_window(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("hrflow_airflow.hooks.limits.time.monotonic", lambda: clock[0])
    monkeypatch.setattr("hrflow_airflow.hooks.limits.time.sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    pacer = RateLimiter(3, 10.0, margin=0.5)
    sent = []
    for _ in range(7):
        pacer.wait()
        sent.append(clock[0])
    assert sent[:3] == [0.0, 0.0, 0.0] and sent[3] == pytest.approx(10.5) and sent[6] == pytest.approx(21.0)
    pacer.hold(30)
    pacer.wait()
    assert clock[0] == pytest.approx(21.0 + 30.5)


def test_destination_follows_the_connection_type(sandbox, monkeypatch, ats):
    assert isinstance(ats("smartrecruiters"), PerObjectDestination)
    assert isinstance(ats("smartrecruiters").client, SmartRecruitersHook)  # composition: built from the client
    assert isinstance(ats("workable").client, WorkableHook)
    assert isinstance(destination_for("ats_jobs_default", "job"), JsonBatchDestination)
    monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps(smartrecruiters_connection(sandbox.url)))
    with pytest.raises(
        DestinationError, match="'ats_default' is a smartrecruiters connection, which creates profiles only, not jobs"
    ):
        destination_for("ats_default", "job")
    monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps({"conn_type": "ftp", "host": "x"}))
    with pytest.raises(DestinationError, match="type 'ftp', which no ATS adapter handles"):
        destination_for("ats_default")
    with pytest.raises(DestinationError, match="'ats_nowhere' .* is not defined"):
        destination_for("ats_nowhere")


def test_deliver_creates_each_once_and_a_second_delivery_resumes(ats, sandbox):
    hook = ats("smartrecruiters")
    items = [[f"k{i}", "src"] for i in range(5)]
    records = [record(i, **{"location.city": "Paris"}) for i in range(5)]
    first = hook.deliver(plural="profiles", index=0, items=items, records=records, ledger=Ledger())
    assert sorted(k for k, _ in first["accepted"]) == [f"k{i}" for i in range(5)] and first["rejected"] == []
    created = sandbox.state.vendors.smartrecruiters.candidates
    assert {c["email"]: c["location"] for c in created.values()} == {
        f"c{i}@example.com": {"city": "Paris"} for i in range(5)
    }
    assert first["remote_ids"] == {
        f"k{i}": f"smartrecruiters:{c['id']}" for i, c in enumerate(sorted(created.values(), key=lambda c: c["email"]))
    }
    again = ats("smartrecruiters").deliver(plural="profiles", index=0, items=items, records=records, ledger=Ledger())
    assert again["resumed"] == 5 and again["remote_ids"] == first["remote_ids"]
    assert sandbox.state.vendors.smartrecruiters.creates == 5


def test_an_intent_without_an_answer_is_looked_up_and_adopted(ats, sandbox):
    hook = ats("workable")
    ledger = Ledger()
    # an earlier try recorded the intent, the create was applied, the answer never came back
    ledger.deliveries.record_intent(hook.ledger_key, [("k1", "src")])
    existing = hook.client.create({"hrflow_key": "k1", "firstname": "Zoë", "lastname": "M", "email": "c1@example.com"})
    result = hook.deliver(
        plural="profiles",
        index=0,
        items=[["k1", "src"], ["k2", "src"]],
        records=[
            {"hrflow_key": "k1", "firstname": "Zoë", "lastname": "M", "email": "C1@Example.com"},
            {"hrflow_key": "k2", "firstname": "Ann", "lastname": "N", "email": "c2@example.com"},
        ],
        ledger=ledger,
    )
    assert result["remote_ids"]["k1"] == f"workable:{existing}"
    assert sandbox.state.vendors.workable.creates == 2  # k1 once (before), k2 once
    assert sandbox.state.vendors.workable.requests["GET /spi/v3/candidates"] == 1  # only k1 was looked up


def test_429_waits_for_the_reset_and_counts_it(ats, sandbox):
    hook = ats("smartrecruiters")
    sandbox.state.faults.append(Fault(path="/smartrecruiters/candidates", method="POST", status=429, retry_after=0.2))
    result = hook.deliver(plural="profiles", index=0, items=[["k1", "s"]], records=[record(1)], ledger=Ledger())
    assert result["accepted"] == [["k1", "s"]] and hook.client.limiter.throttled == 1
    assert sandbox.state.vendors.smartrecruiters.creates == 1


def test_refused_credentials_name_the_connection(ats, sandbox, monkeypatch):
    conn = smartrecruiters_connection(sandbox.url)
    monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps({**conn, "password": "nope"}))
    hook = destination_for("ats_default", "profile")
    with pytest.raises(AtsAuthError, match="refused the credentials .*check connection 'ats_default'"):
        hook.deliver(plural="profiles", index=0, items=[["k1", "s"]], records=[record(1)], ledger=Ledger())
    ok, message = hook.client.test_connection()
    assert not ok and "ats_default" in message
    assert sandbox.state.vendors.smartrecruiters.creates == 0


def test_connection_test_reads_only(ats, sandbox):
    ok, message = ats("workable").client.test_connection()
    assert ok and "workable" in message
    assert sandbox.state.vendors.workable.creates == 0 and sandbox.state.vendors.workable.requests == {
        "GET /spi/v3/candidates": 1
    }


def test_extra_rate_limit_must_be_a_positive_number(ats):
    hook = ats("workable", rate_limit="fast")
    with pytest.raises(BadConfigError, match="extra 'rate_limit' must be a positive number of requests per 10 s"):
        hook.client.limits()


def test_lanes_share_the_documented_limits(ats):
    client = ats("smartrecruiters").client
    paced = client.paced(4)
    assert paced.limiter.limit == 2 and paced.max_concurrency == 2
    assert client.limiter.limit == 10 and client.max_concurrency == 8  # the client itself is left as it was


def test_another_client_using_the_same_key_is_seen_in_the_headers_and_waited_for(sandbox, monkeypatch, tmp_path):
    """Someone else spent 9 of this Workable window's 10 requests: our first answer says 0 left, so we wait."""
    import requests

    from sandbox.workable import WORKABLE_TOKEN

    monkeypatch.setenv(
        "AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")})
    )
    monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps(workable_connection(sandbox.url)))  # 10 / 10 s
    import time as clock

    while clock.time() % 10 > 6:  # leave the other client's burst and our first request in one window
        clock.sleep(0.2)
    for _ in range(9):
        requests.get(
            f"{sandbox.url}/workable/spi/v3/candidates",
            headers={"Authorization": f"Bearer {WORKABLE_TOKEN}"},
            timeout=5,
        )
    hook = destination_for("ats_default", "profile")
    items = [[f"k{i}", "s"] for i in range(3)]
    records = [
        {"hrflow_key": f"k{i}", "firstname": "A", "lastname": f"B{i}", "email": f"w{i}@example.com"} for i in range(3)
    ]
    result = hook.deliver(plural="profiles", index=0, items=items, records=records, ledger=Ledger())
    assert len(result["accepted"]) == 3
    assert sandbox.state.vendors.workable.refused_for_rate == 0 and hook.client.limiter.throttled == 0
    assert hook.client.limiter.waited_for_reset >= 1  # the headers said 0 left, and the hook waited for the reset


LOOKUPS_AT = """
import sys, time
from hrflow_airflow.destinations import destination_for
start = float(sys.argv[1])
client = destination_for("ats_default", "profile").client
while time.time() < start:
    time.sleep(0.01)
for i in range(4):
    client.find(f"nobody{i}@example.com")
"""


def test_smartrecruiters_lookups_of_two_task_processes_never_overlap(ats, sandbox, monkeypatch):
    """
    "The concurrency limiter is 1 concurrent request: GET /candidates", per key: two post_to_ats processes (two
    lanes) looking up at the same moment take turns through the ledger database's lock; the emulator, which
    refuses a second lookup in flight with a 429, refuses none.
    """
    import os
    import subprocess
    import sys
    import time

    ats("smartrecruiters")
    Ledger().deliveries.count("ats_default/smartrecruiters")  # the ledger's tables exist before the processes
    sandbox.state.latency["ats"] = 0.2  # each lookup is in flight 0.2 s: unserialized, they would collide
    start = time.time() + 10  # both processes have imported Airflow by then
    env = {**os.environ}
    children = [
        subprocess.Popen([sys.executable, "-c", LOOKUPS_AT, str(start)], env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    errors = [child.communicate(timeout=120)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0], errors
    account = sandbox.state.vendors.smartrecruiters
    assert account.requests["GET /candidates"] == 8 and account.refused_for_rate == 0
