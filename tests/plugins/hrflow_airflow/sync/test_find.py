"""Listing into batches, called directly against the sandbox's HrFlow (no object storage: batches in memory)."""

from __future__ import annotations

from hrflow_airflow.hooks.api_key import AtsHook
from hrflow_airflow.ledger import Ledger
from hrflow_airflow.mapping import idempotency_key, project
from hrflow_airflow.objects import PROFILE
from hrflow_airflow.sealed import record_hash, unseal
from hrflow_airflow.sync.batch import post_batch, transform_batch
from hrflow_airflow.sync.config import SyncConfig, Window
from hrflow_airflow.sync.find import find_batches

FIELD_MAP = {"first_name": "info.first_name", "email": "info.email"}


def config(**overrides) -> SyncConfig:
    values = dict(
        containers=["src"],
        window=Window(),
        sweep=False,
        why="test",
        batch_size=4,
        page_size=3,
        concurrency=None,
        requests_per_minute=None,
        dry_run=False,
    )
    return SyncConfig(**{**values, **overrides})


def test_find_cuts_every_unsynced_object_into_sealed_batches_and_counts_them(sandbox, fernet, ledger_db):
    fresh = sandbox.state.seed("profile", "src", 9)
    sandbox.state.seed("profile", "src", 2, start=9, tags=[{"name": "sync", "value": "1"}])
    batches, stats = find_batches(PROFILE, config(), FIELD_MAP, dag_id="d", run_id="r", sequential=True)
    assert [len(b["items"]) for b in batches] == [4, 4, 1] and [b["index"] for b in batches] == [0, 1, 2]
    assert sorted(key for b in batches for key, _ in b["items"]) == sorted(fresh)
    assert stats["found"] == 9 and stats["batches"] == 3 and stats["found_by_container"] == {"src": 9}
    assert stats["listing"] == "search" and stats["found_only_by_sweep"] is None
    # the batch holds records, mapped as the listing read them: the profile itself is not kept
    records = [record for b in batches for record in unseal(b)]
    assert all(b["records"] and not b["failed"] for b in batches)
    assert [r["hrflow_key"] for r in records] == [key for b in batches for key, _ in b["items"]]
    for record in records:  # the record of the profile trimmed to the mapped paths, as transform made it
        obj = sandbox.state.get("profile", "src", record["hrflow_key"])
        assert record == PROFILE.record(obj["key"], project(obj, PROFILE.paths(FIELD_MAP)), FIELD_MAP)
        assert set(record) == {"hrflow_key", "first_name", "email", "resume", "applications"}
    assert all(b["lanes"] == 1 and b["concurrency"] for b in batches)


def test_an_object_whose_mapping_fails_while_listed_fails_alone_and_transform_reports_it(sandbox, fernet, ledger_db):
    keys = sandbox.state.seed("profile", "src", 3)
    sandbox.state.update("profile", "src", keys[1], lambda p: p.update(skills="not a list"))
    field_map = {**FIELD_MAP, "skills": "skills[].name"}
    batches, stats = find_batches(PROFILE, config(), field_map, dag_id="d", run_id="r", sequential=True)
    assert stats["found"] == 3 and stats["found_by_container"] == {"src": 3}
    [batch] = batches
    assert [f["key"] for f in batch["failed"]] == [keys[1]] and len(batch["items"]) == 2
    transformed = transform_batch(batch, field_map, kind=PROFILE)
    assert [f["key"] for f in transformed["failed"]] == [keys[1]] and transformed["count"] == 2
    assert "mapping failed: field 'skills'" in transformed["failed"][0]["reason"]
    posted = post_batch(PROFILE, transformed, run_id="r")
    assert sorted(k for k, _ in posted["accepted"]) == sorted([keys[0], keys[2]]) and not posted["mapped_all"]


def test_a_full_sweep_also_finds_what_search_cannot_and_counts_it(sandbox, fernet, ledger_db):
    sandbox.state.seed("profile", "src", 5)
    batches, stats = find_batches(PROFILE, config(sweep=True), FIELD_MAP, dag_id="d", run_id="r", sequential=True)
    assert stats["found"] == 5 and stats["listing"] == "sweep" and stats["found_only_by_sweep"] == 0


