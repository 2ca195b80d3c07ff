"""HrFlowHook through the real hrflow SDK, over HTTP, against the sandbox."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk.exceptions import AirflowNotFoundException

from hrflow_airflow.dates import hrflow_datetime
from hrflow_airflow.errors import BadConfigError, TransientError
from hrflow_airflow.hooks.hrflow_api import (
    HrFlowAuthError,
    HrFlowEmptyAnswerError,
    HrFlowHook,
    HrFlowNotFoundError,
    HrFlowQuotaError,
)
from hrflow_airflow.hooks.http import RetryPolicy
from hrflow_airflow.objects import JOB, PROFILE
from sandbox.objects import make_key
from sandbox.state import Fault

SOURCE = make_key("source", "hook")
FAST = RetryPolicy(attempts=3, backoff=0.01)


@pytest.fixture
def hook(sandbox):
    return HrFlowHook(retry=FAST)


def test_no_io_in_init():
    hook = HrFlowHook(hrflow_conn_id="does_not_exist")  # would raise if __init__ looked the connection up
    assert "connection" not in hook.__dict__ and "client" not in hook.__dict__
    with pytest.raises(AirflowNotFoundException, match="does_not_exist"):
        _ = hook.client  # the first use is where the connection is read


def test_iter_search_reads_every_page_once(hook, sandbox):
    keys = sandbox.state.seed("profile", SOURCE, 25, spread_seconds=1)
    found = [o["key"] for o in hook.iter_search(PROFILE, [SOURCE], page_size=4)]
    assert sorted(found) == sorted(keys) and len(found) == 25
    # keyset paging: each page restarts at the newest created_at seen (the objects of that instant come again)
    assert sandbox.state.calls["GET /v1/profiles/searching"] == 9


def test_keyset_paging_never_goes_past_a_result_window_and_keeps_same_second_objects(hook, sandbox):
    sandbox.state.max_result_window = 8
    keys = sandbox.state.seed("profile", SOURCE, 7, created_at="2026-01-01T00:00:00+00:00", spread_seconds=0)
    keys += sandbox.state.seed("profile", SOURCE, 30, start=7, created_at="2026-01-02T00:00:00+00:00", spread_seconds=1)
    pages = []
    found = [
        o["key"] for o in hook.iter_search(PROFILE, [SOURCE], page_size=4, on_page=lambda n, meta: pages.append(n))
    ]
    assert sorted(found) == sorted(keys) and len(found) == len(set(found)) == 37
    assert sandbox.state.calls["refused: result window"] == 0 and pages[-1] == 37


def test_objects_leaving_the_results_while_paging_do_not_hide_others(hook, sandbox):
    keys = sandbox.state.seed("profile", SOURCE, 20, created_at="2026-01-01T00:00:00+00:00", spread_seconds=5)
    found = []
    for obj in hook.iter_search(PROFILE, [SOURCE], page_size=4, tags_excluded=[[{"name": "sync", "value": "1"}]]):
        found.append(obj["key"])
        if len(found) == 4:  # someone else tags the first objects meanwhile: the result set shrinks under us
            for key in keys[:4]:
                sandbox.state.update("profile", SOURCE, key, lambda p: p.update(tags=[{"name": "sync", "value": "1"}]))
    assert sorted(found) == sorted(keys)


def test_iter_search_passes_tag_filters_through(hook, sandbox):
    unsynced = sandbox.state.seed("profile", SOURCE, 3)
    sandbox.state.seed("profile", SOURCE, 2, start=3, tags=[{"name": "sync", "value": "1"}])
    found = {o["key"] for o in hook.iter_search(PROFILE, [SOURCE], tags_excluded=[[{"name": "sync", "value": "1"}]])}
    assert found == set(unsynced)


def test_iter_search_searches_again_when_results_shrink_while_paging(hook, sandbox, monkeypatch):
    keys = sandbox.state.seed("profile", SOURCE, 10, spread_seconds=1)
    original = sandbox.state.search

    def tagging_elsewhere(kind, containers, params):
        # after page 1 is served, someone else tags the first 3 profiles: page 2 shifts left
        if params.get("page") == "2" and not getattr(tagging_elsewhere, "done", False):
            tagging_elsewhere.done = True
            for key in keys[:3]:
                sandbox.state.update("profile", SOURCE, key, lambda o: o.update(tags=[{"name": "sync", "value": "1"}]))
        return original(kind, containers, params)

    monkeypatch.setattr(sandbox.state, "search", tagging_elsewhere)
    found = [
        o["key"]
        for o in hook.iter_search(PROFILE, [SOURCE], page_size=5, tags_excluded=[[{"name": "sync", "value": "1"}]])
    ]
    assert set(found) >= set(keys[3:])  # nothing unsynced was skipped
    assert len(found) == len(set(found))


def test_get_unknown_profile_raises_not_found_without_retry(hook, sandbox):
    sandbox.state.seed("profile", SOURCE, 1)
    with pytest.raises(HrFlowNotFoundError, match="Unable to find object: profile"):
        hook.get_object(PROFILE, SOURCE, make_key("missing"))
    assert sandbox.state.calls["GET /v1/profile/indexing"] == 1


def test_wrong_secret_raises_auth_error(sandbox, monkeypatch):
    conn = json.loads(sandbox.airflow_env()["AIRFLOW_CONN_HRFLOW_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_DEFAULT", json.dumps({**conn, "password": "askw_" + "f" * 32}))
    with pytest.raises(HrFlowAuthError, match="HTTP 401.*check connection 'hrflow_default'"):
        list(HrFlowHook(retry=FAST).iter_search(PROFILE, [SOURCE]))


def test_exhausted_5xx_is_transient(hook, sandbox):
    sandbox.state.seed("profile", SOURCE, 1)
    sandbox.state.faults.append(Fault(path="/v1/profiles/searching", status=503, times=5))
    with pytest.raises(TransientError, match="HTTP 503"):
        list(hook.iter_search(PROFILE, [SOURCE]))


def test_add_sync_tag_rereads_and_never_edits_synced_objects(hook, sandbox):
    [key] = sandbox.state.seed("job", SOURCE, 1, tags=[{"name": "team", "value": "data"}])
    sandbox.state.update("job", SOURCE, key, lambda o: o.update(summary="edited after search"))
    assert hook.add_sync_tag(JOB, SOURCE, key) == "tagged"
    assert hook.add_sync_tag(JOB, SOURCE, key) == "already"
    job = sandbox.state.get("job", SOURCE, key)
    assert job["summary"] == "edited after search"
    assert job["tags"] == [{"name": "team", "value": "data"}, {"name": "sync", "value": "1"}]
    assert sandbox.state.edits[key] == 1
    assert hook.newest_write == job["updated_at"]  # HrFlow's date of our own edit: the next watermark


def test_add_sync_tags_reports_missing_objects_per_item(hook, sandbox):
    keys = sandbox.state.seed("profile", SOURCE, 3)
    outcomes = hook.add_sync_tags(PROFILE, [(k, SOURCE) for k in keys] + [(make_key("gone"), SOURCE)], concurrency=4)
    assert [o[1] for o in outcomes] == ["tagged", "tagged", "tagged", "failed"]
    assert "Unable to find object" in outcomes[3][2]


def test_test_connection(sandbox, monkeypatch):
    assert HrFlowHook().test_connection() == (True, f"Connected to HrFlow at {sandbox.url}/v1/")
    conn = json.loads(sandbox.airflow_env()["AIRFLOW_CONN_HRFLOW_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_DEFAULT", json.dumps({**conn, "password": "askw_" + "f" * 32}))
    ok, message = HrFlowHook().test_connection()
    assert not ok and "HTTP 401" in message
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_DEFAULT", json.dumps({**conn, "password": "not-a-secret"}))
    ok, message = HrFlowHook().test_connection()
    assert not ok and "malformed" in message


@pytest.mark.parametrize(
    ("field", "label"), [("login", "login (API user email)"), ("password", "password (API secret)")]
)
def test_missing_credentials_name_connection_and_field(sandbox, monkeypatch, field, label):
    conn = json.loads(sandbox.airflow_env()["AIRFLOW_CONN_HRFLOW_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_DEFAULT", json.dumps({**conn, field: None}))
    with pytest.raises(BadConfigError, match=re.escape(f"Connection 'hrflow_default' has no {label}")):
        _ = HrFlowHook().client


def test_empty_host_means_public_api(sandbox, monkeypatch):
    conn = json.loads(sandbox.airflow_env()["AIRFLOW_CONN_HRFLOW_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_DEFAULT", json.dumps({**conn, "host": ""}))
    assert HrFlowHook().api_url == "https://api.hrflow.ai/v1/"


# -- the real API's listing, eligibility and error answers -----------------------------------------------------
def _hide_from_search(obj):
    """Make a profile ineligible for HrFlow search: no text (the rule's second half)."""
    obj["text"] = ""


def test_storing_listing_returns_profiles_search_cannot_see(hook, sandbox):
    visible = sandbox.state.seed("profile", SOURCE, 3, spread_seconds=1)
    hidden = sandbox.state.seed("profile", SOURCE, 2, start=3, spread_seconds=1)
    for key in hidden:
        sandbox.state.update("profile", SOURCE, key, _hide_from_search)

    searched = {o["key"] for o in hook.iter_search(PROFILE, [SOURCE], page_size=2)}
    stored = [o for o in hook.iter_stored(PROFILE, [SOURCE], page_size=2)]

    assert searched == set(visible)
    assert {o["key"] for o in stored} == set(visible + hidden)
    assert all(o["info"]["email"] for o in stored)  # whole objects (return_profile), not keys and dates only
    assert sandbox.state.calls["GET /v1/storing/profiles"] == 5  # keyset pages of 2 re-read their newest object


def test_search_index_lags_behind_writes(hook, sandbox):
    sandbox.state.index_delay = 60
    [key] = sandbox.state.seed("profile", SOURCE, 1)
    assert [o["key"] for o in hook.iter_search(PROFILE, [SOURCE])] == []
    assert [o["key"] for o in hook.iter_stored(PROFILE, [SOURCE])] == [key]


def test_402_over_quota_raises_at_once_naming_the_quota(hook, sandbox):
    sandbox.state.faults.append(
        Fault(path="/v1/profiles/searching", status=402, times=5, reason="Over plan quota on this endpoint")
    )
    with pytest.raises(HrFlowQuotaError, match="Over plan quota on this endpoint.*quota for this endpoint is used up"):
        list(hook.iter_search(PROFILE, [SOURCE]))
    assert sandbox.state.calls["GET /v1/profiles/searching"] == 1


def test_200_html_page_is_retried_and_never_read_as_an_empty_page(hook, sandbox):
    keys = sandbox.state.seed("profile", SOURCE, 2)
    sandbox.state.faults.append(Fault(path="/v1/storing/profiles", status=200, content_type="text/html", times=2))
    assert sorted(o["key"] for o in hook.iter_stored(PROFILE, [SOURCE])) == sorted(keys)
    assert sandbox.state.calls["GET /v1/storing/profiles"] == 3


def test_200_html_page_that_persists_raises_after_every_attempt(hook, sandbox):
    sandbox.state.seed("profile", SOURCE, 2)
    sandbox.state.faults.append(Fault(path="/v1/profiles/searching", status=200, content_type="text/html", times=99))
    with pytest.raises(HrFlowEmptyAnswerError, match="HTTP 200 without 'data'.*after 3 attempts"):
        list(hook.iter_search(PROFILE, [SOURCE]))
    assert sandbox.state.calls["GET /v1/profiles/searching"] == FAST.attempts


def test_dates_are_sent_in_hrflow_form(hook, sandbox, monkeypatch):
    sandbox.state.seed("profile", SOURCE, 1)
    seen = []
    original = sandbox.state.search

    def spy(kind, containers, params):
        seen.append(params)
        return original(kind, containers, params)

    monkeypatch.setattr(sandbox.state, "search", spy)
    low = datetime(2026, 5, 15, 10, 0, 0, 250000, tzinfo=timezone.utc)
    list(hook.iter_search(PROFILE, [SOURCE], created_at_min=low, created_at_max=low + timedelta(hours=13)))
    assert seen[0]["created_at_min"] == "2026-05-15T10:00:00.250Z"
    # the max goes to the next midnight: a server reading only its date still returns the whole window
    assert seen[0]["created_at_max"] == "2026-05-16T00:00:00.000Z"
    assert hrflow_datetime(datetime(2020, 5, 15, 23, 59, 59, tzinfo=timezone.utc)) == "2020-05-15T23:59:59.000Z"


@pytest.mark.parametrize("kind", [PROFILE, JOB], ids=lambda k: k.plural)
def test_tag_put_keeps_both_container_fields(hook, sandbox, kind):
    [key] = sandbox.state.seed(kind.name, SOURCE, 1)
    assert hook.add_sync_tag(kind, SOURCE, key) == "tagged"
    after = sandbox.state.get(kind.name, SOURCE, key)
    assert after[kind.container_key_field] == SOURCE and after[kind.container]["key"] == SOURCE
