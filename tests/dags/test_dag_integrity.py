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


@pytest.mark.parametrize(("dag_id", "tag_task"), [("hrflow_profiles_to_ats", "tag_profiles"), ("hrflow_jobs_to_ats", "tag_jobs")])
def test_sync_dag_shape_and_backfillable_schedule(dagbag, dag_id, tag_task):
    dag = dagbag.dags[dag_id]
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.max_active_runs == 1
    chain = ["search", "transform", "post_to_ats", tag_task, "report", "summary"]
    for upstream, downstream in zip(chain, chain[1:]):
        assert downstream in dag.get_task(upstream).downstream_task_ids
    assert dag.get_task("report").trigger_rule == "all_done"
    assert dag.get_task("summary").trigger_rule == "all_done"
    assert [type(o).__name__ for o in dag.get_task("report").outlets] == ["AssetAlias"]


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_failures_and_late_runs_alert(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert [type(c).__name__ for c in dag.on_failure_callback] == ["HrFlowAlertNotifier"]
    [deadline] = dag.deadline
    assert deadline.callback.path == "hrflow_airflow.monitoring.HrFlowAlertNotifier"
    assert deadline.callback.kwargs["event"] == "deadline"
    assert deadline.interval.total_seconds() > 0


@pytest.mark.parametrize(
    ("dag_id", "task_ids"),
    [("hrflow_profiles_to_ats", ["search", "tag_profiles"]), ("hrflow_jobs_to_ats", ["search", "tag_jobs"]),
     ("hrflow_profile_sms", ["fetch_profile"])],
)
def test_hrflow_calls_are_bounded_by_the_pool(dagbag, dag_id, task_ids):
    for task_id in task_ids:
        assert dagbag.dags[dag_id].get_task(task_id).pool == "hrflow_api"


@pytest.mark.parametrize("dag_id", ["hrflow_profiles_to_ats", "hrflow_jobs_to_ats"])
def test_ats_requests_in_flight_are_bounded(dagbag, dag_id):
    assert dagbag.dags[dag_id].get_task("post_to_ats").max_active_tis_per_dagrun == 4
