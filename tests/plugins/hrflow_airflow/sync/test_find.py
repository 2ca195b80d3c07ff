"""Listing into batches, called directly against the sandbox's HrFlow (no object storage: batches in memory)."""

from __future__ import annotations

from hrflow_airflow.config import SyncConfig, Window
from hrflow_airflow.objects import PROFILE
from hrflow_airflow.sealed import unseal
from hrflow_airflow.sync.find import find_batches

FIELD_MAP = {"first_name": "info.first_name", "email": "info.email"}


def config(**overrides) -> SyncConfig:
    values = dict(
        containers=["src"], window=Window(), sweep=False, why="test", batch_size=4, page_size=3,
        concurrency=None, requests_per_minute=None, dry_run=False,
    )  # fmt: skip
    return SyncConfig(**{**values, **overrides})


def test_find_cuts_every_unsynced_object_into_sealed_batches_and_counts_them(sandbox, fernet, ledger_db):
    fresh = sandbox.state.seed("profile", "src", 9)
    sandbox.state.seed("profile", "src", 2, start=9, tags=[{"name": "sync", "value": "1"}])
    batches, stats = find_batches(PROFILE, config(), FIELD_MAP, dag_id="d", run_id="r", sequential=True)
    assert [len(b["items"]) for b in batches] == [4, 4, 1] and [b["index"] for b in batches] == [0, 1, 2]
    assert sorted(key for b in batches for key, _ in b["items"]) == sorted(fresh)
    assert stats["found"] == 9 and stats["batches"] == 3 and stats["found_by_container"] == {"src": 9}
    assert stats["listing"] == "search" and stats["found_only_by_sweep"] is None
    trimmed = unseal(batches[0])[0]
    assert set(trimmed) == {"info"} and set(trimmed["info"]) == {"first_name", "email"}  # only mapped paths
    assert all(b["lanes"] == 1 and b["concurrency"] for b in batches)


def test_a_full_sweep_also_finds_what_search_cannot_and_counts_it(sandbox, fernet, ledger_db):
    sandbox.state.seed("profile", "src", 5)
    batches, stats = find_batches(PROFILE, config(sweep=True), FIELD_MAP, dag_id="d", run_id="r", sequential=True)
    assert stats["found"] == 5 and stats["listing"] == "sweep" and stats["found_only_by_sweep"] == 0
