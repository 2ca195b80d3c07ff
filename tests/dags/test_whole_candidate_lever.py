"""
The whole candidate in Lever, a vendor that takes the bytes, under `airflow dags test` against its emulator
(sandbox/lever.py, sandbox/lever_files.py): each opportunity gets its CV streamed from HrFlow's URL (the file with
the sandbox's byte marker), profiles with an application tag sit on that posting, the others on none; a second run
uploads nothing; a replaced CV is sent once; an unreachable CV and a 15 MB one leave the candidate created, the CV
isolated with a clear reason and the run green; a posting Lever does not have is counted and the candidate created.
The CVs' bytes are nowhere under the Airflow home, nor in the run's output.
"""

from __future__ import annotations

import json
from pathlib import Path

from sandbox import lever
from sandbox.files import MARKER
from sandbox.objects import make_key

DAG_ID = "hrflow_profiles_to_ats"
UPLOAD = "POST /v1/opportunities/{id}/files"


def opportunity_of(state, source: str, key: str) -> str:
    [remote] = [t["value"] for t in state.get("profile", source, key).get("tags") or [] if t["name"] == "ats_id"]
    return remote.removeprefix("lever:").partition("/")[0]


def applied(state, source: str, key: str, board: str, reference: str) -> None:
    """Tag profile ``key`` as having applied to job ``reference`` of ``board`` (HrFlow's documented convention)."""
    tag = {"name": "application_boardKey_jobReference", "value": f"{board}_{reference}"}
    state.update("profile", source, key, lambda p: p.update(tags=[*(p.get("tags") or []), tag]))


def files_holding(home: Path, marker: bytes) -> list[str]:
    """Return the files under ``home`` whose bytes hold ``marker``."""
    return [str(path) for path in home.rglob("*") if path.is_file() and marker in path.read_bytes()]


def test_lever_gets_each_cv_once_and_each_application_on_its_posting(run_dag, sandbox, airflow_home, request, tmp_path):
    state, account = sandbox.state, sandbox.state.vendors.lever
    source, board = make_key("source", "lever-whole", request.node.name), make_key("board", request.node.name)
    keys = state.seed("profile", source, 6, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    on_job, unknown, missing, big, plain = keys[:2], keys[2], keys[3], keys[4], keys[5]
    for key in on_job:
        applied(state, source, key, board, "job-1")
    applied(state, source, unknown, board, "job-404")  # a posting Lever does not have
    state.cv_files.missing.add(missing)  # its URL answers 404
    state.cv_files.sizes[big] = 15_000_000  # over [hrflow] max_cv_mb (10)
    temp = tmp_path / "tmp"  # the runs' temp directory: the bytes stream through, never land there
    temp.mkdir()
    env = {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(lever.connection(sandbox.url)), "TMPDIR": str(temp)}
    conf = {"source_keys": [source], "full_sweep": False}

    first = run_dag(DAG_ID, conf, env=env)

    assert first.succeeded, first.output[-3000:]
    assert first.summary["posted"] == 6 and first.summary["failed"] == 0 and account.creates == 6
    opportunities = {key: opportunity_of(state, source, key) for key in keys}
    sent = [on_job[0], on_job[1], unknown, plain]
    for key in sent:  # the file itself, whole, on the opportunity: the marker and the profile's key inside
        [file] = account.files[opportunities[key]]
        assert file["data"].startswith(b"%PDF-1.4") and MARKER + key.encode() in file["data"]
    assert all(not account.files.get(opportunities[key]) for key in (missing, big))
    assert {key: account.candidates[opportunities[key]]["applications"] for key in keys} == {
        **{key: [] for key in keys},
        **{key: ["job-1"] for key in on_job},
    }
    summary = first.summary
    assert summary["cvs"] == 4 and summary["applications"] == 2 and summary["unknown_jobs"] == ["job-404"]
    isolated = {entry["key"]: entry["reason"] for entry in summary["cv_isolated"]}
    assert sorted(isolated) == sorted([missing, big])
    assert "HTTP 404" in isolated[missing]
    assert "15.0 MB" in isolated[big] and "over the cap of 10 MB" in isolated[big] and "max_cv_mb" in isolated[big]
    uploads = account.requests[UPLOAD]
    assert uploads == 4  # the refused files never reached Lever

    second = run_dag(DAG_ID, conf, env=env)

    assert second.succeeded, second.output[-3000:]
    assert account.requests[UPLOAD] == uploads and account.creates == 6  # nothing uploaded again
    assert second.summary["cvs"] == 0 and second.summary["applications"] == 0

    state.replace_cv(source, on_job[0])  # a re-upload in HrFlow: a new file, alt and updated_at
    third = run_dag(DAG_ID, conf, env=env)

    assert third.succeeded, third.output[-3000:]
    assert account.requests[UPLOAD] == uploads + 1 and third.summary["cvs"] == 1
    newest = account.files[opportunities[on_job[0]]][-1]["data"]
    assert MARKER + f"{on_job[0]}-original-v2".encode() in newest
    fourth = run_dag(DAG_ID, conf, env=env)
    assert fourth.succeeded and account.requests[UPLOAD] == uploads + 1  # the replaced file went once

    for result in (first, second, third, fourth):
        assert MARKER.decode() not in result.output
    assert files_holding(airflow_home, MARKER) == [] and files_holding(temp, MARKER) == []
