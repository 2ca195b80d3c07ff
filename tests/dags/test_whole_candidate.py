"""
The whole candidate end to end under ``airflow dags test``, for the JSON endpoint and for a vendor that takes the
CV's URL (Workable; tests/dags/test_whole_candidate_lever.py does one that takes the bytes). Six profiles: two
applied to job-1, one to job-1 and job-2, one to a job the ATS does not know, one whose CV cannot be fetched and
one whose CV is 15 MB. Then a second run that sends nothing but the CV that became reachable, and a third after a
CV is replaced in HrFlow. The CVs' byte marker is found nowhere under the Airflow home, the temp directory or
the logs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox import workable
from sandbox.files import MARKER
from sandbox.objects import make_key

DAG_ID = "hrflow_profiles_to_ats"
APPLIED = {0: ["job-1"], 1: ["job-1"], 2: ["job-1", "job-2"], 3: ["job-404"]}


def applied_to(state, source: str, key: str, jobs: list[str]) -> None:
    tags = [{"name": "application_boardKey_jobReference", "value": f"board1_{job}"} for job in jobs]
    state.update("profile", source, key, lambda p: p.update(tags=[*(p.get("tags") or []), *tags]))


def held(name: str, state) -> tuple[dict[str, int], dict[str, list[str]], dict[str, str]]:
    """Return the CVs per email, the jobs per email and the CV URL per email the destination holds."""
    if name == "json":
        records = list(state.ats_area("profiles").current.values())
        cvs = {r["email"]: 1 for r in records if r.get("resume")}
        jobs = {r["email"]: sorted(a["ats_job_id"] for a in r["applications"]) for r in records if r["applications"]}
        return cvs, jobs, {r["email"]: r["resume"]["url"] for r in records if r.get("resume")}
    account = state.vendors.workable
    urls = {account.record_email(rid): files[-1]["url"] for rid, files in account.files.items() if files}
    return account.cvs_by_email(), account.jobs_by_email(), urls


def found_marker(*roots: Path, text: str = "") -> list[str]:
    """Return the files under ``roots`` (and the output ``text``) that hold the CVs' byte marker."""
    hits = [str(p) for root in roots for p in root.rglob("*") if p.is_file() and MARKER in p.read_bytes()]
    return hits + (["the run's output"] if MARKER.decode() in text else [])


@pytest.mark.parametrize("name", ["json", "workable"])
def test_cv_and_jobs_reach_the_ats_once(name, run_dag, sandbox, request, airflow_home, tmp_path):
    state = sandbox.state
    source = make_key("source", "whole", request.node.name)
    keys = state.seed("profile", source, 6, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    for i, jobs in APPLIED.items():
        applied_to(state, source, keys[i], jobs)
    state.cv_files.missing.add(keys[4])
    state.cv_files.sizes[keys[5]] = 15_000_000
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"TMPDIR": str(temp)}
    if name == "workable":
        # an OAuth token (50 requests / 10 s, as the demo): the whole candidate is the subject here, the account
        # token's 10 / 10 s pacing is tests/plugins/hrflow_airflow/destinations/test_candidate_api.py's
        env["AIRFLOW_CONN_ATS_DEFAULT"] = json.dumps(workable.workable_connection(sandbox.url, oauth=True))
    conf = {"source_keys": [source], "full_sweep": False}
    emails = [state.get("profile", source, key)["info"]["email"] for key in keys]

    first = run_dag(DAG_ID, conf, env=env)
    assert first.succeeded, first.output[-3000:]  # isolated CVs and an unknown job leave the run green
    summary = first.summary
    assert summary["posted"] == 6 and summary["failed"] == 0 and summary["cvs"] == 4
    isolated = {entry["key"]: entry["reason"] for entry in summary["cv_isolated"]}
    assert set(isolated) == {keys[4], keys[5]} and "HTTP 404" in isolated[keys[4]]
    assert "15.0 MB, over the cap of 10 MB ([hrflow] max_cv_mb)" in isolated[keys[5]]
    cvs, jobs, _ = held(name, state)
    assert set(cvs) == set(emails[:4])  # each candidate whose CV could go carries it
    expected_jobs = {emails[0]: ["job-1"], emails[1]: ["job-1"], emails[2]: ["job-1", "job-2"]}
    if name == "json":  # the endpoint takes the references as they are
        assert jobs == {**expected_jobs, emails[3]: ["job-404"]}
    else:  # Workable: one candidate per job; the unknown job counted, its candidate created without it
        assert jobs == expected_jobs and summary["unknown_jobs"] == ["job-404"]
        assert set(state.vendors.workable.by_email(emails[3])[0]) and summary["applications"] == 4
    fetched = dict(state.cv_files.fetches)

    state.cv_files.missing.clear()  # the CV that could not be fetched is back
    second = run_dag(DAG_ID, conf, env=env)
    assert second.succeeded, second.output[-3000:]
    assert second.summary["found"] == 0 and second.summary["cvs"] == 1
    # the 15 MB CV, read again with the other, is still over the cap: isolated again, with the same clear reason
    again = {entry["key"]: entry["reason"] for entry in second.summary["cv_isolated"]}
    assert set(again) == {keys[5]} and "15.0 MB, over the cap of 10 MB ([hrflow] max_cv_mb)" in again[keys[5]]
    cvs_now = held(name, state)[0]
    assert cvs_now == {**cvs, emails[4]: 1}  # only the CV that became reachable went; nothing else again
    assert all(state.cv_files.fetches[key] == fetched.get(key, 0) for key in keys[:4])  # not even fetched again

    state.replace_cv(source, keys[0])
    third = run_dag(DAG_ID, conf, env=env)
    assert third.succeeded, third.output[-3000:]
    assert third.summary["updated"] >= 1 and third.summary["cvs"] == 1
    cvs_after, _, urls = held(name, state)
    assert urls[emails[0]].endswith("original-v2.pdf")  # the replaced file, sent once
    assert cvs_after[emails[0]] == (1 if name == "json" else cvs_now[emails[0]] + 1)
    assert found_marker(airflow_home, temp, text=first.output + second.output + third.output) == []
