"""The run summary, in total and per source: pure code, no Airflow run."""

from __future__ import annotations

import json

from hrflow_airflow.objects import PROFILE
from hrflow_airflow.sync.summary import batch_results, build_summary, found_by_container

FIELDS = ("found", "transformed", "posted", "tagged", "skipped", "failed")


def counts(*values: int) -> dict[str, int]:
    return dict(zip(FIELDS, values))


def test_found_by_container_counts_empty_containers_too():
    items = [["k1", "a", {}], ["k2", "b", {}], ["k3", "a", {}]]
    assert found_by_container(items, ["a", "b", "c"]) == {"a": 2, "b": 1, "c": 0}


def test_summary_splits_counts_and_failures_per_source():
    stats = {"found": 5, "batches": 2, "found_by_container": {"a": 3, "b": 2}}
    transformed = [
        {
            "index": 0,
            "items": [["k1", "a"], ["k2", "a"]],
            "records": [{}, {}],
            "failed": [{"key": "k3", "container": "a", "reason": "mapping failed: x"}],
        },
        {"index": 1, "items": [["k4", "b"], ["k5", "b"]], "records": [{}, {}], "failed": []},
    ]
    posted = [
        {"index": 0, "accepted": [["k1", "a"], ["k2", "a"]], "rejected": []},
        {
            "index": 1,
            "accepted": [],
            "rejected": [{"key": k, "container": "b", "reason": "ATS HTTP 422"} for k in ("k4", "k5")],
        },
    ]
    tagged = [
        {"index": 0, "tagged": 1, "skipped": 1, "failed": [], "by_container": {"a": {"tagged": 1, "skipped": 1}}},
        {"index": 1, "tagged": 0, "skipped": 0, "failed": [], "by_container": {}},
    ]

    summary = build_summary(PROFILE, stats=stats, dry_run=False, transformed=transformed, posted=posted, tagged=tagged)

    assert summary["by_container"] == {"a": counts(3, 2, 2, 1, 1, 1), "b": counts(2, 2, 0, 0, 0, 2)}
    assert {f: summary[f] for f in FIELDS} == counts(5, 4, 2, 1, 1, 3)
    assert [(f["key"], f["container"]) for f in summary["failed_keys"]] == [("k3", "a"), ("k4", "b"), ("k5", "b")]


def test_summary_reads_each_input_once_one_batch_at_a_time():
    """The report task's inputs are Airflow's lazy XCom sequences: iterated once, never sliced or held whole."""
    stats = {"found": 3000, "batches": 3, "found_by_container": {"a": 3000}}
    fetched = []

    def lazy(name, make):
        for index in range(3):
            fetched.append((name, index))
            yield make(index)

    items = lambda i: [[f"k{i}-{n}", "a"] for n in range(1000)]  # noqa: E731
    summary = build_summary(
        PROFILE,
        stats=stats,
        dry_run=False,
        transformed=lazy("transformed", lambda i: {"index": i, "items": items(i), "failed": []}),
        posted=lazy("posted", lambda i: {"index": i, "accepted": items(i), "rejected": [], "resumed": 1}),
        tagged=lazy(
            "tagged", lambda i: {"index": i, "failed": [], "by_container": {"a": {"tagged": 1000, "skipped": 0}}}
        ),
    )
    assert {f: summary[f] for f in FIELDS} == counts(3000, 3000, 3000, 3000, 0, 0) and summary["resumed"] == 3
    assert sorted(fetched) == sorted((n, i) for n in ("transformed", "posted", "tagged") for i in range(3))


def test_batches_that_never_finished_fail_their_source():
    stats = {"found": 4, "batches": 2, "found_by_container": {"a": 2, "b": 2}}
    transformed = [{"index": 0, "items": [["k1", "a"], ["k2", "a"]], "records": [{}, {}], "failed": []}]
    posted = [{"index": 0, "accepted": [["k1", "a"], ["k2", "a"]], "rejected": []}]

    summary = build_summary(PROFILE, stats=stats, dry_run=False, transformed=transformed, posted=posted, tagged=[])

    assert summary["by_container"] == {"a": counts(2, 2, 2, 0, 0, 2), "b": counts(2, 0, 0, 0, 0, 2)}
    assert summary["failed"] == 4
    reasons = {f["key"]: f["reason"] for f in summary["failed_keys"]}
    assert reasons == {
        "k1": "tag_profiles did not finish",
        "k2": "tag_profiles did not finish",
        "batch 1": "transform did not finish",
    }


def test_dry_run_counts_only_what_was_transformed():
    stats = {"found": 2, "batches": 1, "found_by_container": {"a": 2}}
    transformed = [{"index": 0, "items": [["k1", "a"], ["k2", "a"]], "records": [{}, {}], "failed": []}]

    summary = build_summary(PROFILE, stats=stats, dry_run=True, transformed=transformed, posted=[], tagged=[])

    assert summary["by_container"] == {"a": counts(2, 2, 0, 0, 0, 0)}
    assert summary["dry_run"] is True and summary["failed_keys"] == []


def test_batches_kept_in_memory_are_cut_in_order_and_sealed(monkeypatch):
    """Without an XCom object storage path the spiller returns the sealed batches whole (seal_batch's form)."""
    from cryptography.fernet import Fernet

    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())
    from hrflow_airflow.sealed import unseal
    from hrflow_airflow.sync.find import seal_batch
    from hrflow_airflow.sync.spill import BatchSpiller

    spiller = BatchSpiller(seal_batch, 3, None, {"concurrency": 5})
    for i in range(7):
        spiller.add([f"k{i}", "s", json.dumps({"info": {"email": f"c{i}@example.com"}})])
    batches = spiller.close()
    assert spiller.pending == []
    assert [b["index"] for b in batches] == [0, 1, 2]
    assert [b["items"] for b in batches] == [
        [["k0", "s"], ["k1", "s"], ["k2", "s"]],
        [["k3", "s"], ["k4", "s"], ["k5", "s"]],
        [["k6", "s"]],
    ]
    assert unseal(batches[2]) == [{"info": {"email": "c6@example.com"}}]
    assert all(b["concurrency"] == 5 and "c0@example.com" not in str(b) for b in batches)


def test_batch_results_reads_one_batch_at_a_time_and_skips_batches_that_did_not_finish():
    class FakeTI:  # stands in for the task instance's xcom_pull, recording what was asked
        def __init__(self) -> None:
            self.pulls: list[tuple[str, int]] = []

        def xcom_pull(self, *, task_ids: str, map_indexes: int, default=None):
            self.pulls.append((task_ids, map_indexes))
            return {0: {"index": 0}, 2: {"index": 2}}.get(map_indexes, default)

    ti = FakeTI()
    results = batch_results(ti, "batch.tag_profiles", 3)
    assert ti.pulls == []  # lazy: nothing read before the summary asks
    assert next(results) == {"index": 0} and ti.pulls == [("batch.tag_profiles", 0)]
    assert list(results) == [{"index": 2}]  # batch 1 never finished: skipped
    assert ti.pulls == [("batch.tag_profiles", i) for i in range(3)]
