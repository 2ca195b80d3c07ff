"""The two sync DAG files repeat a dozen wiring lines: they must stay the same DAG but for the kind's names."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

DAGS = Path(__file__).resolve().parents[2] / "dags"
# what may differ: the kind's own names, spelled for profiles and for jobs
KIND_NAMES = [
    ("profiles", "jobs"),
    ("profile", "job"),
    ("Source", "Board"),
    ("source", "board"),
    ("ats_default", "ats_jobs_default"),
]


@pytest.fixture(scope="module")
def dagbag():
    return DagBag(dag_folder=str(DAGS))


def as_jobs(text: str) -> str:
    """Return ``text`` with every profile-kind name replaced by its job-kind name."""
    for profile_name, job_name in KIND_NAMES:
        text = text.replace(profile_name, job_name)
    return text


def shape(task) -> dict:
    """Return what must match task by task: id, pool, retries, trigger and weight rules, caps, wiring."""
    return {
        "task_id": task.task_id,
        "pool": task.pool,
        "retries": task.retries,
        "trigger_rule": str(task.trigger_rule),
        "weight_rule": str(task.weight_rule),
        "max_active_tis_per_dagrun": task.max_active_tis_per_dagrun,
        "upstream": sorted(task.upstream_task_ids),
        "mapped": type(task).__name__,
        "outlets": sorted(str(getattr(o, "name", o)) for o in task.outlets),
    }


def test_the_two_sync_dags_are_the_same_pipeline(dagbag):
    profiles, jobs = dagbag.dags["hrflow_profiles_to_ats"], dagbag.dags["hrflow_jobs_to_ats"]
    expected = {as_jobs(t.task_id): {k: as_jobs(str(v)) for k, v in shape(t).items()} for t in profiles.tasks}
    got = {t.task_id: {k: str(v) for k, v in shape(t).items()} for t in jobs.tasks}
    assert got == expected
    assert sorted(got) == [
        "batch.post_to_ats",
        "batch.tag_jobs",
        "batch.transform",
        "remove",
        "report",
        "search",
        "summary",
    ]


def test_the_two_sync_dags_share_schedule_params_and_run_settings(dagbag):
    profiles, jobs = dagbag.dags["hrflow_profiles_to_ats"], dagbag.dags["hrflow_jobs_to_ats"]
    assert [as_jobs(name) for name in profiles.params] == list(jobs.params)
    for name in profiles.params:
        mine, theirs = profiles.params.get_param(name), jobs.params.get_param(as_jobs(name))
        assert as_jobs(repr((mine.value, mine.schema))) == repr((theirs.value, theirs.schema)), name
    assert type(profiles.timetable) is type(jobs.timetable)
    hourly, jobs_hourly = profiles.timetable.timetable, jobs.timetable.timetable  # AssetOrTimeSchedule's timetable
    assert (hourly.expression, str(hourly.timezone)) == (jobs_hourly.expression, str(jobs_hourly.timezone))
    assert as_jobs(profiles.timetable.asset_condition.uri) == jobs.timetable.asset_condition.uri
    for attribute in ("start_date", "catchup", "max_active_runs"):
        assert getattr(profiles, attribute) == getattr(jobs, attribute), attribute
    assert profiles.default_args == jobs.default_args
    assert as_jobs(str(sorted(profiles.tags))) == str(sorted(jobs.tags))


def test_a_difference_in_wiring_would_be_seen(dagbag):
    """The comparison is not blind: the jobs DAG's tag task differs from the profiles DAG's before renaming."""
    profiles, jobs = dagbag.dags["hrflow_profiles_to_ats"], dagbag.dags["hrflow_jobs_to_ats"]
    assert {t.task_id for t in profiles.tasks} != {t.task_id for t in jobs.tasks}
    assert shape(profiles.get_task("report"))["upstream"] == [
        "batch.post_to_ats",
        "batch.tag_profiles",
        "batch.transform",
        "remove",
    ]
