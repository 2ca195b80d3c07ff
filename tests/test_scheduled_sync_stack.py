"""A scheduled sync run on a real scheduler, dag-processor and LocalExecutor: no lower bound on created_at."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from sandbox.airflow_home import AirflowStack
from sandbox.server import make_key

SOURCE = make_key("source", "scheduled")
DAG_ID = "hrflow_profiles_to_ats"


@pytest.fixture(scope="module")
def stack(sandbox_server, tmp_path_factory):
    stack = AirflowStack(tmp_path_factory.mktemp("scheduled_home"), extra_env={
        **sandbox_server.airflow_env(),
        "AIRFLOW_VAR_HRFLOW_SOURCE_KEYS": json.dumps([SOURCE]),
        "AIRFLOW__HRFLOW__FULL_SWEEP_HOUR": "-1",  # this run uses search, whatever the hour
    })
    stack.start(wait_for_dags=(DAG_ID,))
    yield stack
    stack.stop()


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S+0000")


def test_scheduled_run_syncs_backdated_and_missed_interval_profiles(stack, sandbox):
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    state = sandbox.state
    [backdated] = state.seed("profile", SOURCE, 1, created_at=_stamp(hour - timedelta(days=40)))
    [missed] = state.seed("profile", SOURCE, 1, start=1, created_at=_stamp(hour - timedelta(hours=3, minutes=20)))
    [in_interval] = state.seed("profile", SOURCE, 1, start=2, created_at=_stamp(hour - timedelta(minutes=30)))
    [next_interval] = state.seed("profile", SOURCE, 1, start=3, created_at=_stamp(hour + timedelta(hours=2)))

    stack.unpause(DAG_ID)  # catchup=False: the scheduler creates one run, for the latest complete interval

    runs: list[dict] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not runs:
        runs = [r for r in stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns").json()["dag_runs"]
                if r["run_type"] == "scheduled"]
        time.sleep(1)
    assert len(runs) == 1, "the scheduler created no scheduled run"
    [run] = runs
    assert stack.wait_for_run(DAG_ID, run["dag_run_id"], timeout=240) == "success"
    interval_end = datetime.fromisoformat(run["data_interval_end"].replace("Z", "+00:00"))
    assert interval_end <= hour + timedelta(hours=1)
    assert dict(state.ats_area("profiles").applied) == {backdated: 1, missed: 1, in_interval: 1}
    assert state.snapshot()["synced"]["profile"] == sorted([backdated, missed, in_interval])
    assert next_interval not in state.ats_area("profiles").applied  # created after the interval end: the next run's
