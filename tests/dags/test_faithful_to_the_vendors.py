"""
Guarantees shown against ATS accounts that behave like real ones, under `airflow dags test`:

* Lever: every person already has an opportunity of their own (another source, listed first); the first create's
  answer is lost; then 4 profiles are archived in HrFlow with ``on_archive=archive``. 30 new opportunities, none
  linked to an earlier one, exactly the 4 new ones archived, no earlier one touched.
* SmartRecruiters: candidate search lags 30 s behind creates and the first create's answer is lost; a second run
  follows once the index caught up. 0 duplicates, 0 missing; the first run stays green.
"""

from __future__ import annotations

import json

from sandbox import lever
from sandbox.objects import make_key
from sandbox.smartrecruiters import smartrecruiters_connection
from sandbox.state import Fault

DAG_ID = "hrflow_profiles_to_ats"


def person(state, source: str, key: str) -> tuple[str, str, str]:
    info = state.get("profile", source, key)["info"]
    return info["first_name"], info["last_name"], info["email"]


def test_lever_adopts_only_its_own_opportunity_and_archives_only_those(run_dag, sandbox, request):
    state = sandbox.state
    source = make_key("source", "lever-strangers", request.node.name)
    keys = state.seed("profile", source, 30, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    theirs = {key: lever.stranger(state.vendors, *person(state, source, key)) for key in keys}
    state.faults.append(Fault(path="/lever/v1/opportunities", method="POST", lose_response=True))
    env = {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(lever.connection(sandbox.url))}
    conf = {"source_keys": [source], "full_sweep": True, "on_archive": "archive"}
    account = state.vendors.lever

    first = run_dag(DAG_ID, conf, env=env)

    assert first.succeeded, first.output[-3000:]
    assert first.summary["tagged"] == 30 and state.faults_by_kind["lost_answer"] == 1
    assert account.creates == 30 and len(account.candidates) == 60 and account.duplicates() == []
    ours = {}
    for key in keys:
        [remote] = [t["value"] for t in state.get("profile", source, key)["tags"] if t["name"] == "ats_id"]
        ours[key] = remote.removeprefix("lever:").partition("/")[0]
        assert ours[key] != theirs[key] and ours[key] not in account.strangers  # never someone's application
        assert f"hrflow-key:{key}" in account.candidates[ours[key]]["tags"]

    archived = keys[:4]
    for key in archived:
        state.archive("profile", source, key)
    second = run_dag(DAG_ID, conf, env=env)

    assert second.succeeded, second.output[-3000:]
    assert account.removed == {ours[key]: "archive" for key in archived}  # exactly the 4 we made
    assert all("archived" not in account.candidates[theirs[key]] for key in keys)  # no earlier one touched
    assert account.creates == 30


def test_smartrecruiters_behind_a_lagging_search_creates_nothing_twice(run_dag, sandbox, request):
    state = sandbox.state
    source = make_key("source", "sr-lag", request.node.name)
    keys = state.seed("profile", source, 40, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    account = state.vendors.smartrecruiters
    account.lookup_lag = 30.0  # candidate search shows a new candidate 30 s after its create
    state.faults.append(Fault(path="/smartrecruiters/candidates", method="POST", lose_response=True))
    env = {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(smartrecruiters_connection(sandbox.url))}
    conf = {"source_keys": [source], "full_sweep": False}

    first = run_dag(DAG_ID, conf, env=env)

    assert first.succeeded, first.output[-3000:]  # the lost answer is not a failure yet
    assert first.summary["tagged"] == 39 and first.summary["unknown"] == 1 and first.summary["failed"] == 0
    [unknown] = first.summary["unknown_keys"]
    assert account.creates == 40 and account.duplicates() == []

    account.catch_up(30.0)  # the index caught up (an injected clock, not a 30 s wait)
    second = run_dag(DAG_ID, conf, env=env)

    assert second.succeeded, second.output[-3000:]
    assert second.summary["tagged"] == 1 and second.summary.get("unknown", 0) == 0 and "adopted" in second.output
    assert account.creates == 40 and len(account.candidates) == 40 and account.duplicates() == []  # 0 duplicates
    synced = [k for k in keys if any(t["name"] == "sync" for t in state.get("profile", source, k)["tags"])]
    assert sorted(synced) == sorted(keys) and unknown in synced  # 0 missing
