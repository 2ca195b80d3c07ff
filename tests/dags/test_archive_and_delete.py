"""
What HrFlow archives or deletes leaves the ATS (`airflow dags test`, full sweeps, the JSON endpoint ignoring
`Idempotency-Key`): exactly the archived and deleted objects are removed, once; a later sweep removes nothing; a
listing that answers 200 with nothing removes nothing; `keep` only reports; the guard stops a mass removal until
confirmed.
"""

from __future__ import annotations

import json

import pytest

from sandbox.connections import alert_connection
from sandbox.objects import make_key

DAG_ID = "hrflow_profiles_to_ats"
ON_CALL = "+33600000009"


def removed(sandbox) -> dict[str, int]:
    return dict(sandbox.state.ats_area("profiles").removed)


def test_archived_and_deleted_profiles_are_removed_once_and_nothing_else(run_dag, sandbox, request):
    state = sandbox.state
    state.honour_idempotency = False
    source = make_key("source", "archive", request.node.name)
    keys = state.seed("profile", source, 40, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    sweep = {"source_keys": [source], "full_sweep": True, "on_archive": "delete"}
    first = run_dag(DAG_ID, sweep)
    assert first.succeeded and first.summary["tagged"] == 40, first.output[-3000:]
    applied = dict(state.ats_area("profiles").applied)

    archived, deleted = keys[:4], keys[10:13]
    for key in archived:
        state.archive("profile", source, key)
    for key in deleted:
        state.delete("profile", source, key)
    keep = run_dag(DAG_ID, {**sweep, "on_archive": "keep"})  # reported, nothing removed
    assert keep.succeeded and sorted(keep.summary["removal"]["kept"]) == sorted(archived + deleted)
    assert removed(sandbox) == {} and keep.summary["posted"] == 0
    assert state.get("profile", source, archived[0])["info"]["email"] not in keep.output

    second = run_dag(DAG_ID, sweep)
    assert second.succeeded, second.output[-3000:]
    assert removed(sandbox) == dict.fromkeys(archived + deleted, 1)  # each once, nothing else
    assert state.ats_area("profiles").removed_how == dict.fromkeys(archived + deleted, "delete")
    removal = second.summary["removal"]
    assert (removal["archived"], removal["deleted"], len(removal["removed"])) == (4, 3, 7)
    assert dict(state.ats_area("profiles").applied) == applied and second.summary["posted"] == 0

    third = run_dag(DAG_ID, sweep)  # removed objects are no longer synced in the ledger: nothing to do
    assert third.succeeded and removed(sandbox) == dict.fromkeys(archived + deleted, 1)

    state.empty_storing_listing = True  # a glitch: 200 with nothing in it
    glitch = run_dag(DAG_ID, sweep)
    state.empty_storing_listing = False
    assert glitch.succeeded, glitch.output[-3000:]
    assert removed(sandbox) == dict.fromkeys(archived + deleted, 1)
    assert "listing glitch" in glitch.output


def test_a_mass_removal_stops_at_the_guard_until_confirmed(run_dag, sandbox, request):
    state = sandbox.state
    source = make_key("source", "guard", request.node.name)
    keys = state.seed("profile", source, 55, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    alert = {"AIRFLOW_CONN_HRFLOW_ALERT": json.dumps(alert_connection(sandbox.url, ON_CALL))}
    sweep = {"source_keys": [source], "full_sweep": True, "on_archive": "delete"}
    assert run_dag(DAG_ID, sweep, env=alert).succeeded
    for key in keys[:51]:  # the smallest flood past the guard of 50
        state.archive("profile", source, key)

    stopped = run_dag(DAG_ID, sweep, env=alert)
    assert not stopped.succeeded and "max_removals_per_run (50)" in stopped.output
    assert removed(sandbox) == {}
    alerts = [b for b in state.sms.bodies if b.get("to") == ON_CALL]
    assert len(alerts) == 1
    again = run_dag(DAG_ID, sweep, env=alert)  # still stopped: logged, no second alert; green, so one recovery
    assert again.succeeded and removed(sandbox) == {}
    texts = [b["text"] for b in state.sms.bodies if b.get("to") == ON_CALL]
    assert len(texts) == 2 and texts[1].startswith(f"[Airflow] {DAG_ID} recovered: run {again.run_id} succeeded")

    confirmed = run_dag(DAG_ID, {**sweep, "confirm_removals": True}, env=alert)
    assert confirmed.succeeded, confirmed.output[-3000:]
    assert removed(sandbox) == dict.fromkeys(keys[:51], 1)
    assert len([b for b in state.sms.bodies if b.get("to") == ON_CALL]) == 2


@pytest.mark.parametrize("name", ["smartrecruiters", "teamtailor"])
def test_removal_through_a_vendor_ats_and_a_404_counts_as_done(run_dag, sandbox, name, request):
    from sandbox.demo import CONNECTIONS

    state = sandbox.state
    source = make_key("source", "vendor-removal", request.node.name)
    keys = state.seed("profile", source, 6, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    env = {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(CONNECTIONS[name](sandbox.url))}
    sweep = {"source_keys": [source], "full_sweep": True, "on_archive": "delete"}
    assert run_dag(DAG_ID, sweep, env=env).succeeded
    account = getattr(state.vendors, name)
    ids = {k: ats_id(state, source, k) for k in keys}
    state.archive("profile", source, keys[0])
    state.delete("profile", source, keys[1])
    state.archive("profile", source, keys[2])
    account.candidates.pop(ids[keys[2]])  # a recruiter deleted it in the ATS already: the DELETE answers 404

    result = run_dag(DAG_ID, sweep, env=env)
    assert result.succeeded, result.output[-3000:]
    assert sorted(account.removed) == sorted([ids[keys[0]], ids[keys[1]]])
    assert sorted(result.summary["removal"]["removed"]) == sorted(
        [[keys[0], "delete"], [keys[1], "delete"], [keys[2], "gone"]]
    )
    assert len(account.candidates) == 3 and account.creates == 6


def ats_id(state, source: str, key: str) -> str:
    return next(t["value"] for t in state.get("profile", source, key)["tags"] if t["name"] == "ats_id").split(":")[1]
