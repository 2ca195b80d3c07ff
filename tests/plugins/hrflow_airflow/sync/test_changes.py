"""The changes listing, called directly against the sandbox's HrFlow: the upgrade's baseline, then only edits."""

from __future__ import annotations

import pytest

from hrflow_airflow.ledger import Ledger
from hrflow_airflow.objects import JOB, PROFILE
from hrflow_airflow.sealed import unseal
from hrflow_airflow.sync.batch import post_batch, transform_batch
from hrflow_airflow.sync.changes import commit_watermark, find_changes, find_updates
from hrflow_airflow.sync.config import SyncConfig, Window
from hrflow_airflow.sync.detector import remote_id_of
from hrflow_airflow.ui.actions import resend

FIELD_MAP = {"name": "name", "summary": "summary"}
SYNCED = [{"name": "sync", "value": "1"}, {"name": "ats_id", "value": "ats:42"}]


def config(**overrides) -> SyncConfig:
    values = dict(
        containers=["board"],
        window=Window(),
        sweep=False,
        why="test",
        batch_size=None,
        page_size=4,
        concurrency=None,
        requests_per_minute=None,
        dry_run=False,
    )
    return SyncConfig(**{**values, **overrides})


def changes(cfg: SyncConfig | None = None):
    return find_changes(
        JOB,
        cfg or config(),
        FIELD_MAP,
        ledger_key="ats_jobs_default",
        first_index=2,
        batch_size=None,
        lanes=1,
        concurrency=None,
        max_batches=1024,
    )


def test_jobs_synced_before_the_upgrade_get_a_baseline_then_only_an_edit_is_an_update(sandbox, fernet, ledger_db):
    state = sandbox.state
    keys = state.seed("job", "board", 9, tags=SYNCED, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    state.seed("job", "board", 2, start=9)  # not synced yet: the listing of new objects has them

    batches, stats = changes()  # no watermark: every stored job is read once, nothing is sent
    assert batches == [] and stats["mode"] == "baseline" and stats["baselined"] == 9 and stats["read"] == 11
    entries = Ledger().deliveries.lookup("ats_jobs_default", keys)
    assert {e.state for e in entries.values()} == {"synced"} and {e.remote_id for e in entries.values()} == {"ats:42"}
    assert commit_watermark("ats_jobs_default", stats, []) == stats["watermark"]

    batches, stats = changes()  # nothing edited since
    assert batches == [] and stats["mode"] == "changes" and stats["changed"] == 0

    state.update("job", "board", keys[4], lambda job: job.update(name="Senior welder"))
    state.update("job", "board", keys[5], lambda job: job.update(tags=[*job["tags"], {"name": "x", "value": "y"}]))
    batches, stats = changes()  # two edited, one of them outside the mapped fields: one update
    assert stats["mode"] == "changes" and stats["read"] < 11  # since the watermark (its own second read again)
    assert stats["changed"] == 1 and stats["batches"] == [2]
    [batch] = batches
    assert batch["mode"] == "update" and batch["index"] == 2 and [k for k, _ in batch["items"]] == [keys[4]]
    assert batch["remote_ids"] == {keys[4]: "ats:42"} and batch["bases"][keys[4]] == entries[keys[4]].synced_hash
    assert batch["records"] and unseal(batch)[0] == JOB.record(keys[4], state.get("job", "board", keys[4]), FIELD_MAP)
    assert unseal(batch)[0]["name"] == "Senior welder"  # the record: the batch holds no job


def test_past_the_result_window_and_on_full_sweep_runs_every_object_is_compared(
    sandbox, fernet, ledger_db, monkeypatch
):
    keys = sandbox.state.seed("job", "board", 9, tags=SYNCED, created_at="2026-03-01T00:00:00+00:00", spread_seconds=1)
    _, stats = changes()
    commit_watermark("ats_jobs_default", stats, [])
    for key in keys:
        sandbox.state.update("job", "board", key, lambda job: job.update(summary="rewritten"))
    monkeypatch.setenv("AIRFLOW__HRFLOW__RESULT_WINDOW", "8")  # 9 edits: more than paging may reach
    batches, stats = changes()
    assert stats["mode"] == "sweep" and stats["changed"] == 9 and len(batches[0]["items"]) == 9
    monkeypatch.delenv("AIRFLOW__HRFLOW__RESULT_WINDOW")
    _, stats = changes(config(sweep=True))  # the daily full sweep compares everything too
    assert stats["mode"] == "sweep" and stats["read"] == 9


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ([{"name": "ats_id", "value": "workable:1a"}], "workable:1a"),
        ([{"name": "sync", "value": "1"}], None),
        (None, None),
    ],
)
def test_the_ats_id_comes_from_its_tag(tags, expected):
    assert remote_id_of({"tags": tags}) == expected


