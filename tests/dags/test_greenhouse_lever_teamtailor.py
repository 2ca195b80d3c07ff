"""
hrflow_profiles_to_ats into Greenhouse (Harvest v3), Lever and Teamtailor, each against its sandbox emulator
(sandbox/greenhouse.py, lever.py, teamtailor.py), under `airflow dags test`: one candidate (Lever: opportunity)
per profile with the first create's answer lost, none refused for rate, the ATS id written back, a second run that
creates nothing, edits sent once as updates, and the credential in no log. Greenhouse's token expires mid-run.
"""

from __future__ import annotations

import json

import pytest

from sandbox import greenhouse, lever, teamtailor
from sandbox.objects import make_key
from sandbox.state import Fault

DAG_ID = "hrflow_profiles_to_ats"
# name -> (connection, create path, credential that must never be logged)
VENDORS = {
    "greenhouse": (greenhouse.connection, "/greenhouse/v3/candidates", greenhouse.CLIENT_SECRET),
    "lever": (lever.connection, "/lever/v1/opportunities", lever.API_KEY),
    "teamtailor": (teamtailor.connection, "/teamtailor/v1/candidates", teamtailor.API_KEY),
}


def held(state, name: str, remote: str) -> dict[str, str]:
    """Return the ATS's current name (Lever: the full name) and phone of ``remote`` (the id after ``<name>:``)."""
    account = getattr(state.vendors, name)
    if name == "greenhouse":
        c = account.candidates[remote]
        return {"last_name": c["last_name"], "phone": c["phone_numbers"][0]["value"]}
    if name == "lever":
        opportunity_id, contact_id = remote.split("/")
        assert account.candidates[opportunity_id]["contact"] == contact_id
        contact = state.vendors.lever.contacts[contact_id]
        return {"last_name": contact["name"], "phone": contact["phones"][0]["value"]}
    attributes = account.candidates[remote]["attributes"]
    return {"last_name": attributes["last-name"], "phone": attributes["phone"]}


def ats_id(state, source: str, key: str) -> list[str]:
    return [t["value"] for t in state.get("profile", source, key).get("tags") or [] if t["name"] == "ats_id"]


@pytest.mark.parametrize("name", list(VENDORS))
def test_created_once_after_a_lost_answer_then_nothing_then_edits_as_updates(run_dag, sandbox, name, request):
    connection, create_path, secret = VENDORS[name]
    state = sandbox.state
    source = make_key("source", "ats3", request.node.name)
    keys = state.seed("profile", source, 30, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    state.faults.append(Fault(path=create_path, method="POST", lose_response=True))  # the first create's answer
    if name == "greenhouse":
        state.vendors.greenhouse.token_life = 2.0  # expires during the run: renewed (a tenth of its life early)
        state.latency["ats"] = 0.2  # 30 creates, two at a time: about 3 s
    env = {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(connection(sandbox.url))}
    conf = {"source_keys": [source], "full_sweep": False}
    account = getattr(state.vendors, name)

    first = run_dag(DAG_ID, conf, env=env)
    assert first.succeeded, first.output[-3000:]
    assert first.summary["posted"] == 30 and first.summary["tagged"] == 30 and first.summary["failed"] == 0
    assert state.faults_by_kind["lost_answer"] == 1 and "adopted" in first.output
    assert account.creates == 30 and len(account.candidates) == 30 and account.duplicates() == []
    assert account.refused_for_rate == 0
    remotes = {}
    for key in keys:
        [remote] = ats_id(state, source, key)  # written back once, with sync=1
        assert remote.startswith(f"{name}:")
        remotes[key] = remote.split(":", 1)[1]
        info = state.get("profile", source, key)["info"]
        last = info["full_name"] if name == "lever" else info["last_name"]  # Lever has one name field
        assert held(state, name, remotes[key]) == {"last_name": last, "phone": info["phone"]}
        assert [t["value"] for t in state.get("profile", source, key)["tags"] if t["name"] == "sync"] == ["1"]
    if name == "greenhouse":
        assert account.requests["POST /token"] >= 2 and "new access token" in first.output

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
        last = f"X Renamed{n}" if name == "lever" else f"Renamed{n}"
        assert held(state, name, remotes[key]) == {"last_name": last, "phone": f"+3361234{n:04d}"}
    for result in (first, second, third):
        assert secret not in result.output and "Renamed" not in result.output
        assert state.get("profile", source, keys[0])["info"]["email"] not in result.output
    assert account.refused_for_rate == 0
