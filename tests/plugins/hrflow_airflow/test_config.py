from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk.api.datamodels._generated import DagRunType

from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.objects import JOB, PROFILE
from hrflow_airflow.sync.config import (
    Window,
    resolve_config,
    resolve_containers,
    resolve_field_map,
    resolve_sweep,
    resolve_window,
)
from hrflow_airflow.sync.plan import plan_run

START = datetime(2026, 5, 1, 10, tzinfo=timezone.utc)
END = datetime(2026, 5, 1, 11, tzinfo=timezone.utc)


def no_variables(_name):
    return None


@pytest.mark.parametrize("run_type", ["backfill", DagRunType.BACKFILL])
def test_backfill_runs_keep_their_data_interval(run_type):
    window, why = resolve_window({}, run_type, START, END)
    assert window == Window(START, END)
    assert why.startswith("backfill")


@pytest.mark.parametrize("run_type", ["scheduled", DagRunType.SCHEDULED])
def test_scheduled_runs_take_everything_created_before_their_interval_end(run_type):
    window, _ = resolve_window({}, run_type, START, END)
    assert window == Window(None, END)
    assert window.contains("2026-03-22T09:00:00+0000")  # backdated 40 days
    assert window.contains("2026-05-01T07:30:00+0000")  # from an interval the scheduler missed
    assert not window.contains("2026-05-01T11:00:00+0000")  # the next interval's


@pytest.mark.parametrize("run_type", ["manual", DagRunType.MANUAL])
def test_manual_run_without_window_takes_everything_in_a_full_sweep(run_type):
    window, _ = resolve_window({}, run_type, START, END)
    assert not window
    assert resolve_sweep({}, run_type, window, END) == (True, "manual run without a window")


@pytest.mark.parametrize("run_type", ["asset_triggered", DagRunType.ASSET_TRIGGERED])
def test_a_run_the_webhook_started_takes_everything_pending_up_to_now_by_search(run_type):
    window, why = resolve_window({}, run_type, None, None)
    assert not window and "webhook" in why
    sweep, why = resolve_sweep({}, run_type, window, None)
    assert sweep is False and "webhook" in why
    assert resolve_sweep({"full_sweep": True}, run_type, window, None)[0] is True


def test_explicit_window_wins_over_interval():
    window, why = resolve_window({"created_at_min": "2026-01-01T00:00:00Z"}, "scheduled", START, END)
    assert window == Window(datetime(2026, 1, 1, tzinfo=timezone.utc), None)
    assert why == "explicit window"


FLOOR = datetime(2026, 4, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("params", "run_type", "expected"),
    [
        ({}, "scheduled", Window(FLOOR, END)),  # no lower bound of its own: the floor
        ({}, "manual", Window(FLOOR, None)),  # the full sweep of a manual run too
        ({}, "backfill", Window(START, END)),  # an interval after the floor keeps its start
        ({"created_at_min": "2026-01-01T00:00:00Z"}, "manual", Window(FLOOR, None)),  # the later of the two wins
        ({"created_at_min": "2026-04-20T00:00:00Z"}, "manual", Window(datetime(2026, 4, 20, tzinfo=timezone.utc))),
        ({"created_at_max": "2026-02-01T00:00:00Z"}, "manual", Window(FLOOR, FLOOR)),  # ends before: holds nothing
    ],
)
def test_the_floor_is_a_lower_bound_on_every_window(params, run_type, expected):
    window, why = resolve_window(params, run_type, START, END, FLOOR)
    assert window == expected and ("created_at_floor" in why) == (window.start == FLOOR)
    assert not window.contains("2026-03-31T23:59:59+0000")


def test_the_floor_param_wins_over_the_setting_and_the_run_limit_holds_for_unconfirmed_scheduled_runs():
    def cfg(params, run_type="scheduled"):
        return resolve_config(
            PROFILE,
            {"source_keys": ["s"], **params},
            run_type=run_type,
            interval_start=START,
            interval_end=END,
            get_variable=no_variables,
            floor="2026-03-01T00:00:00Z",
            max_objects=50_000,
        )

    assert cfg({}).floor == datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert cfg({"created_at_floor": "2026-04-01T00:00:00Z"}).window.start == FLOOR
    with pytest.raises(BadConfigError, match="created_at_floor"):
        cfg({"created_at_floor": "yesterday"})
    assert cfg({}).max_objects == 50_000
    assert cfg({"confirm_large_run": True}).max_objects is None
    assert cfg({}, "manual").max_objects is None and cfg({}, "backfill").max_objects is None