def test_a_new_deployment_reads_nothing_to_compare(sandbox, fernet, ledger_db):
    sandbox.state.seed("profile", "src", 5)
    calls = sandbox.state.calls.copy()
    _, stats = find_changes(
        PROFILE,
        config(containers=["src"]),
        {"first_name": "info.first_name"},
        ledger_key="ats_default",
        first_index=0,
        batch_size=None,
        lanes=1,
        concurrency=None,
        max_batches=1024,
    )
    assert stats["mode"] == "baseline" and stats["read"] == 0 and stats["calls"] == 2
    assert sum(sandbox.state.calls.values()) - sum(calls.values()) == 2  # the newest date, one search of sync=1


def test_edits_of_objects_created_before_the_floor_are_never_sent(sandbox, fernet, ledger_db):
    """created_at_floor holds for updates too: an old synced job edited in HrFlow stays out of the ATS."""
    from datetime import datetime, timezone

    state = sandbox.state
    old = state.seed("job", "board", 3, tags=SYNCED, created_at="2025-03-01T00:00:00+00:00", spread_seconds=60)
    new = state.seed("job", "board", 3, start=3, tags=SYNCED, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    floor = config(floor=datetime(2026, 1, 1, tzinfo=timezone.utc))
    _, stats = changes(floor)
    commit_watermark("ats_jobs_default", stats, [])
    for key in (old[0], new[0]):
        state.update("job", "board", key, lambda job: job.update(name="Renamed"))
    batches, stats = changes(floor)
    assert stats["changed"] == 1 and [k for k, _ in batches[0]["items"]] == [new[0]]


def test_a_resend_queued_on_the_page_goes_on_the_next_run_with_updates_off(sandbox, fernet, ledger_db):
    state = sandbox.state
    keys = state.seed("job", "board", 3, tags=SYNCED, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    _, stats = changes()  # the ledger holds each synced job's hash
    mark = commit_watermark("ats_jobs_default", stats, [])
    state.update("job", "board", keys[0], lambda job: job.update(name="Edited"))  # an edit: waits for updates on
    ledger = Ledger()
    assert resend(ledger, "ats_jobs_default", keys[1]) == "queued: the next run sends it again as an update"
    assert resend(ledger, "ats_jobs_default", keys[1]).startswith("already queued")

    batches: list = []  # the run's batches of new objects: none
    found = find_updates(
        JOB, config(), FIELD_MAP, batches=batches, ledger_key="ats_jobs_default", updates=False, max_batches=1024
    )
    assert found is not None and found["mode"] == "resend" and found["watermark"] is None
    [batch] = batches
    assert batch["mode"] == "update" and [k for k, _ in batch["items"]] == [keys[1]]  # the queued key only
    assert batch["remote_ids"] == {keys[1]: "ats:42"}

    posted = post_batch(JOB, transform_batch(batch, FIELD_MAP, kind=JOB), run_id="r2")
    assert posted["updated"] == [[keys[1], "board"]] and posted["rejected"] == []
    entry = ledger.deliveries.lookup("ats_jobs_default", [keys[1]])[keys[1]]
    assert entry.state == "synced" and entry.synced_hash not in (None, "resend")
    # the watermark stays: the edit of keys[0] is for the next run with updates on
    assert commit_watermark("ats_jobs_default", found, [batch["index"]], "2099-01-01T00:00:00+0000") is None
    assert ledger.watermarks.get("ats_jobs_default", stats["scope"]) == mark

    again: list = []  # updates off and nothing queued: no changes listing, as before
    off = find_updates(
        JOB, config(), FIELD_MAP, batches=again, ledger_key="ats_jobs_default", updates=False, max_batches=1024
    )
    assert off is None and again == []