def test_a_request_whose_answer_never_came_is_sent_again_whole_under_its_key_after_a_re_cut(sandbox, fernet, ledger_db):
    """An endpoint that honours Idempotency-Key applies each object once, although the next run cuts differently."""
    sandbox.state.honour_idempotency = True  # the JSON wire format's replay
    keys = sandbox.state.seed("profile", "src", 7)
    first, _ = find_batches(PROFILE, config(batch_size=4), FIELD_MAP, dag_id="d", run_id="r1", sequential=True)
    sent = transform_batch(first[0], FIELD_MAP)  # the first run sends its first batch: applied, answer lost
    records = unseal(sent)
    group_key = idempotency_key("profiles", records)
    Ledger().deliveries.record_intent(
        "ats_default",
        [tuple(i) for i in sent["items"]],
        group_key=group_key,
        hashes={r["hrflow_key"]: record_hash(r) for r in records},
    )
    AtsHook(ats_conn_id="ats_default").post_records("profiles", records, idempotency_key=group_key)
    changed = sent["items"][1][0]  # edited in HrFlow since: goes with its request, then as an update
    sandbox.state.update("profile", "src", changed, lambda p: p["info"].update(first_name="Edited"))

    again, _ = find_batches(
        PROFILE, config(batch_size=3), FIELD_MAP, dag_id="d", run_id="r2", sequential=True, ledger_key="ats_default"
    )
    [whole] = [b for b in again if any(k == changed for k, _ in b["items"])]
    assert sorted(k for k, _ in whole["items"]) == sorted(k for k, _ in sent["items"])  # one batch of its own
    assert sorted(k for b in again for k, _ in b["items"]) == sorted(keys)
    for batch in again:
        assert not post_batch(PROFILE, transform_batch(batch, FIELD_MAP), run_id="r2")["rejected"]
    area = sandbox.state.ats_area("profiles")
    assert sorted(area.applied.values()) == [1] * 7 and area.replays == 1  # the request replayed, nothing twice
    assert area.updates == {changed: 1} and area.current[changed]["first_name"] == "Edited"
    assert Ledger().deliveries.lookup("ats_default", [changed])[changed].state == "accepted"


def test_a_large_scheduled_run_stops_before_posting_alerts_once_then_waits_quietly(sandbox, fernet, ledger_db):
    """[hrflow] max_objects_per_run: the first run fails (one alert), later ones do nothing, a run under it clears."""
    import pytest
    from airflow.sdk.exceptions import AirflowFailException

    sandbox.state.seed("profile", "src", 7)
    limited = config(max_objects=5)
    with pytest.raises(AirflowFailException, match=r"7 pending profiles is more than \[hrflow\] max_objects_per_run"):
        find_batches(PROFILE, limited, FIELD_MAP, dag_id="d", run_id="r1", sequential=True, ledger_key="ats")
    batches, stats = find_batches(
        PROFILE, limited, FIELD_MAP, dag_id="d", run_id="r2", sequential=True, ledger_key="ats"
    )
    assert batches == [] and stats["found"] == 0 and "stopped before posting" in stats["why"]
    # someone confirms: the same run with no limit (a manual run, or confirm_large_run) lists all 7 and clears
    batches, _ = find_batches(PROFILE, config(), FIELD_MAP, dag_id="d", run_id="r3", sequential=True, ledger_key="ats")
    assert sum(len(b["items"]) for b in batches) == 7
    with pytest.raises(AirflowFailException):  # a later flood alerts again
        find_batches(PROFILE, limited, FIELD_MAP, dag_id="d", run_id="r4", sequential=True, ledger_key="ats")
    assert sandbox.state.ats_area("profiles").requests == 0


def test_the_floor_keeps_older_objects_out_of_search_and_sweep(sandbox, fernet, ledger_db):
    from datetime import datetime, timezone

    old = sandbox.state.seed("profile", "src", 3, created_at="2025-06-01T00:00:00+00:00", spread_seconds=60)
    new = sandbox.state.seed("profile", "src", 3, start=3, created_at="2026-06-01T00:00:00+00:00", spread_seconds=60)
    floor = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for sweep in (False, True):
        cfg = config(sweep=sweep, floor=floor, window=Window(floor, None))
        batches, _ = find_batches(PROFILE, cfg, FIELD_MAP, dag_id="d", run_id=f"r{sweep}", sequential=True)
        found = {key for b in batches for key, _ in b["items"]}
        assert found == set(new) and not found & set(old)
