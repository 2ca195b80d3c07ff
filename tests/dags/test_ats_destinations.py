"""
hrflow_profiles_to_ats against SmartRecruiters and Workable (the sandbox's emulators, sandbox/smartrecruiters.py,
workable.py): one candidate per profile, exactly once without idempotency keys, within the documented rate limits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from sandbox.airflow_home import AIRFLOW, airflow_env, dags_test
from sandbox.objects import make_key
from sandbox.smartrecruiters import SMARTRECRUITERS_TOKEN, smartrecruiters_connection
from sandbox.state import Fault
from sandbox.workable import WORKABLE_JOB, WORKABLE_TOKEN, workable_connection

DAG_ID = "hrflow_profiles_to_ats"
CREATE_PATH = {"smartrecruiters": "/smartrecruiters/candidates", "workable": "/workable/spi/v3/talent_pool/candidates"}


def connection(sandbox, name: str, **extra) -> dict[str, str]:
    """Environment that makes ats_default a connection of type ``name`` (Workable: an OAuth token, 50 / 10 s)."""
    conn = (
        smartrecruiters_connection(sandbox.url, **extra)
        if name == "smartrecruiters"
        else workable_connection(sandbox.url, oauth=extra.pop("oauth", True), **extra)
    )
    return {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(conn)}


@pytest.fixture
def source(request) -> str:
    """A source of this test's own: the sync ledger outlives a test, and keys derive from the source."""
    return make_key("source", "vendors", request.node.name)


@pytest.fixture(params=["smartrecruiters", "workable"])
def vendor(request) -> str:
    return request.param


def account(sandbox, name: str):
    return getattr(sandbox.state.vendors, name)


def candidate_email(candidate: dict) -> str:
    return candidate["email"]


def ats_ids(sandbox, source: str, keys: list[str]) -> dict[str, list[str]]:
    """Return each profile's ats_id tag values in HrFlow."""
    out = {}
    for key in keys:
        tags = sandbox.state.get("profile", source, key).get("tags") or []
        out[key] = [t["value"] for t in tags if t["name"] == "ats_id"]
    return out