@pytest.mark.parametrize(
    ("params", "run_type", "end_hour", "sweep_hour", "expected"),
    [
        ({}, "scheduled", 11, 0, False),
        ({}, "scheduled", 0, 0, True),  # the daily sweep
        ({}, "scheduled", 0, -1, False),  # turned off
        ({}, "backfill", 0, 0, False),
        ({"full_sweep": True}, "scheduled", 11, 0, True),
        ({"full_sweep": False}, "manual", 11, 0, False),
        ({"created_at_min": "2026-01-01T00:00:00Z"}, "manual", 11, 0, False),
    ],
)
def test_when_a_run_is_a_full_sweep(params, run_type, end_hour, sweep_hour, expected):
    end = END.replace(hour=end_hour)
    window, _ = resolve_window(params, run_type, end - timedelta(hours=1), end)
    sweep, why = resolve_sweep(params, run_type, window, end, sweep_hour)
    assert sweep is expected, why


def test_full_sweep_param_must_be_a_boolean():
    with pytest.raises(BadConfigError, match="param 'full_sweep' must be true, false or null"):
        resolve_sweep({"full_sweep": "yes"}, "manual", Window(), None)


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
    with pytest.raises(BadConfigError, match=message):
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
    with pytest.raises(BadConfigError, match=message):
        resolve_containers(PROFILE, params, variables.get)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"concurrency": 65}, "concurrency"),
        ({"dry_run": "yes"}, "dry_run"),
        ({"page_size": True}, "page_size"),
    ],
)
def test_bad_numbers_are_refused_by_name(params, message):
    with pytest.raises(BadConfigError, match=message):
        resolve_config(
            PROFILE,
            {"source_keys": ["s"], **params},
            run_type="manual",
            interval_start=None,
            interval_end=None,
            get_variable=no_variables,
        )


def test_field_map_variable_replaces_default_and_is_validated():
    # the default, spelled out: the seven info fields the PULL workflow maps
    assert resolve_field_map(PROFILE, no_variables) == {
        "first_name": "info.first_name",
        "last_name": "info.last_name",
        "email": "info.email",
        "phone": "info.phone",
        "date_birth": "info.date_birth",
        "gender": "info.gender",
        "summary": "info.summary",
    }
    assert resolve_field_map(JOB, {"hrflow_jobs_field_map": '{"title": "name"}'}.get) == {"title": "name"}
    with pytest.raises(BadConfigError, match="Variable 'hrflow_jobs_field_map': field 'title' has an invalid path"):
        resolve_field_map(JOB, {"hrflow_jobs_field_map": '{"title": ""}'}.get)


@pytest.mark.parametrize(
    ("found", "sequential", "batch_size", "batches", "concurrency"),
    [
        (3000, True, 3000, 1, 40),  # airflow dags test: one batch, all the run's HrFlow calls in one task
        (5000, True, 5000, 1, 40),
        (12_000, True, 5_000, 3, 40),  # dags test: at most 5,000 a batch (its one process stays under 300 MB)
        (1_000_000, False, 10_000, 100, 10),  # a migration: fewer, longer tagging tasks
        (3000, False, 750, 4, 10),  # a scheduler: 4 batches for the workers, 40 calls in flight shared
        (50, False, 100, 1, 40),  # small runs are not cut into tiny batches
        (0, False, 100, 0, 40),
        (20_000_000, True, 19_532, 1024, 40),  # never more than 1,024 mapped tasks
    ],
)
def test_plan_run_picks_batches_and_concurrency_from_the_work(found, sequential, batch_size, batches, concurrency):
    plan = plan_run(found, batch_size=None, concurrency=None, requests_per_minute=None, sequential=sequential)
    assert (plan.batch_size, plan.batches, plan.concurrency) == (batch_size, batches, concurrency)
    assert "auto" in plan.why


def test_explicit_params_win_and_requests_per_minute_caps_threads():
    plan = plan_run(3000, batch_size=250, concurrency=6, requests_per_minute=None, sequential=True)
    assert (plan.batch_size, plan.batches, plan.concurrency) == (250, 12, 6)
    assert "batch_size 250 (param)" in plan.why and "concurrency 6 (param)" in plan.why
    capped = plan_run(3000, batch_size=None, concurrency=None, requests_per_minute=300, sequential=True)
    assert capped.concurrency == 5 and "requests_per_minute/60 = 5" in capped.why
