"""
Ashby end to end, against its sandbox emulator (sandbox/ashby.py), under `airflow dags test`.

Ashby does not de-duplicate by email and its create takes no tags: every person already has a candidate of their
own in the account (a job-board application, listed first) and the first create's answer is lost. 30 new
candidates, none a duplicate, none adopted from the person's own; requests paced at the client's rate (Ashby
publishes none); 5 edits in HrFlow sent as updates that write the new values, without notifications; an erasure
request anonymizes our candidate and never the person's own; the API key in no form in any output.
"""

from __future__ import annotations

import base64
import json

from sandbox import ashby
from sandbox.objects import make_key
from sandbox.state import Fault
from tests.dags.test_erasure import erasure_report

DAG_ID = "hrflow_profiles_to_ats"
CREATE = "/ashby/candidate.create"


def person(state, source: str, key: str) -> tuple[str, str, str]:
    info = state.get("profile", source, key)["info"]
    return info["first_name"], info["last_name"], info["email"]


def ats_id(state, source: str, key: str) -> str:
    [remote] = [t["value"] for t in state.get("profile", source, key).get("tags") or [] if t["name"] == "ats_id"]
    assert remote.startswith("ashby:")
    return remote.removeprefix("ashby:")


def key_forms() -> list[str]:
    """Return the API key as it may leak: raw, its Basic credential (key as user, empty password), the header."""
    basic = base64.b64encode(f"{ashby.API_KEY}:".encode()).decode()
    return [ashby.API_KEY, basic, f"Basic {basic}"]


def test_ashby_creates_once_adopts_only_its_own_updates_and_erases(run_dag, sandbox, airflow_home, request):
    state = sandbox.state
    source = make_key("source", "ashby", request.node.name)
    keys = state.seed("profile", source, 30, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    theirs = {key: ashby.stranger(state.vendors, *person(state, source, key)) for key in keys}
    state.faults.append(Fault(path=CREATE, method="POST", lose_response=True))  # the first create's answer
    env = {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(ashby.connection(sandbox.url))}
    conf = {"source_keys": [source], "full_sweep": False}
    account = state.vendors.ashby
    rate = 5  # AshbyHook's pace, requests per second: Ashby publishes no limit for these endpoints

    first = run_dag(DAG_ID, conf, env=env)

    assert first.succeeded, first.output[-3000:]
    assert first.summary["posted"] == 30 and first.summary["tagged"] == 30 and first.summary["failed"] == 0
    assert state.faults_by_kind["lost_answer"] == 1 and "adopted" in first.output
    assert account.creates == 30 and len(account.candidates) == 60 and account.duplicates() == []
    ours = {key: ats_id(state, source, key) for key in keys}
    assert len(set(ours.values())) == 30
    for key in keys:
        assert ours[key] != theirs[key] and ours[key] not in account.strangers  # never the person's own
        links = [link["url"] for link in account.candidates[ours[key]]["socialLinks"]]
        assert links == [f"https://www.hrflow.ai/#hrflow-key:{key}"]  # the marker the create itself carried
        assert account.candidates[ours[key]]["name"] == state.get("profile", source, key)["info"]["full_name"]
    assert account.max_per_window(1.0) <= rate and account.refused_for_rate == 0

    edited = keys[4:9]
    for n, key in enumerate(edited):
        values = {"full_name": f"Renamed Person{n}", "phone": f"+3361234{n:04d}"}
        state.update("profile", source, key, lambda p, v=values: p["info"].update(v))
    second = run_dag(DAG_ID, conf, env=env)

    assert second.succeeded, second.output[-3000:]
    assert second.summary["updated"] == 5 and second.summary["found"] == 0
    assert sorted(account.updates.values()) == [1] * 5 and account.creates == 30
    for n, key in enumerate(edited):
        candidate = account.candidates[ours[key]]
        assert candidate["name"] == f"Renamed Person{n}"
        assert candidate["primaryPhoneNumber"]["value"] == f"+3361234{n:04d}"
        assert candidate["primaryEmailAddress"]["value"] == person(state, source, key)[2]
    assert account.notified == 0  # sendNotifications false: no mail to the candidate's subscribers per edit
    assert account.max_per_window(1.0) <= rate

    erased = keys[:2]
    third = run_dag("hrflow_erasure", {"source_key": source, "profile_keys": erased}, env=env)

    assert third.succeeded, third.output[-3000:]
    report = erasure_report(airflow_home, third.run_id)
    assert sorted(report["removed"]) == sorted(erased) and report["failed"] == report["not_supported"] == []
    assert account.removed == {ours[key]: "delete" for key in erased}  # anonymized: exactly ours
    assert all(ours[key] not in account.candidates for key in erased)
    assert all(theirs[key] in account.candidates for key in keys)  # the person's own never touched
    assert len(account.candidates) == 58

    for result in (first, second, third):
        assert [form for form in key_forms() if form in result.output] == []
        assert "Renamed" not in result.output
        assert not any(person(state, source, key)[2] in result.output for key in keys)
