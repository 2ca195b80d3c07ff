"""
The shape of a large migration at a small size: batches streamed to object storage while the listing pages,
keyset paging past a result-window cap, progress lines, and a run killed while listing then run again.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time

from hrflow_airflow.sync.listing import read_manifest
from sandbox.airflow_home import AIRFLOW, airflow_env, dags_test
from sandbox.objects import make_key
from sandbox.state import Fault

DAG_ID = "hrflow_profiles_to_ats"


def safe(run_id: str) -> str:
    """Return the directory name of a run's batch files."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)


def kill_when(env: dict[str, str], conf: str, ready, batches) -> object:
    """Run the DAG under `airflow dags test`, SIGKILL it once ``ready()``; return the run's batch directory."""
    proc = subprocess.Popen(
        [AIRFLOW, "dags", "test", DAG_ID, "--conf", conf],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not ready():
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended or stalled before the kill point"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    [directory] = batches.glob("*")
    return directory


def checkpointed(batches) -> int:
    """Return how many batch files the listing checkpoint under ``batches`` names (0 before it is written)."""
    manifests = [read_manifest(directory) for directory in batches.glob("*")]
    return max((len(m["batches"]) for m in manifests if m is not None), default=0)


def test_streamed_batches_page_past_a_result_window_cap(run_dag, sandbox, airflow_home):
    state = sandbox.state
    source = make_key("source", "migration", "streamed")
    state.max_result_window = 300  # pages deeper than 300 results are refused, as a search engine would
    # many profiles share a created_at second (bulk imports do): paging must neither skip nor repeat them
    keys = state.seed("profile", source, 250, created_at="2025-01-01T00:00:00+00:00", spread_seconds=0)
    keys += state.seed("profile", source, 1000, start=250, created_at="2025-02-01T00:00:00+00:00", spread_seconds=1)
    # HrFlow refuses one tag: the run fails and keeps its (sealed) batches for retries
    state.faults.append(Fault(path="/v1/profile/indexing", method="PUT", status=400, times=20, match_key=keys[-1]))
    conf = {"source_keys": [source], "page_size": 100, "batch_size": 300}
    # dags test lists in one slice by default (its one process holds every task); four, set, read in parallel
    env = {"AIRFLOW__HRFLOW__PROGRESS_SECONDS": "0", "AIRFLOW__HRFLOW__LISTING_SLICES": "4"}
    first = run_dag(DAG_ID, conf, env=env)
    assert not first.succeeded and first.summary["found"] == 1250 and first.summary["tagged"] == 1249
    assert state.calls["refused: result window"] == 0
    assert "Listing: 1250 of about 1250 profiles read (100%)" in first.output  # progress lines
    assert "Listing in 4 slice(s) of created_at" in first.output  # pages read in parallel
    # each batch task counts the batches of its own mapped task that are done, with the time left
    assert re.search(
        r"Run progress: 5 of 5 batch\(es\) posted \(about 1250 of 1250 profiles\), \S+ since the run "
        r"started, about 0m00s left",
        first.output,
    ), first.output[-3000:]
    assert re.search(r"Run progress: [1-4] of 5 batch\(es\) tagged \(about \d+ of 1250 profiles\)", first.output)
    assert "batch(es) of up to 300, written to file://" in first.output
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        [value] = [
            v
            for (v,) in db.execute(
                "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = 'search' "
                "AND key = 'return_value'",
                (DAG_ID, first.run_id),
            )
        ]
    refs = json.loads(value)
    refs = json.loads(open(refs.removeprefix("file://")).read()) if isinstance(refs, str) else refs
    assert len(refs) == 5 and all(len(json.dumps(ref)) < 2048 for ref in refs)  # references and counts only
    files = sorted((airflow_home / "xcom").glob(f"hrflow_batches/{DAG_ID}/{safe(first.run_id)}/batch-*.json"))
    assert len(files) == 5
    info = state.get("profile", source, keys[0])["info"]
    assert all(info["email"] not in f.read_text() and keys[0] in files[0].read_text() for f in files)  # sealed

    state.faults.clear()
    second = run_dag(DAG_ID, conf, env=env)
    assert second.succeeded, second.output[-3000:]
    applied = state.ats_area("profiles").applied
    assert set(applied) == set(keys) and max(applied.values()) == 1
    assert set(keys) <= set(state.snapshot()["synced"]["profile"])
    assert not (airflow_home / "xcom" / "hrflow_batches" / DAG_ID / safe(second.run_id)).exists()


def test_a_run_killed_while_listing_resumes_its_listing_and_posts_each_profile_once(airflow_home, sandbox):
    state = sandbox.state
    source = make_key("source", "migration", "killed")
    keys = state.seed("profile", source, 600, created_at="2025-03-01T00:00:00+00:00", spread_seconds=1)
    state.faults.append(Fault(path="/v1/storing/profiles", status=0, delay=0.5, times=1000))  # manual runs sweep
    slices = {"AIRFLOW__HRFLOW__LISTING_SLICES": "4"}  # each slice resumes from its own cursor
    env = airflow_env(airflow_home, {**sandbox.airflow_env(), "AIRFLOW__HRFLOW__PROGRESS_SECONDS": "0", **slices})
    conf = json.dumps({"source_keys": [source], "page_size": 50, "batch_size": 100})
    batches = airflow_home / "xcom" / "hrflow_batches" / DAG_ID  # empty: each test starts without batch files
    # in the middle of the listing, two batch files written and checkpointed: a file is written before the
    # checkpoint names it, and a file the checkpoint does not name yet is listed again, not resumed
    killed_dir = kill_when(env, conf, lambda: checkpointed(batches) >= 2, batches)
    assert state.ats_area("profiles").requests == 0
    calls_before = state.calls["GET /v1/storing/profiles"]
    state.faults.clear()
    again = dags_test(env, DAG_ID, conf, warm=True)  # the resume; the killed run above is a process of its own
    output = again.stdout + again.stderr
    assert again.returncode == 0, output[-3000:]
    resumed = re.search(r"Resuming the unfinished listing of run (\S+): (\d+) object\(s\) in (\d+) batch file", output)
    assert resumed and int(resumed.group(2)) >= 200 and int(resumed.group(3)) >= 2, output[-3000:]
    # the resumed run did not read again what was written: a whole listing takes 19 calls (1 estimate,
    # 2 for the slice ends, 4 slices x (3 pages + 1 short page))
    assert state.calls["GET /v1/storing/profiles"] - calls_before < 19 - int(resumed.group(2)) // 50 + 4
    applied = state.ats_area("profiles").applied
    assert set(applied) == set(keys) and max(applied.values()) == 1
    assert set(keys) <= set(state.snapshot()["synced"]["profile"])
    assert not killed_dir.exists()  # the adopted batch files are deleted with the run's own once it succeeds


def test_a_run_killed_while_tagging_resumes_its_batches_without_listing_again(airflow_home, sandbox):
    """Kill after some batches are tagged: the next run takes the rest of the listed batches, reads no page again."""
    state = sandbox.state
    state.honour_idempotency = False  # an ATS that ignores Idempotency-Key: any second POST is a duplicate
    source = make_key("source", "migration", "killed-tagging")
    keys = state.seed("profile", source, 600, created_at="2025-04-01T00:00:00+00:00", spread_seconds=1)
    env = airflow_env(airflow_home, {**sandbox.airflow_env(), "AIRFLOW__HRFLOW__PROGRESS_SECONDS": "0"})
    # updates off: this counts the listing of new objects (the changes listing reads what the killed run tagged)
    conf = json.dumps({"source_keys": [source], "page_size": 50, "batch_size": 100, "updates": False})
    batches = airflow_home / "xcom" / "hrflow_batches" / DAG_ID
    # two batches tagged, the others posted or not
    killed_dir = kill_when(env, conf, lambda: len(list(batches.glob("*/batch-*.json.done"))) >= 2, batches)
    listing_calls = state.calls["GET /v1/storing/profiles"]
    again = dags_test(env, DAG_ID, conf, warm=True)  # the resume; the killed run above is a process of its own
    output = again.stdout + again.stderr
    assert again.returncode == 0, output[-3000:]
    resumed = re.search(
        r"Resuming the unfinished run of run \S+: (\d+) object\(s\) in (\d+) batch file\(s\) already "
        r"written; (\d+) fully tagged batch file\(s\) skipped",
        output,
    )
    assert resumed and int(resumed.group(3)) >= 2 and int(resumed.group(1)) <= 400, output[-3000:]
    # no page read again: one call for the estimate, then each slice's page after its cursor (empty)
    assert state.calls["GET /v1/storing/profiles"] - listing_calls <= 1 + 4
    applied = state.ats_area("profiles").applied
    assert set(applied) == set(keys) and max(applied.values()) == 1  # each profile posted once
    assert set(keys) <= set(state.snapshot()["synced"]["profile"]) and max(state.edits[k] for k in keys) == 1
    assert not killed_dir.exists()
