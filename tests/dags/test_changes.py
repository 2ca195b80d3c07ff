"""
Edits made in HrFlow after the sync reach the ATS once, over repeated real runs (`airflow dags test`): only the
edited objects are sent, as updates, with their new values; unchanged objects and our own tagging send nothing;
a lost update answer and its retry leave one candidate holding the current values.
"""

from __future__ import annotations

import configparser
import json

import pytest

from hrflow_airflow.hooks.api_key import AtsHook
from hrflow_airflow.ledger import Ledger
from hrflow_airflow.mapping import idempotency_key
from hrflow_airflow.objects import PROFILE
from hrflow_airflow.sealed import record_hash
from sandbox.objects import make_key
from sandbox.smartrecruiters import smartrecruiters_connection
from sandbox.state import Fault
from sandbox.workable import workable_connection

DAG_ID = "hrflow_profiles_to_ats"
# destination -> (connection env, profiles, edited)
DESTINATIONS = {
    "json": (lambda url: {}, 60, 10),
    "smartrecruiters": (lambda url: {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(smartrecruiters_connection(url))}, 30, 10),
    "workable": (lambda url: {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(workable_connection(url, oauth=True))}, 8, 3),
}
LOST_UPDATE = {  # where an update's answer is lost: the JSON endpoint's upsert POST, SmartRecruiters' PATCH
    "json": Fault(path="/ats/profiles", method="POST", lose_response=True),
    "smartrecruiters": Fault(path="/smartrecruiters/candidates/", method="PATCH", lose_response=True),
}


def held_by_ats(state, name: str, key: str) -> dict:
    """Return the ATS's current copy of profile ``key``: its last name and phone."""
    if name == "json":
        record = state.ats_area("profiles").current[key]
        return {"last_name": record["last_name"], "phone": record["phone"]}
    profile = next(p for c in state.objects["profile"].values() for k, p in c.items() if k == key)
    remote = next(t["value"] for t in profile["tags"] if t["name"] == "ats_id").split(":", 1)[1]
    candidate = getattr(state.vendors, name).candidates[remote]
    return {
        "last_name": candidate.get("lastName") or candidate.get("lastname"),
        "phone": candidate.get("phoneNumber") or candidate.get("phone"),
    }


def updates_at(state, name: str) -> dict[str, int]:
    """Return how many updates the ATS applied, per profile key (JSON) or candidate id (vendors)."""
    if name == "json":
        return dict(state.ats_area("profiles").updates)
    return dict(getattr(state.vendors, name).updates)


def candidates_at(state, name: str) -> int:
    if name == "json":
        return len(state.ats_area("profiles").applied)
    return len(getattr(state.vendors, name).candidates)


def rename(state, source: str, key: str, n: int, **fields: str) -> None:
    values = {"last_name": f"Renamed{n}", "phone": f"+3361234{n:04d}", **fields}
    state.update("profile", source, key, lambda p: p["info"].update(values))


