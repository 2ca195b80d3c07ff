"""Keyset paging against the sandbox, whether HrFlow honours the time of created_at_min or only its date."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from hrflow_airflow.hooks.hrflow_api import HrFlowHook, HrFlowListingError
from hrflow_airflow.hooks.http import RetryPolicy
from hrflow_airflow.hooks.keyset import Keyset, next_midnight
from hrflow_airflow.objects import PROFILE
from sandbox.objects import make_key

SOURCE = make_key("source", "keyset")
DAY0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
UNSYNCED = {"tags_excluded": [[{"name": "sync", "value": "1"}]]}


@pytest.fixture
def window_of(sandbox, monkeypatch):
    """Cap the sandbox's listings at ``n`` results deep, and tell the sync so ([hrflow] result_window)."""

    def cap(n: int) -> None:
        sandbox.state.max_result_window = n
        monkeypatch.setenv("AIRFLOW__HRFLOW__RESULT_WINDOW", str(n))

    return cap


def seed_days(sandbox) -> list[str]:
    """3,000 profiles, 300 a day over ten days, then 250 created in one second of the fourth day."""
    keys = sandbox.state.seed("profile", SOURCE, 3000, created_at=DAY0.isoformat(), spread_seconds=288)
    burst = (DAY0 + timedelta(days=3, hours=11, minutes=30)).isoformat()
    return keys + sandbox.state.seed("profile", SOURCE, 250, start=3000, created_at=burst)


@pytest.mark.parametrize("date_only", [True, False], ids=["date-only", "full-timestamp"])
@pytest.mark.parametrize("listing", ["search", "stored"])
def test_every_object_is_read_exactly_once_past_the_result_window(sandbox, window_of, date_only, listing):
    """3,250 objects, a 1,000-deep result window, 100 a page: each object once, whatever the filters honour."""
    keys = seed_days(sandbox)
    sandbox.state.date_only_filters = date_only
    window_of(1000)
    hook = HrFlowHook(retry=RetryPolicy(attempts=2, backoff=0.01))
    read = hook.iter_search if listing == "search" else hook.iter_stored

    got = Counter(
        obj["key"] for obj in read(PROFILE, [SOURCE], page_size=100, **(UNSYNCED if listing == "search" else {}))
    )

    assert set(got) == set(keys) and max(got.values()) == 1
    assert sandbox.state.calls["refused: result window"] == 0
    calls = sum(n for call, n in sandbox.state.calls.items() if call.startswith("GET /v1/"))
    assert calls <= 3250 // 100 + (2 * 11 if date_only else 3)  # about a page more per day when re-reading a day


@pytest.mark.parametrize("date_only", [True, False], ids=["date-only", "full-timestamp"])
def test_a_window_inside_days_yields_exactly_its_objects(sandbox, window_of, date_only):
    keys = seed_days(sandbox)
    sandbox.state.date_only_filters = date_only
    window_of(1000)
    low, high = DAY0 + timedelta(days=2, hours=12), DAY0 + timedelta(days=6, hours=6)
    expected = {
        k for k in keys if low <= datetime.fromisoformat(sandbox.state.get("profile", SOURCE, k)["created_at"]) <= high
    }

    got = Counter(
        o["key"]
        for o in HrFlowHook().iter_stored(PROFILE, [SOURCE], page_size=100, created_at_min=low, created_at_max=high)
    )

    assert set(got) == expected and max(got.values()) == 1 and len(expected) > 1000


def test_a_day_holding_more_than_the_result_window_fails_naming_the_day_and_the_limit(sandbox, window_of):
    """Date-only filters: 1,200 objects on 2026-03-01 cannot be paged through 1,000 deep; nothing is read in part."""
    sandbox.state.seed("profile", SOURCE, 1200, created_at=DAY0.isoformat(), spread_seconds=60)
    sandbox.state.seed("profile", SOURCE, 10, start=1200, created_at=(DAY0 + timedelta(hours=3)).isoformat())
    sandbox.state.date_only_filters = True
    window_of(1000)
    hook = HrFlowHook()
    with pytest.raises(HrFlowListingError, match=r"day 2026-03-01 holds more objects .*\(1000 results, \[hrflow\]"):
        list(hook.iter_stored(PROFILE, [SOURCE], page_size=100, created_at_min=DAY0 + timedelta(hours=2)))
    assert sandbox.state.calls["refused: result window"] == 0  # it stopped before HrFlow had to refuse


def test_keyset_pages_deeper_into_the_same_day_once_hrflow_shows_it_reads_the_date_only():
    keyset = Keyset(2, floor=DAY0 + timedelta(hours=5), depth=None)
    page = [
        {"key": "a", "created_at": "2026-03-01T01:00:00+00:00"},  # before the instant asked for: date-only
        {"key": "b", "created_at": "2026-03-01T06:00:00+00:00"},
    ]
    assert [o["key"] for o in keyset.new(page)] == ["b"] and keyset.date_only
    assert keyset.advance(page) and keyset.request()["page"] == 2  # the same query, one page deeper
    nxt = [
        {"key": "c", "created_at": "2026-03-02T01:00:00+00:00"},
        {"key": "d", "created_at": "2026-03-02T02:00:00+00:00"},
    ]
    assert [o["key"] for o in keyset.new(nxt)] == ["c", "d"]
    assert keyset.advance(nxt) and keyset.request()["page"] == 1  # a new day: a new query from its start
    assert next_midnight(DAY0 + timedelta(hours=1)) == DAY0 + timedelta(days=1) and next_midnight(DAY0) == DAY0
