"""The listing's slices, checkpoint and resume bookkeeping (plugins/hrflow_airflow/sync/listing.py, spill.py)."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from hrflow_airflow.sync.config import Window
from hrflow_airflow.sync.listing import (
    Checkpoint,
    Slice,
    fewer_collections,
    find_resumable,
    fingerprint,
    read_manifest,
    run_parallel,
    slice_count,
    split,
    start_listing,
)
from hrflow_airflow.sync.spill import BatchSpiller, load_batch, mark_done, resumable_batches

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_split_covers_the_window_with_contiguous_slices_and_open_outer_ends():
    window = Window(None, T0 + timedelta(days=30))
    slices = split(window, T0, T0 + timedelta(days=8), 4)
    assert [s.window.start for s in slices] == [
        None,
        T0 + timedelta(days=2),
        T0 + timedelta(days=4),
        T0 + timedelta(days=6),
    ]
    assert [s.window.end for s in slices] == [
        T0 + timedelta(days=2),
        T0 + timedelta(days=4),
        T0 + timedelta(days=6),
        window.end,
    ]
    # every instant of the window is in exactly one slice (half-open ranges)
    for when in (
        T0 - timedelta(days=1),
        T0,
        T0 + timedelta(days=2),
        T0 + timedelta(days=7, hours=23),
        T0 + timedelta(days=20),
    ):
        assert sum(s.window.contains(when.isoformat()) for s in slices) == 1


def test_split_keeps_one_slice_when_there_is_no_spread():
    assert len(split(Window(), T0, T0, 4)) == 1
    assert len(split(Window(), None, T0, 4)) == 1


def test_slice_count_needs_two_pages_per_slice_and_stays_within_the_concurrency_and_memory():
    assert slice_count(900, 500, wanted=4, concurrency=None) == 1
    assert slice_count(10_000, 250, wanted=4, concurrency=None) == 4
    assert slice_count(10_000, 250, wanted=4, concurrency=2) == 2
    assert slice_count(1_000_000, 500, wanted=4, concurrency=None) == 2  # pages in flight bound the memory


def test_a_slice_keeps_the_keys_of_its_newest_instant_and_round_trips():
    part = Slice(Window(T0, None))
    part.wrote("a", T0)
    part.wrote("b", T0 + timedelta(seconds=1))
    part.wrote("c", T0 + timedelta(seconds=1))
    assert part.cursor == T0 + timedelta(seconds=1) and set(part.tail) == {"b", "c"}
    again = Slice.from_json(json.loads(json.dumps(part.to_json())))
    assert again.after() == (part.cursor, part.tail) and again.window == part.window


def test_the_spiller_moves_each_slice_checkpoint_only_past_written_files(tmp_path):
    slices = [Slice(Window()), Slice(Window())]
    saved = []
    spiller = BatchSpiller(
        lambda i, items: {"index": i, "items": [[k, c] for k, c, _ in items]},
        2,
        tmp_path,
        {},
        slices=slices,
        checkpoint=lambda batches: saved.append(len(batches)),
    )
    spiller.add(["k1", "src", "{}"], 0, T0)
    spiller.add(["k2", "src", "{}"], 1, T0 + timedelta(seconds=5))
    spiller.add(["k3", "src", "{}"], 0, T0 + timedelta(seconds=1))  # not written yet
    assert saved == [1] and slices[0].cursor == T0 and slices[1].cursor == T0 + timedelta(seconds=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch-00000.json"]
    batches = spiller.close()
    assert saved == [1, 2] and slices[0].cursor == T0 + timedelta(seconds=1) and spiller.count == 3
    resumed = BatchSpiller(lambda i, items: {"index": i, "items": []}, 2, tmp_path, {}, adopted=batches)
    assert resumed.count == 3 and len(resumed.close()) == 2  # adopted batches are kept, numbering goes on


def _manifest(directory, state, key="k", window_end=None):
    directory.mkdir(parents=True)
    Checkpoint(
        directory,
        run_id=directory.name,
        key=key,
        window_end=window_end,
        batch_size=10,
        slices=[Slice(Window())],
        dirs=[str(directory)],
    )([], state=state)


def test_find_resumable_prefers_the_runs_own_listing_then_the_newest_matching_one(tmp_path):
    _manifest(tmp_path / "adopted", "adopted")
    _manifest(tmp_path / "other_source", "listing", key="other")
    _manifest(tmp_path / "later_window", "listing", window_end=T0 + timedelta(days=2))
    (tmp_path / "half_written").mkdir()
    (tmp_path / "half_written" / "listing.json").write_text('{"state": "list')
    assert find_resumable(tmp_path, tmp_path / "mine", "k", T0) is None
    _manifest(tmp_path / "killed", "listing")
    _manifest(tmp_path / "listed_then_killed", "listed")  # killed while posting or tagging
    for name, updated in (("killed", 1000.0), ("listed_then_killed", 2000.0)):  # which one was written last
        manifest = tmp_path / name / "listing.json"
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "updated": updated}))
    found, manifest = find_resumable(tmp_path, tmp_path / "mine", "k", T0)
    assert found.name == "listed_then_killed" and manifest["state"] == "listed"
    _manifest(tmp_path / "mine", "listing")
    assert find_resumable(tmp_path, tmp_path / "mine", "k", T0)[0].name == "mine"
    assert find_resumable(tmp_path, tmp_path / "mine", "k", None)[0].name == "mine"


def test_fingerprint_differs_with_what_is_listed():
    assert fingerprint(containers=["a"], start=None) == fingerprint(start=None, containers=["a"])
    assert fingerprint(containers=["a"], start=None) != fingerprint(containers=["a"], start=T0)


def test_run_parallel_stops_the_other_slices_and_raises_the_first_error():
    stop = threading.Event()
    read_after_stop = []

    def read(number, part):
        if number == 1:
            raise RuntimeError("HrFlow 500 on slice 1")
        while not stop.is_set():
            time.sleep(0.01)
        read_after_stop.append(number)

    with pytest.raises(RuntimeError, match="slice 1"):
        run_parallel([Slice(Window())] * 3, read, stop)
    assert sorted(read_after_stop) == [0, 2]


def test_tagged_objects_of_a_stopped_run_are_not_taken_again(tmp_path):
    def batch(name, keys):
        path = tmp_path / name
        path.write_text(json.dumps({"index": 9, "items": [[k, "src"] for k in keys]}))
        return {"index": 0, "ref": str(path), "count": len(keys), "containers": {"src": len(keys)}}

    whole, partial, untouched = (
        batch("a.json", ["a1", "a2"]),
        batch("b.json", ["b1", "b2", "b3"]),
        batch("c.json", ["c1"]),
    )
    mark_done(whole["ref"], [["a1", "src"], ["a2", "src"]], complete=True)
    mark_done(partial["ref"], [["b1", "src"]], complete=False)
    mark_done(partial["ref"], [["b2", "src"]], complete=False)  # resumed twice: the marks add up
    left, done = resumable_batches([whole, partial, untouched])
    assert done == 1 and [b["ref"] for b in left] == [partial["ref"], untouched["ref"]]
    assert left[0]["count"] == 1 and left[0]["containers"] == {"src": 1}
    assert load_batch(left[0])["skip"] == ["b1", "b2"] and load_batch(untouched)["skip"] == []
    (tmp_path / "c.json.done").write_text('{"complete": tr')  # half-written: as if absent
    assert resumable_batches([untouched])[0][0]["count"] == 1


def test_start_listing_plans_fresh_slices_or_takes_over_a_stopped_run_with_its_cursors(tmp_path):
    planned = [Slice(Window(None, T0)), Slice(Window(T0, None))]
    first = start_listing(
        tmp_path,
        tmp_path / "dag" / "run1",
        dag_id="dag",
        run_id="run1",
        key="k",
        window_end=None,
        batch_size=2,
        plan=lambda: planned,
    )
    assert first.slices is planned and first.adopted == [] and first.first_file == 0
    assert read_manifest(tmp_path / "dag" / "run1")["state"] == "listing"  # checkpointed before any page is read
    spiller = BatchSpiller(
        lambda i, items: {"index": i, "items": [[k, c] for k, c, _ in items]},
        2,
        tmp_path / "dag" / "run1",
        {},
        slices=first.slices,
        checkpoint=first.checkpoint,
    )
    for n in range(5):
        spiller.add([f"k{n}", "src", "{}"], n % 2, T0 + timedelta(seconds=n))  # killed here: 2 files written
    end = T0 + timedelta(days=1)

    def must_not_plan():
        raise AssertionError("a stopped listing is resumed, not planned again")

    second = start_listing(
        tmp_path,
        tmp_path / "dag" / "run2",
        dag_id="dag",
        run_id="run2",
        key="k",
        window_end=end,
        batch_size=1000,
        plan=must_not_plan,
    )
    assert second.batch_size == 2  # the files already cut keep their size
    assert [b["index"] for b in second.adopted] == [0, 1] and sum(b["count"] for b in second.adopted) == 4
    assert [s.cursor for s in second.slices] == [T0 + timedelta(seconds=2), T0 + timedelta(seconds=3)]
    assert second.slices[-1].window.end == end  # the last slice reads on to this run's end
    assert second.dirs == [str(tmp_path / "dag" / "run1"), str(tmp_path / "dag" / "run2")]
    assert read_manifest(tmp_path / "dag" / "run1")["state"] == "adopted"
    other = start_listing(
        tmp_path,
        tmp_path / "dag" / "run3",
        dag_id="dag",
        run_id="run3",
        key="other",
        window_end=end,
        batch_size=7,
        plan=lambda: [Slice(Window())],
    )
    assert other.adopted == [] and other.batch_size == 7  # another listing is not resumed


def test_the_listing_collects_garbage_less_often_and_restores_the_setting_even_on_error():
    import gc

    before = gc.get_threshold()
    with fewer_collections(50_000):
        assert gc.get_threshold() == (max(50_000, before[0]), *before[1:])
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), fewer_collections(50_000):
        raise RuntimeError("listing failed")
    assert gc.get_threshold() == before