def test_every_unsynced_profile_becomes_one_candidate_with_its_ats_id_in_hrflow(run_dag, sandbox, vendor, source):
    state = sandbox.state
    keys = state.seed("profile", source, 12, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    state.seed("profile", source, 2, start=12, tags=[{"name": "sync", "value": "1"}])  # already synced
    result = run_dag(DAG_ID, {"source_keys": [source]}, env=connection(sandbox, vendor))
    assert result.succeeded, result.output[-3000:]
    assert result.summary["posted"] == 12 and result.summary["tagged"] == 12 and result.summary["failed"] == 0

    acct = account(sandbox, vendor)
    assert acct.creates == 12 and acct.duplicates() == []
    for key in keys:
        info = state.get("profile", source, key)["info"]
        [candidate] = acct.by_email(info["email"])
        if vendor == "smartrecruiters":  # the default map, spelled out independently of the code
            assert (candidate["firstName"], candidate["lastName"], candidate["phoneNumber"]) == (
                info["first_name"],
                info["last_name"],
                info["phone"],
            )
            assert candidate["location"] == {
                "city": "Paris",
                "region": "Ile-de-France",
                "country": "FRA",
                "lat": info["location"]["lat"],
                "lng": info["location"]["lng"],
            }
        else:
            assert (
                candidate["name"],
                candidate["firstname"],
                candidate["lastname"],
                candidate["phone"],
                candidate["summary"],
            ) == (
                f"{info['first_name']} {info['last_name']}",
                info["first_name"],
                info["last_name"],
                info["phone"],
                info["summary"],
            )
            assert candidate["sourced"] is True and candidate["job"] is None
        assert ats_ids(sandbox, source, [key])[key] == [f"{vendor}:{candidate['id']}"]
        assert info["email"] not in result.output and info["phone"] not in result.output
    assert SMARTRECRUITERS_TOKEN not in result.output and "oauth-token" not in result.output

    again = run_dag(DAG_ID, {"source_keys": [source]}, env=connection(sandbox, vendor))
    assert again.succeeded and again.summary["found"] == 0
    assert acct.creates == 12  # the second run created nothing


def test_lost_create_answers_and_5xx_before_and_after_the_create_leave_no_duplicate(run_dag, sandbox, vendor, source):
    """
    Lost answers, a 503 before the create and a gateway's 502 after it. The applied ones are adopted (they carry
    our marker); the 503's outcome is unknown to us: not created again in that run (the run stays green), and
    created by a later run once a lookup past [hrflow] lookup_settle_seconds still finds nothing. Six candidates,
    each once.
    """
    state = sandbox.state
    keys = state.seed("profile", source, 6, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    state.faults += [
        Fault(path=CREATE_PATH[vendor], method="POST", status=200, lose_response=True, times=2),
        Fault(path=CREATE_PATH[vendor], method="POST", status=503, times=1),
        Fault(path=CREATE_PATH[vendor], method="POST", applied_status=502, reason="Bad Gateway", times=2),
    ]
    env = {**connection(sandbox, vendor), "AIRFLOW__HRFLOW__TASK_RETRY_DELAY_SECONDS": "0.1"}
    result = run_dag(DAG_ID, {"source_keys": [source]}, env=env)
    assert result.succeeded, result.output[-3000:]
    acct = account(sandbox, vendor)
    assert state.faults_by_kind["lost_answer"] == 2 and state.faults_by_kind["http_503"] == 1
    assert state.faults_by_kind["applied_502"] == 2 and acct.creates == 5 and acct.duplicates() == []
    assert result.summary["unknown"] == 1 and result.summary["tagged"] == 5 and result.summary["failed"] == 0
    assert "adopted" in result.output  # found carrying our marker after the lost answers

    settled = run_dag(DAG_ID, {"source_keys": [source]}, env={**env, "AIRFLOW__HRFLOW__LOOKUP_SETTLE_SECONDS": "0"})
    assert settled.succeeded, settled.output[-3000:]
    assert acct.creates == 6 and len(acct.candidates) == 6 and acct.duplicates() == []
    assert all(len(ids) == 1 for ids in ats_ids(sandbox, source, keys).values())


def test_accepted_but_untagged_profiles_are_not_created_again_by_a_later_run(run_dag, sandbox, source):
    vendor = "smartrecruiters"  # the ledger path is the adapters' shared code (base.py)
    state = sandbox.state
    keys = state.seed("profile", source, 5, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    state.faults.append(
        Fault(path="/v1/profile/indexing", method="PUT", status=400, times=10, match_key=keys[1], reason="refused")
    )
    first = run_dag(DAG_ID, {"source_keys": [source]}, env=connection(sandbox, vendor))
    assert not first.succeeded and first.summary["tagged"] == 4
    acct = account(sandbox, vendor)
    assert acct.creates == 5
    state.faults.clear()
    second = run_dag(DAG_ID, {"source_keys": [source], "batch_size": 1}, env=connection(sandbox, vendor))
    assert second.succeeded, second.output[-3000:]
    assert second.summary["found"] == 1 and second.summary["resumed"] == 1
    assert acct.creates == 5 and acct.duplicates() == []
    assert ats_ids(sandbox, source, [keys[1]])[keys[1]] == [
        f"{vendor}:{acct.by_email(state.get('profile', source, keys[1])['info']['email'])[0]['id']}"
    ]


def test_a_refused_profile_fails_alone_and_stays_untagged(run_dag, sandbox, vendor, source):
    state = sandbox.state
    keys = state.seed("profile", source, 4, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    state.update("profile", source, keys[2], lambda p: p["info"].update(email="not-an-email"))
    result = run_dag(DAG_ID, {"source_keys": [source]}, env=connection(sandbox, vendor))
    assert not result.succeeded
    assert result.summary["posted"] == 3 and result.summary["tagged"] == 3 and result.summary["failed"] == 1
    [failure] = result.summary["failed_keys"]
    assert failure["key"] == keys[2] and "HTTP 4" in failure["reason"]
    assert (
        ("INVALID_EMAIL" in failure["reason"])
        if vendor == "smartrecruiters"
        else ("Email is invalid" in failure["reason"])
    )
    assert not any(t["name"] == "sync" for t in state.get("profile", source, keys[2]).get("tags") or [])
    assert len(account(sandbox, vendor).candidates) == 3


def test_refused_credentials_fail_the_run_naming_the_connection(run_dag, sandbox, source):
    vendor = "workable"  # SmartRecruiters' 401: tests/plugins/hrflow_airflow/destinations
    state = sandbox.state
    state.seed("profile", source, 3, created_at="2026-03-01T00:00:00+00:00")
    env = connection(sandbox, vendor)
    conn = json.loads(env["AIRFLOW_CONN_ATS_DEFAULT"])
    conn["password"] = "wrong"
    result = run_dag(DAG_ID, {"source_keys": [source]}, env={"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(conn)})
    assert not result.succeeded
    assert "refused the credentials (HTTP 401" in result.output and "check connection 'ats_default'" in result.output
    assert account(sandbox, vendor).creates == 0
    assert not any(state.get("profile", source, k).get("tags") for k in state.objects["profile"][source])


def test_workable_refuses_a_profile_without_an_email_before_sending(run_dag, sandbox, source):
    """Workable requires an email on create: the profile is refused here, with that reason; nothing is sent."""
    state = sandbox.state
    keys = state.seed("profile", source, 3, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    state.update("profile", source, keys[0], lambda p: p["info"].update(email=None))
    result = run_dag(DAG_ID, {"source_keys": [source]}, env=connection(sandbox, "workable"))
    assert not result.succeeded
    [failure] = result.summary["failed_keys"]
    assert failure["key"] == keys[0] and "Workable requires an email" in failure["reason"]
    assert (
        state.vendors.workable.creates == 2
        and state.vendors.workable.requests["POST /spi/v3/talent_pool/candidates"] == 2
    )


def test_job_shortcode_sends_candidates_to_the_job(run_dag, sandbox, source):
    sandbox.state.seed("profile", source, 2, created_at="2026-03-01T00:00:00+00:00")
    result = run_dag(DAG_ID, {"source_keys": [source]}, env=connection(sandbox, "workable", job_shortcode=WORKABLE_JOB))
    assert result.succeeded, result.output[-3000:]
    assert [c["job"] for c in sandbox.state.vendors.workable.candidates.values()] == [{"shortcode": WORKABLE_JOB}] * 2


@pytest.mark.parametrize("name,count", [("smartrecruiters", 40), ("workable", 15)])
def test_no_request_is_refused_for_rate_at_the_documented_limits(run_dag, sandbox, name, count, source):
    """Workable with an account token (10 requests / 10 s): 15 candidates span two intervals, and none is refused."""
    sandbox.state.seed("profile", source, count, created_at="2026-03-01T00:00:00+00:00", spread_seconds=1)
    if name == "smartrecruiters":  # answers that take a while, as real ones do: at 10/s the requests overlap
        sandbox.state.latency["ats"] = 0.3  # (instant answers on a loaded machine may each end before the next)
    env = connection(sandbox, name, **({"oauth": False} if name == "workable" else {}))
    result = run_dag(DAG_ID, {"source_keys": [source]}, env=env)
    assert result.succeeded, result.output[-3000:]
    acct = account(sandbox, name)
    assert acct.creates == count and acct.refused_for_rate == 0
    limit, interval = (10, 1.0) if name == "smartrecruiters" else (10, 10.0)
    per_window: dict[int, int] = {}
    for at in acct.received_at:
        per_window[int(at // interval)] = per_window.get(int(at // interval), 0) + 1
    assert max(per_window.values()) <= limit
    if name == "smartrecruiters":
        assert 1 < acct.max_in_flight <= 8  # concurrent, within the documented 8
    assert WORKABLE_TOKEN not in result.output


@pytest.mark.parametrize("vendor", ["smartrecruiters"])
def test_tagging_killed_then_a_new_run_creates_nothing_again(airflow_home, sandbox, vendor, source):
    """SIGKILL the whole `airflow dags test` process while tagging; the next run only tags."""
    state = sandbox.state
    keys = state.seed("profile", source, 6, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    state.faults.append(Fault(path="/v1/profile/indexing", method="PUT", status=0, delay=60, times=100))
    env = airflow_env(airflow_home, {**sandbox.airflow_env(), **connection(sandbox, vendor)})
    proc = subprocess.Popen(
        [AIRFLOW, "dags", "test", DAG_ID, "--conf", json.dumps({"source_keys": [source]})],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while state.calls["PUT /v1/profile/indexing"] == 0:
            assert proc.poll() is None and time.monotonic() < deadline, "tagging never started"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    acct = account(sandbox, vendor)
    assert acct.creates == 6
    state.faults.clear()
    from tests.conftest import _latest_run  # noqa: PLC0415 - the shared helper of run_dag

    proc = dags_test(env, DAG_ID, json.dumps({"source_keys": [source]}), warm=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    _, summary = _latest_run(airflow_home, DAG_ID)
    assert summary["resumed"] == 6 and summary["tagged"] == 6
    assert acct.creates == 6 and acct.duplicates() == []
    assert all(len(ids) == 1 for ids in ats_ids(sandbox, source, keys).values())
