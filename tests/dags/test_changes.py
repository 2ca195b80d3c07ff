"""
Edits made in HrFlow after the sync reach the ATS once, over repeated real runs (`airflow dags test`): only the
edited objects are sent, as updates, with their new values; unchanged objects and our own tagging send nothing.
"""

from __future__ import annotations

import json

import pytest

from sandbox.server import Fault, make_key
from sandbox.vendors import smartrecruiters_connection, workable_connection

DAG_ID = "hrflow_profiles_to_ats"
# destination -> (connection env, profiles, edited, where its updates are counted)
DESTINATIONS = {
    "json": (lambda url: {}, 60, 10),
    "smartrecruiters": (lambda url: {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(smartrecruiters_connection(url))}, 30, 10),
    "workable": (
        lambda url: {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(workable_connection(url, oauth=True))},
        8,
        3,
    ),
}


def held_by_ats(state, name: str, key: str) -> dict:
    """Return the ATS's current copy of profile ``key``, in the sync's record field names."""
    if name == "json":
        return state.ats_area("profiles").current[key]
    profile = next(p for c in state.objects["profile"].values() for k, p in c.items() if k == key)
    remote = next(t["value"] for t in profile["tags"] if t["name"] == "ats_id").split(":", 1)[1]
    account = getattr(state.vendors, name)
    candidate = account.candidates[remote]
    last = candidate.get("lastName") or candidate.get("lastname")
    return {"last_name": last, "phone": candidate.get("phoneNumber") or candidate.get("phone")}


def updates_at(state, name: str) -> dict[str, int]:
    """Return how many updates the ATS applied, per profile key (JSON) or candidate id (vendors)."""
    if name == "json":
        return dict(state.ats_area("profiles").updates)
    return dict(getattr(state.vendors, name).updates)


def candidates_at(state, name: str) -> int:
    if name == "json":
        return len(state.ats_area("profiles").applied)
    return len(getattr(state.vendors, name).candidates)


@pytest.mark.parametrize("name", list(DESTINATIONS))
def test_edits_after_the_sync_reach_the_ats_once_and_tagging_alone_sends_nothing(run_dag, sandbox, name, request):
    state = sandbox.state
    connection, count, edited_count = DESTINATIONS[name]
    source = make_key("source", "changes", request.node.name)
    keys = state.seed("profile", source, count, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    conf = {"source_keys": [source], "full_sweep": False}

    def run():
        result = run_dag(DAG_ID, conf, env=connection(sandbox.url))
        assert result.succeeded, result.output[-3000:]
        return result

    first = run()  # a new deployment: every profile created and tagged, nothing compared
    assert first.summary["tagged"] == count and first.summary["updated"] == 0
    assert first.summary["changes"]["mode"] == "baseline" and first.summary["changes"]["baselined"] == 0

    second = run()  # only our own tagging PUTs since: nothing sent
    assert second.summary["found"] == 0 and second.summary["updated"] == 0
    assert second.summary["changes"]["mode"] == "changes" and second.summary["changes"]["changed"] == 0
    assert updates_at(state, name) == {}

    edited = keys[3 : 3 + edited_count]
    for n, key in enumerate(edited):
        state.update(
            "profile", source, key, lambda p, n=n: p["info"].update(last_name=f"Renamed{n}", phone=f"+3361234{n:04d}")
        )
    third = run()
    assert third.summary["updated"] == edited_count and third.summary["found"] == 0
    assert third.summary["changes"]["changed"] == edited_count
    assert sorted(updates_at(state, name).values()) == [1] * edited_count  # each edited candidate once
    assert candidates_at(state, name) == count  # updated, never created again
    for n, key in enumerate(edited):
        held = held_by_ats(state, name, key)
        assert held["last_name"] == f"Renamed{n}" and held["phone"] == f"+3361234{n:04d}"
    if name == "json":
        assert set(updates_at(state, name)) == set(edited)
    assert "Renamed" not in third.output  # the new values are candidate data: not in the logs

    fourth = run()  # nothing changed since: nothing sent
    assert fourth.summary["updated"] == 0 and sum(updates_at(state, name).values()) == edited_count


@pytest.mark.parametrize("name", ["json", "smartrecruiters"])
def test_a_lost_update_answer_and_its_retry_leave_one_candidate_with_the_current_values(
    run_dag, sandbox, name, request
):
    state = sandbox.state
    connection, _, _ = DESTINATIONS[name]
    source = make_key("source", "lost-update", request.node.name)
    keys = state.seed("profile", source, 5, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    conf = {"source_keys": [source], "full_sweep": False}
    assert run_dag(DAG_ID, conf, env=connection(sandbox.url)).succeeded
    state.honour_idempotency = False  # the JSON endpoint ignores Idempotency-Key: the update is sent twice
    state.update("profile", source, keys[0], lambda p: p["info"].update(last_name="Current"))
    path = "/ats/profiles" if name == "json" else "/smartrecruiters/candidates/"
    state.faults.append(Fault(path=path, method="POST" if name == "json" else "PATCH", lose_response=True))

    result = run_dag(DAG_ID, conf, env=connection(sandbox.url))
    assert result.succeeded, result.output[-3000:]
    assert result.summary["updated"] == 1 and state.faults_by_kind["lost_answer"] == 1
    assert candidates_at(state, name) == 5  # one candidate per profile
    assert held_by_ats(state, name, keys[0])["last_name"] == "Current"
    assert sum(updates_at(state, name).values()) == 2  # applied, answer lost, sent again: same values


def test_updates_off_sends_only_new_objects_and_update_fields_limits_what_is_overwritten(run_dag, sandbox, request):
    state = sandbox.state
    source = make_key("source", "policy", request.node.name)
    keys = state.seed("profile", source, 4, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    conf = {"source_keys": [source], "full_sweep": False}
    assert run_dag(DAG_ID, conf).succeeded
    state.update("profile", source, keys[0], lambda p: p["info"].update(last_name="Edited", phone="+33699999999"))

    off = run_dag(DAG_ID, {**conf, "updates": False})
    assert off.succeeded and off.summary["updated"] == 0 and off.summary["changes"] is None
    assert state.ats_area("profiles").updates == {}

    on = run_dag(DAG_ID, conf, env={"AIRFLOW__HRFLOW__UPDATE_FIELDS": "phone"})
    assert on.succeeded and on.summary["updated"] == 1
    held = state.ats_area("profiles").current[keys[0]]
    assert held["phone"] == "+33699999999" and held["last_name"] != "Edited"  # recruiters own the name here

    bad = run_dag(DAG_ID, conf, env={"AIRFLOW__HRFLOW__UPDATE_FIELDS": "phone,salary"})
    assert not bad.succeeded and "update_fields names salary" in bad.output
