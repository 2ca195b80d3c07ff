"""
Parallel and resumable listing of the objects a sync run goes through.

* **Slices.** A large listing is split into ``created_at`` ranges (``[hrflow] listing_slices``, 4 by default,
  never more than the run's HrFlow concurrency nor 1,000 objects of pages in flight), read at once by one thread
  each, each paging by keyset
  (:meth:`HrFlowHook.iter_pages`). The ranges are equal in time between the oldest and the newest pending
  object (two calls of one object each); the outer ones stay open, so objects created during the listing
  are not missed.
* **Checkpoint.** After each batch file is written, ``listing.json`` in the run's batch directory records
  the batches written so far and, per slice, the newest ``created_at`` written and the keys written at
  that instant; once the listing ends it says ``listed``. Each tagging task marks its batch file with the
  objects it tagged (``<batch file>.done``) before the ledger forgets them.
* **Resume.** A run that stopped (a killed task, a crash, failures) is resumed by the task's retry or by the
  next run of the DAG with the same containers, listing, window start and field map: an unfinished listing
  keeps the batches already written and each slice goes on from its cursor (nothing was posted from it:
  posting starts once ``search`` returns); a finished one keeps the batches not wholly tagged, minus the
  objects tagged, and each slice reads on from its cursor for objects created since. Objects already
  accepted by the ATS are in the ledger, so nothing is posted twice either way.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hrflow_airflow.dates import as_datetime
from hrflow_airflow.sync.config import Window
from hrflow_airflow.sync.spill import resumable_batches, write_atomic

log = logging.getLogger(__name__)

MANIFEST = "listing.json"
DEFAULT_SLICES = 4
MS = timedelta(milliseconds=1)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass
class Slice:
    """One ``created_at`` range of the listing and how far its written batches go."""

    window: Window
    cursor: datetime | None = None  # newest created_at written to a batch file
    tail: dict[str, datetime | None] = field(default_factory=dict)  # keys written at or after cursor - 1 ms

    def after(self) -> tuple[datetime, Mapping[str, datetime | None]] | None:
        """Return where :meth:`HrFlowHook.iter_pages` resumes this slice (None: from its start)."""
        return (self.cursor, self.tail) if self.cursor is not None else None

    def wrote(self, key: str, created: datetime | None) -> None:
        """Record that ``key`` (created at ``created``) is in a written batch."""
        if created is not None and (self.cursor is None or created > self.cursor):
            self.cursor = created
            self.tail = {k: at for k, at in self.tail.items() if at is None or at >= created - MS}
        self.tail[key] = created

    def to_json(self) -> dict[str, Any]:
        return {
            "start": _iso(self.window.start),
            "end": _iso(self.window.end),
            "cursor": _iso(self.cursor),
            "tail": {k: _iso(at) for k, at in self.tail.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Slice:
        return cls(
            Window(as_datetime(data["start"]), as_datetime(data["end"])),
            as_datetime(data["cursor"]),
            {k: as_datetime(at) for k, at in data["tail"].items()},
        )


def split(window: Window, oldest: datetime | None, newest: datetime | None, count: int) -> list[Slice]:
    """Cut ``window`` into ``count`` slices of equal time between ``oldest`` and ``newest``; outer ends stay open."""
    if count < 2 or oldest is None or newest is None or newest - oldest < MS * count:
        return [Slice(window)]
    step = (newest - oldest) / count
    cuts = [oldest + step * i for i in range(1, count)]
    cuts = [cut - timedelta(microseconds=cut.microsecond % 1000) for cut in cuts]  # HrFlow dates: milliseconds
    starts, ends = [window.start, *cuts], [*cuts, window.end]
    return [Slice(Window(start, end)) for start, end in zip(starts, ends)]


# objects of all slices' pages held at once: a parsed page of 500 real-shaped profiles is ~21 MB with its raw
# text, so this bounds the listing's memory (~45 MB) whatever the slice count asked for
MAX_LISTED_IN_FLIGHT = 1000


def slice_count(estimate: int, page_size: int, *, wanted: int, concurrency: int | None) -> int:
    """
    Return how many slices to read at once: at least two pages each, within the HrFlow concurrency, and no
    more than ``MAX_LISTED_IN_FLIGHT`` objects in flight (2 slices of the default 500-object pages).
    """
    return max(
        1,
        min(
            wanted, concurrency or wanted, estimate // max(1, 2 * page_size), MAX_LISTED_IN_FLIGHT // max(1, page_size)
        ),
    )


def fingerprint(**what: Any) -> str:
    """Return an id of what a listing reads: only a listing of the same thing is resumed."""
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:20]


def find_resumable(base: Any, own_dir: Any, key: str, window_end: datetime | None) -> tuple[Any, dict[str, Any]] | None:
    """
    Return ``(directory, manifest)`` of the listing to resume under ``base`` (one DAG's batch directories):
    the run's own unfinished listing (a retry), else the newest unfinished one with fingerprint ``key`` whose
    window end is not after this run's. None when there is none.
    """
    if base is None or not base.exists():
        return None
    found = []
    for directory in base.iterdir():
        manifest = read_manifest(directory)
        if manifest is None or manifest.get("state") not in ("listing", "listed") or manifest.get("fingerprint") != key:
            continue
        old_end = as_datetime(manifest.get("window_end"))
        if old_end is not None and window_end is not None and old_end > window_end:
            continue
        found.append((str(directory) == str(own_dir), manifest.get("updated", 0), directory, manifest))
    if not found:
        return None
    _, _, directory, manifest = max(found, key=lambda f: (f[0], f[1]))
    return directory, manifest


def read_manifest(directory: Any) -> dict[str, Any] | None:
    """Return the ``listing.json`` of ``directory``, or None (absent, or half-written by a killed task)."""
    path = directory / MANIFEST
    if not path.exists():
        return None
    try:
        with path.open("r") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def write_manifest(directory: Any, manifest: dict[str, Any]) -> None:
    """Write ``listing.json`` whole (through a temporary name where the store can rename)."""
    write_atomic(directory / MANIFEST, json.dumps({**manifest, "updated": time.time()}, separators=(",", ":")))


class Checkpoint:
    """Keep ``listing.json`` of one run's listing up to date as its batches are written."""

    def __init__(
        self,
        directory: Any,
        *,
        run_id: str,
        key: str,
        window_end: datetime | None,
        batch_size: int,
        slices: list[Slice],
        dirs: list[str],
    ) -> None:
        self.directory, self.slices, self.dirs = directory, slices, dirs
        self.head = {"run_id": run_id, "fingerprint": key, "window_end": _iso(window_end), "batch_size": batch_size}

    def __call__(self, batches: list[dict[str, Any]], state: str = "listing") -> None:
        write_manifest(
            self.directory,
            {
                **self.head,
                "state": state,
                "dirs": self.dirs,
                "batches": batches,
                "slices": [s.to_json() for s in self.slices],
            },
        )


def adopt(directory: Any, manifest: dict[str, Any], *, own_dir: Any, run_id: str) -> None:
    """Mark another run's unfinished listing as taken over by ``run_id``, so that no other run resumes it too."""
    objects, files = sum(b["count"] for b in manifest["batches"]), len(manifest["batches"])
    done = f"; {manifest['done']} fully tagged batch file(s) skipped" if manifest.get("done") else ""
    if str(directory) != str(own_dir):
        write_manifest(directory, {**manifest, "state": "adopted", "adopted_by": run_id})
        log.info(
            "Resuming the unfinished %s of run %s: %s object(s) in %s batch file(s) already written%s",
            "run" if manifest["state"] == "listed" else "listing",
            manifest.get("run_id"),
            objects,
            files,
            done,
        )
    else:
        log.info(
            "Resuming this run's unfinished listing: %s object(s) in %s batch file(s) already written", objects, files
        )


@dataclass
class Start:
    """Where one run's listing starts: its slices, batch size, batches already written and checkpoint."""

    slices: list[Slice]
    batch_size: int
    adopted: list[dict[str, Any]]  # batch files an unfinished run wrote, numbered 0..n-1 for this run's tasks
    dirs: list[str]  # every directory holding this run's batch files (deleted once it succeeds)
    first_file: int  # number of this run's next batch file in its own directory
    checkpoint: Checkpoint


def start_listing(
    root: Any,
    directory: Any,
    *,
    dag_id: str,
    run_id: str,
    key: str,
    window_end: datetime | None,
    batch_size: int,
    plan: Callable[[], list[Slice]],
) -> Start:
    """
    Return where the listing of run ``run_id`` starts, with its checkpoint written.

    An unfinished listing of the same thing (fingerprint ``key``) is resumed: its batch files are kept (those
    wholly tagged are skipped, the others lose the objects tagged), each slice goes on from its cursor and
    the last one reads up to this run's ``window_end``. Otherwise ``plan()`` gives fresh slices.
    """
    directory.mkdir(parents=True, exist_ok=True)
    dirs, adopted, first_file = [str(directory)], [], 0
    resumable = find_resumable(root / dag_id, directory, key, window_end)
    if resumable is None:
        slices = plan()
    else:
        old_dir, manifest = resumable
        if manifest["state"] == "listed":  # listed, then stopped: only what is not tagged yet goes on
            left, done = resumable_batches(manifest["batches"])
            manifest = {**manifest, "batches": left, "done": done}
        adopt(old_dir, manifest, own_dir=directory, run_id=run_id)
        slices = [Slice.from_json(part) for part in manifest["slices"]]
        slices[-1].window = Window(slices[-1].window.start, window_end)  # this run's end: it may read further
        batch_size = manifest["batch_size"]
        # renumbered: the mapped tasks of this run see batches 0..n-1 (files keep their names)
        adopted = [{**b, "index": i} for i, b in enumerate(manifest["batches"])]
        first_file = sum(1 for p in directory.iterdir() if p.name.startswith("batch-") and p.name.endswith(".json"))
        dirs = list(dict.fromkeys([*manifest.get("dirs", []), str(directory)]))
    checkpoint = Checkpoint(
        directory, run_id=run_id, key=key, window_end=window_end, batch_size=batch_size, slices=slices, dirs=dirs
    )
    checkpoint(adopted)
    return Start(slices, batch_size, adopted, dirs, first_file, checkpoint)


def close_run(directory: Any) -> None:
    """
    Mark the listing in ``directory`` as belonging to a run that ended (its report ran, with failures): not
    resumed. Only a run that stopped before its end (killed, crashed) hands its batches to the next one;
    after a run that ended, the next lists from the start, so it also sees objects the cursors passed.
    """
    manifest = read_manifest(directory)
    if manifest is not None and manifest.get("state") in ("listing", "listed"):
        write_manifest(directory, {**manifest, "state": "ended"})


# Objects allocated between two young-generation collections of the garbage collector while listing (Python's
# default: 700). A page of 500 profiles decodes into about half a million dicts, lists and strings; at the
# default, the collector ran hundreds of times per page and its older generations, which hold all of Airflow,
# were traversed again and again: half of the search task's CPU. Decoded JSON holds no reference cycles.
LISTING_GC_THRESHOLD = 100_000


@contextmanager
def fewer_collections(threshold: int = LISTING_GC_THRESHOLD) -> Iterator[None]:
    """Raise the garbage collector's young-generation threshold to ``threshold`` inside the block, then restore it."""
    before = gc.get_threshold()
    gc.set_threshold(max(threshold, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def run_parallel(slices: list[Slice], read: Callable[[int, Slice], None], stop: threading.Event) -> None:
    """
    Run ``read(number, slice)`` for every slice, one thread each. The first error sets ``stop`` (which
    ``read`` checks between objects) and is raised once the others have returned.
    """
    if len(slices) == 1:
        read(0, slices[0])
        return
    with ThreadPoolExecutor(max_workers=len(slices), thread_name_prefix="hrflow-list") as pool:
        futures = [pool.submit(read, number, part) for number, part in enumerate(slices)]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            stop.set()
            wait(futures)
            raise failed[0].exception()
