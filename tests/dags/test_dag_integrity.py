"""Every DAG file imports cleanly, without I/O, and carries tags, retries, docs and titled params."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {"hrflow_profiles_to_ats", "hrflow_jobs_to_ats", "hrflow_profile_sms"}


@pytest.fixture(scope="module")
def dagbag():
    # no connection or Variable is configured: parsing must not need them
    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert EXPECTED <= set(dagbag.dag_ids)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_has_tags_docs_retries_and_titled_params(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.tags and "hrflow" in dag.tags
    assert dag.doc_md and dag.doc_md.strip().startswith("#")
    for task in dag.tasks:
        assert task.retries >= 1 or task.task_id == "summary", task.task_id  # summary only adds up
    for name, param in dag.params.items():
        schema = param.schema
        assert schema.get("title") and param.description, name


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_no_task_pushes_its_dict_again_key_by_key(dagbag, dag_id):
    """Inferred multiple_outputs would store each key as its own XCom: twice the XCom, a sealed copy left behind."""
    assert [t.task_id for t in dagbag.dags[dag_id].tasks if getattr(t, "multiple_outputs", False)] == []


@pytest.mark.parametrize(
    ("dag_id", "tag_task"), [("hrflow_profiles_to_ats", "batch.tag_profiles"), ("hrflow_jobs_to_ats", "batch.tag_jobs")]
)
def test_sync_dag_shape_and_backfillable_schedule(dagbag, dag_id, tag_task):
    """Hourly with data intervals (backfills keep their window) or the webhook's asset event; one run at a time."""
    dag = dagbag.dags[dag_id]
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    assert type(dag.timetable.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.timetable.expression == "0 * * * *"
    plural = dag_id.split("_")[1]
    assert dag.timetable.asset_condition.uri == f"hrflow-webhook://{plural}/"
    assert dag.max_active_runs == 1
    chain = ["search", "batch.transform", "batch.post_to_ats", tag_task, "report", "summary"]
    for upstream, downstream in zip(chain, chain[1:]):
        assert downstream in dag.get_task(upstream).downstream_task_ids


@pytest.mark.parametrize(
    ("dag_id", "tag_task"), [("hrflow_profiles_to_ats", "batch.tag_profiles"), ("hrflow_jobs_to_ats", "batch.tag_jobs")]
)
def test_batches_go_through_depth_first_within_the_run_concurrency(dagbag, dag_id, tag_task):
    """One mapped group per batch, later stages first: tagging starts once the first batch is posted."""
    dag = dagbag.dags[dag_id]
    group = dag.task_group_dict["batch"]
    assert type(group).__name__ == "MappedTaskGroup"
    stages = ["batch.transform", "batch.post_to_ats", tag_task]
    assert all(dag.get_task(t).task_group is group for t in stages)
    assert [dag.get_task(t).weight_rule for t in stages] == ["upstream"] * 3
    # tag tasks at once x their threads = [hrflow] max_in_flight calls per run (config.plan_run)
    assert dag.get_task(tag_task).max_active_tis_per_dagrun == 4
    assert dag.get_task("report").trigger_rule == "all_done"
    assert dag.get_task("summary").trigger_rule == "all_done"
    assert [type(o).__name__ for o in dag.get_task("report").outlets] == ["AssetAlias"]


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_failures_late_runs_and_recoveries_alert(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    alert, *history = dag.on_failure_callback  # a sync DAG records the run's end in the HrFlow page's history too
    recovery, *recorded = dag.on_success_callback
    assert type(alert).__name__ == type(recovery).__name__ == "HrFlowAlertNotifier" and recovery.event == "recovery"
    ends = ([c.__name__ for c in history], [c.__name__ for c in recorded])
    assert ends == (([], []) if dag_id == "hrflow_profile_sms" else (["record_failure"], ["record_success"]))
    [deadline] = dag.deadline
    assert deadline.callback.path == "hrflow_airflow.alerts.monitoring.HrFlowAlertNotifier"
    assert deadline.callback.kwargs["event"] == "deadline"
    assert deadline.interval.total_seconds() > 0


_POOLS = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={dags!r})
print(json.dumps({{t: bag.dags[d].get_task(t).pool for d, t in [
    ("hrflow_profiles_to_ats", "search"), ("hrflow_profiles_to_ats", "batch.tag_profiles"),
    ("hrflow_jobs_to_ats", "search"), ("hrflow_jobs_to_ats", "batch.tag_jobs"),
    ("hrflow_profile_sms", "send_sms")]}}))
"""


@pytest.mark.parametrize(
    ("setting", "expected"), [(None, "default_pool"), ("hrflow_api", "hrflow_api")], ids=["pool-unset", "pool-set"]
)
def test_hrflow_calls_use_the_pool_only_once_it_is_configured(setting, expected):
    """A pool that does not exist would leave tasks unscheduled forever: it is opt-in ([hrflow] pool)."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__HRFLOW__POOL"}
    if setting:
        env["AIRFLOW__HRFLOW__POOL"] = setting
    proc = subprocess.run(
        [sys.executable, "-c", _POOLS.format(dags=str(DAGS))], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    pools = json.loads(proc.stdout.strip().splitlines()[-1])
    assert pools == dict.fromkeys(["search", "batch.tag_profiles", "batch.tag_jobs", "send_sms"], expected)


@pytest.mark.parametrize("dag_id", ["hrflow_profiles_to_ats", "hrflow_jobs_to_ats"])
def test_ats_requests_in_flight_are_bounded(dagbag, dag_id):
    assert dagbag.dags[dag_id].get_task("batch.post_to_ats").max_active_tis_per_dagrun == 4


_ATS_POOLS = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={dags!r})
print(json.dumps({{d: bag.dags[d].get_task("batch.post_to_ats").pool
                  for d in ("hrflow_profiles_to_ats", "hrflow_jobs_to_ats")}}))
print(json.dumps({{k: str(v) for k, v in bag.import_errors.items()}}))
"""


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, {"hrflow_profiles_to_ats": "default_pool", "hrflow_jobs_to_ats": "default_pool"}),
        (
            {"AIRFLOW__HRFLOW__ATS_POOLS": '{"ats_default": "smartrecruiters"}'},
            {"hrflow_profiles_to_ats": "smartrecruiters", "hrflow_jobs_to_ats": "default_pool"},
        ),
        (
            {"AIRFLOW__HRFLOW__ATS_POOLS": '{"ats_default": "workable"}', "AIRFLOW__HRFLOW__ATS_POOL": "ats"},
            {"hrflow_profiles_to_ats": "workable", "hrflow_jobs_to_ats": "ats"},
        ),
        ({"AIRFLOW__HRFLOW__ATS_POOLS": "smartrecruiters"}, "[hrflow] ats_pools must be a JSON object"),
    ],
    ids=["unset", "per-destination", "per-destination-and-default", "bad"],
)
def test_ats_writes_run_in_the_pool_of_their_destination(settings, expected):
    """A pool per ATS account keeps every worker together within the account's rate limits."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__HRFLOW__ATS_POOL")}
    env.update(settings)
    proc = subprocess.run(
        [sys.executable, "-c", _ATS_POOLS.format(dags=str(DAGS))], env=env, capture_output=True, text=True, timeout=120
    )
    if isinstance(expected, str):  # the DAG file does not import, and the import error says why
        assert expected in proc.stdout + proc.stderr
        return
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-2]) == expected
