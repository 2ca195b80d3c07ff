"""
hrflow_profiles_to_ats into Recruitee (the ATS API), against its sandbox emulator (sandbox/recruitee.py), under
`airflow dags test`: 30 profiles with the first create's answer lost (30 candidates, none twice, none refused for
rate, paced at the limit), a second run that creates nothing, 5 edits sent as updates, then 3 profiles archived in
HrFlow deleted by a full sweep with ``on_archive=delete`` (Recruitee has no candidate archive). The personal API
token appears in no output, raw or as its ``Bearer`` header.
"""

from __future__ import annotations

import json

from sandbox import recruitee
from sandbox.objects import make_key
from sandbox.state import Fault

DAG_ID = "hrflow_profiles_to_ats"


def ats_id(state, source: str, key: str) -> list[str]:
    return [t["value"] for t in state.get("profile", source, key).get("tags") or [] if t["name"] == "ats_id"]


def test_created_once_after_a_lost_answer_updated_then_deleted(run_dag, sandbox, request):
    state = sandbox.state
    source = make_key("source", "recruitee", request.node.name)
    keys = state.seed("profile", source, 30, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    state.faults.append(Fault(path=recruitee.CANDIDATES, method="POST", lose_response=True))  # the first answer
    env = {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(recruitee.connection(sandbox.url))}
    conf = {"source_keys": [source], "full_sweep": False}
    account = state.vendors.recruitee

    first = run_dag(DAG_ID, conf, env=env)
    assert first.succeeded, first.output[-3000:]
    assert first.summary["posted"] == 30 and first.summary["tagged"] == 30 and first.summary["failed"] == 0
    assert state.faults_by_kind["lost_answer"] == 1 and "adopted" in first.output
    assert account.creates == 30 and len(account.candidates) == 30 and account.duplicates() == []
    remotes = {}
    for key in keys:
        [remote] = ats_id(state, source, key)  # written back once, with sync=1
        assert remote.startswith("recruitee:")
        remotes[key] = remote.removeprefix("recruitee:")
        candidate, info = account.candidates[remotes[key]], state.get("profile", source, key)["info"]
        assert candidate["name"] == info["full_name"] and candidate["emails"] == [info["email"]]
        assert candidate["phones"] == [info["phone"]]
        assert candidate["sources"] == ["HrFlow.ai", f"hrflow-key:{key}"]  # the marker, set by the create
    assert account.requests["GET /search/new/candidates"] >= 1  # the lost answer was looked up, then adopted

    second = run_dag(DAG_ID, conf, env=env)
    assert second.succeeded and second.summary["found"] == 0 and account.creates == 30

    edited = keys[4:9]
    for n, key in enumerate(edited):
        values = {"last_name": f"Renamed{n}", "phone": f"+3361234{n:04d}"}
        state.update("profile", source, key, lambda p, v=values: p["info"].update(v, full_name=f"X {v['last_name']}"))
    third = run_dag(DAG_ID, conf, env=env)
    assert third.succeeded, third.output[-3000:]
    assert third.summary["updated"] == 5 and third.summary["found"] == 0
    assert sorted(account.updates.values()) == [1] * 5 and account.creates == 30
    for n, key in enumerate(edited):
        candidate = account.candidates[remotes[key]]
        assert candidate["name"] == f"X Renamed{n}" and candidate["phones"] == [f"+3361234{n:04d}"]

    archived = keys[:3]
    for key in archived:
        state.archive("profile", source, key)
    fourth = run_dag(DAG_ID, {**conf, "full_sweep": True, "on_archive": "delete"}, env=env)
    assert fourth.succeeded, fourth.output[-3000:]
    assert account.removed == {remotes[key]: "delete" for key in archived}  # exactly the 3, deleted
    assert sorted(fourth.summary["removal"]["removed"]) == sorted([key, "delete"] for key in archived)
    assert len(account.candidates) == 27 and account.creates == 30

    assert account.refused_for_rate == 0  # paced at the limit: none refused for rate
    assert account.max_per_window(recruitee.INTERVAL) <= recruitee.LIMIT
    for result in (first, second, third, fourth):
        for form in (recruitee.API_TOKEN, f"Bearer {recruitee.API_TOKEN}"):
            assert form not in result.output
        assert "Renamed" not in result.output
        assert state.get("profile", source, keys[0])["info"]["email"] not in result.output
