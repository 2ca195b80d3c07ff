from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from airflow.sdk.api.datamodels._generated import DagRunType

from hrflow_airflow.config import ConfigError, Window, resolve_config, resolve_containers, resolve_field_map, resolve_window
from hrflow_airflow.objects import JOB, PROFILE

START = datetime(2026, 5, 1, 10, tzinfo=timezone.utc)
END = datetime(2026, 5, 1, 11, tzinfo=timezone.utc)


def no_variables(_name):
    return None


@pytest.mark.parametrize("run_type", ["scheduled", "backfill", DagRunType.SCHEDULED, DagRunType.BACKFILL])
def test_scheduled_and_backfill_runs_use_their_data_interval(run_type):
    assert resolve_window({}, run_type, START, END) == Window(START, END)


@pytest.mark.parametrize("run_type", ["manual", DagRunType.MANUAL])
def test_manual_run_without_window_takes_everything(run_type):
    assert not resolve_window({}, run_type, START, END)


def test_explicit_window_wins_over_interval():
    window = resolve_window({"created_at_min": "2026-01-01T00:00:00Z"}, "scheduled", START, END)
    assert window == Window(datetime(2026, 1, 1, tzinfo=timezone.utc), None)


def test_window_is_half_open():
    window = Window(START, END)
    assert window.contains("2026-05-01T10:00:00+0000")
    assert window.contains("2026-05-01T10:59:59+0000")
    assert not window.contains("2026-05-01T11:00:00+0000")
    assert not window.contains(None)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"created_at_min": "yesterday"}, "created_at_min must be an ISO 8601 date-time"),
        ({"created_at_min": "2026-02-01T00:00:00Z", "created_at_max": "2026-01-01T00:00:00Z"}, "must be before"),
    ],
)
def test_bad_window_is_refused(params, message):
    with pytest.raises(ConfigError, match=message):
        resolve_window(params, "manual", None, None)


def test_param_overrides_variable_and_dedupes():
    variables = {"hrflow_source_keys": json.dumps(["from-variable"])}
    assert resolve_containers(PROFILE, {"source_keys": ["a", "a", " b "]}, variables.get) == ["a", "b"]
    assert resolve_containers(PROFILE, {}, variables.get) == ["from-variable"]
    assert resolve_containers(JOB, {}, {"hrflow_board_keys": '["b1"]'}.get) == ["b1"]


@pytest.mark.parametrize(
    ("params", "variables", "message"),
    [
        ({}, {}, "No source keys: set Variable 'hrflow_source_keys'"),
        ({}, {"hrflow_source_keys": "not json"}, "Variable 'hrflow_source_keys' is not valid JSON"),
        ({}, {"hrflow_source_keys": '"one-key"'}, "Variable 'hrflow_source_keys' must be a list"),
        ({"source_keys": [""]}, {}, "param 'source_keys' must be a list of non-empty"),
        ({"source_keys": [1]}, {}, "param 'source_keys' must be a list of non-empty"),
    ],
)
def test_bad_containers_are_refused_by_name(params, variables, message):
    with pytest.raises(ConfigError, match=message):
        resolve_containers(PROFILE, params, variables.get)


@pytest.mark.parametrize(
    ("params", "message"),
    [({"batch_size": 0}, "batch_size"), ({"concurrency": 65}, "concurrency"), ({"dry_run": "yes"}, "dry_run"),
     ({"page_size": True}, "page_size")],
)
def test_bad_numbers_are_refused_by_name(params, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(PROFILE, {"source_keys": ["s"], **params}, run_type="manual", interval_start=None,
                       interval_end=None, get_variable=no_variables)


def test_field_map_variable_replaces_default_and_is_validated():
    assert resolve_field_map(PROFILE, no_variables) == dict(PROFILE.default_field_map)
    assert resolve_field_map(JOB, {"hrflow_jobs_field_map": '{"title": "name"}'}.get) == {"title": "name"}
    with pytest.raises(ConfigError, match="Variable 'hrflow_jobs_field_map': field 'title' has an invalid path"):
        resolve_field_map(JOB, {"hrflow_jobs_field_map": '{"title": ""}'}.get)
