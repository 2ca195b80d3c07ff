"""The sync settings: the kind by name, the ATS pool, the stages' task ids."""

from __future__ import annotations

import pytest

from hrflow_airflow.objects import JOB, PROFILE
from hrflow_airflow.sync.config import update_fields, updates_enabled
from hrflow_airflow.sync.dag_args import ats_pool, object_kind, stage_task_ids


def test_kinds_are_looked_up_by_name_and_an_unknown_one_is_named():
    assert object_kind("profile") is PROFILE and object_kind("job") is JOB
    with pytest.raises(ValueError, match="unknown object kind 'profiles': use one of job, profile"):
        object_kind("profiles")


def test_ats_pool_per_connection_then_default(monkeypatch):
    assert ats_pool("ats_default") == "default_pool"
    monkeypatch.setenv("AIRFLOW__HRFLOW__ATS_POOL", "ats")
    monkeypatch.setenv("AIRFLOW__HRFLOW__ATS_POOLS", '{"ats_jobs_default": "jobs"}')
    assert (ats_pool("ats_default"), ats_pool("ats_jobs_default")) == ("ats", "jobs")


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '"a"'])
def test_a_bad_ats_pools_setting_is_named(monkeypatch, raw):
    monkeypatch.setenv("AIRFLOW__HRFLOW__ATS_POOLS", raw)
    with pytest.raises(ValueError, match=r"\[hrflow\] ats_pools must be a JSON object"):
        ats_pool("ats_default")


def test_stage_task_ids_follow_the_kind():
    assert stage_task_ids(JOB) == {
        "transformed": "batch.transform",
        "posted": "batch.post_to_ats",
        "tagged": "batch.tag_jobs",
    }


def test_update_fields_default_to_all_and_a_field_the_map_lacks_is_named(monkeypatch):
    field_map = {"first_name": "info.first_name", "phone": "info.phone"}
    assert update_fields(field_map) is None
    monkeypatch.setenv("AIRFLOW__HRFLOW__UPDATE_FIELDS", " phone , ")
    assert update_fields(field_map) == ["phone"]
    monkeypatch.setenv("AIRFLOW__HRFLOW__UPDATE_FIELDS", "phone,salary")
    with pytest.raises(ValueError, match=r"\[hrflow\] update_fields names salary, which the field map does not have"):
        update_fields(field_map)


def test_updates_follow_the_param_then_the_setting(monkeypatch):
    assert updates_enabled({}) is True and updates_enabled({"updates": False}) is False
    monkeypatch.setenv("AIRFLOW__HRFLOW__UPDATES", "false")
    assert updates_enabled({"updates": None}) is False and updates_enabled({"updates": True}) is True