@pytest.mark.parametrize("name", list(DESTINATIONS))
def test_edits_after_the_sync_reach_the_ats_once_and_tagging_alone_sends_nothing(run_dag, sandbox, name, request):
    state = sandbox.state
    connection, count, edited_count = DESTINATIONS[name]
    source = make_key("source", "changes", request.node.name)
    keys = state.seed("profile", source, count, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    conf = {"source_keys": [source], "full_sweep": False}

    def run(extra: dict | None = None, env: dict | None = None):
        result = run_dag(DAG_ID, {**conf, **(extra or {})}, env={**connection(sandbox.url), **(env or {})})
        assert result.succeeded, result.output[-3000:]
        return result

    first = run()  # a new deployment: every profile created and tagged, nothing to compare
    assert first.summary["tagged"] == count and first.summary["updated"] == 0
    assert first.summary["changes"]["mode"] == "baseline" and first.summary["changes"]["baselined"] == 0

    edited = keys[3 : 3 + edited_count]
    for n, key in enumerate(edited):
        rename(state, source, key, n)
    if name == "json":  # updates off: only new objects are sent, the edits wait
        off = run({"updates": False})
        assert off.summary["updated"] == 0 and off.summary["changes"] is None and updates_at(state, name) == {}

    second = run()
    assert second.summary["found"] == 0 and second.summary["changes"]["mode"] == "changes"
    assert second.summary["updated"] == edited_count and second.summary["changes"]["changed"] == edited_count
    assert sorted(updates_at(state, name).values()) == [1] * edited_count  # each edited candidate once
    assert candidates_at(state, name) == count  # updated, never created again
    for n, key in enumerate(edited):
        assert held_by_ats(state, name, key) == {"last_name": f"Renamed{n}", "phone": f"+3361234{n:04d}"}
    if name == "json":
        assert set(updates_at(state, name)) == set(edited)
    assert "Renamed" not in second.output  # the new values are candidate data: not in the logs

    if name not in LOST_UPDATE:
        return
    # a full sweep compares every synced profile (all were tagged by us): only the one edited since is sent;
    # its answer is lost and the endpoint ignores Idempotency-Key, so it is applied twice, with the same values
    state.honour_idempotency = False
    rename(state, source, keys[0], 99)
    state.faults.append(LOST_UPDATE[name])
    env = {"AIRFLOW__HRFLOW__UPDATE_FIELDS": "phone"} if name == "json" else {}  # json: only the phone is ours
    third = run({"full_sweep": True}, env)
    assert third.summary["changes"]["mode"] == "sweep" and third.summary["changes"]["changed"] == 1
    assert third.summary["updated"] == 1 and state.faults_by_kind["lost_answer"] == 1
    assert candidates_at(state, name) == count and sum(updates_at(state, name).values()) == edited_count + 2
    held = held_by_ats(state, name, keys[0])
    assert held["phone"] == "+33612340099"
    assert held["last_name"] == ("Renamed99" if name != "json" else state_name(state, name, keys[0]))


def state_name(state, name: str, key: str) -> str:
    """Return the last name the ATS got when the profile was created (an update limited to the phone keeps it)."""
    created = [r for body in state.ats_area("profiles").bodies for r in body["profiles"] if r["hrflow_key"] == key]
    assert created and created[0]["last_name"] != "Renamed99"
    return created[0]["last_name"]


def test_a_request_left_without_answer_is_sent_again_whole_by_a_later_run_cut_differently(
    run_dag, sandbox, airflow_home, monkeypatch, request
):
    """An endpoint that honours Idempotency-Key applies each profile once although the next run cuts by 3."""
    state = sandbox.state
    state.honour_idempotency = True  # the JSON wire format's replay
    source = make_key("source", "intent-group", request.node.name)
    keys = state.seed("profile", source, 7, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    # what a first run leaves when its first batch (4 profiles) was applied and its answer never came
    home = configparser.ConfigParser(interpolation=None)
    home.read(airflow_home / "airflow.cfg")
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", home["core"]["fernet_key"])  # the run's record hashes
    ledger = {"conn_type": "sqlite", "host": str(airflow_home / "hrflow_ledger.db")}  # the run's ledger file
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps(ledger))
    records = [PROFILE.record(k, state.get("profile", source, k), PROFILE.default_field_map) for k in keys[:4]]
    group_key = idempotency_key("profiles", records)
    Ledger().deliveries.record_intent(
        "ats_default",
        [(k, source) for k in keys[:4]],
        group_key=group_key,
        hashes={r["hrflow_key"]: record_hash(r) for r in records},
    )
    AtsHook(ats_conn_id="ats_default").post_records("profiles", records, idempotency_key=group_key)

    result = run_dag(DAG_ID, {"source_keys": [source], "full_sweep": False, "batch_size": 3})
    assert result.succeeded, result.output[-3000:]
    area = state.ats_area("profiles")
    assert sorted(area.applied.values()) == [1] * 7 and area.replays == 1 and area.updates == {}
    assert f"sent again as that request ({group_key})" in result.output
    assert result.summary["tagged"] == 7


def test_a_fernet_key_rotation_makes_no_unchanged_record_look_changed(run_dag, sandbox, airflow_home, request):
    """The runbook's rotation (new,old, `airflow rotate-fernet-key`), then dropping the old key: only real edits go."""
    import subprocess

    from cryptography.fernet import Fernet

    from sandbox.airflow_home import AIRFLOW, airflow_env

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    state = sandbox.state
    source = make_key("source", "rotation", request.node.name)
    keys = state.seed("profile", source, 60, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)

    def run(fernet_key: str, **extra):
        env = {"AIRFLOW__CORE__FERNET_KEY": fernet_key}
        result = run_dag(DAG_ID, {"source_keys": [source], "full_sweep": True, **extra}, env=env)
        assert result.succeeded, result.output[-3000:]
        return result

    assert run(old).summary["tagged"] == 60
    rotation = airflow_env(airflow_home, {**sandbox.airflow_env(), "AIRFLOW__CORE__FERNET_KEY": f"{new},{old}"})
    subprocess.run([AIRFLOW, "rotate-fernet-key"], env=rotation, check=True, capture_output=True, timeout=300)

    rotated = run(f"{new},{old}")
    assert rotated.summary["changes"]["mode"] == "sweep" and rotated.summary["changes"]["changed"] == 0
    assert rotated.summary["updated"] == 0 and updates_at(state, "json") == {}

    for n, key in enumerate(keys[:3]):
        rename(state, source, key, n)
    dropped = run(new)  # the old key is gone: the ledger's record-hash key was re-sealed under the new one
    assert dropped.summary["changes"]["changed"] == 3 and dropped.summary["updated"] == 3
    assert updates_at(state, "json") == {key: 1 for key in keys[:3]}
    assert candidates_at(state, "json") == 60
