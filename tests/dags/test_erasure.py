"""
An erasure request end to end (`airflow dags test hrflow_erasure`, SmartRecruiters' emulator): each profile's
candidate is deleted, Airflow's copies (the sealed batch files a failed run kept) are forgotten, no name or email
is left in the Airflow home, and a later full sweep never creates the candidates again.
"""

from __future__ import annotations

import json

from sandbox.objects import make_key
from sandbox.state import Fault
from sandbox.vendors import smartrecruiters_connection


def files_holding(root, needles: list[str]) -> list[str]:
    """Return the files under ``root`` whose bytes contain one of ``needles``."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(needle.encode() in data for needle in needles):
                found.append(str(path.relative_to(root)))
    return found


def test_an_erasure_request_deletes_forgets_and_leaves_a_tombstone(run_dag, sandbox, airflow_home, request):
    state = sandbox.state
    source = make_key("source", "erasure", request.node.name)
    keys = state.seed("profile", source, 6, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    env = {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(smartrecruiters_connection(sandbox.url))}
    state.faults.append(
        Fault(path="/v1/profile/indexing", method="PUT", status=400, times=10, match_key=keys[5], reason="refused")
    )
    sync = {"source_keys": [source], "full_sweep": True}
    first = run_dag("hrflow_profiles_to_ats", sync, env=env)  # fails on one tag: keeps its sealed batch files
    assert not first.succeeded and first.summary["tagged"] == 5
    account = state.vendors.smartrecruiters
    erased = keys[:3]
    people = [state.get("profile", source, k)["info"] for k in erased]
    batches = airflow_home / "xcom" / "hrflow_batches"
    assert files_holding(batches, erased)  # the failed run's sealed batch files carry them

    unknown = make_key("never", "synced")
    result = run_dag("hrflow_erasure", {"source_key": source, "profile_keys": [*erased, unknown]}, env=env)
    assert result.succeeded, result.output[-3000:]
    assert sorted(account.removed) == sorted(
        next(t["value"] for t in state.get("profile", source, k)["tags"] if t["name"] == "ats_id").split(":", 1)[1]
        for k in erased
    )
    assert len(account.candidates) == 3 and '"not_found": 1' not in result.output
    assert files_holding(batches, erased) == []  # forgotten (XComs of earlier runs hold their keys, no data)
    needles = [p["email"] for p in people] + [p["phone"] for p in people]
    assert files_holding(airflow_home, needles) == [] and not any(n in result.output for n in needles)

    state.faults.clear()  # a re-import: the first erased profile loses its sync tag in HrFlow
    state.update("profile", source, erased[0], lambda p: p.update(tags=[]))
    again = run_dag("hrflow_profiles_to_ats", sync, env=env)
    assert again.succeeded, again.output[-3000:]
    assert account.creates == 6 and len(account.candidates) == 3  # nothing created again
    assert any(f["key"] == erased[0] and "erased" in f["reason"] for f in again.summary["quarantined_keys"])
