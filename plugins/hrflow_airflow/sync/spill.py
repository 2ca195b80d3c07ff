"""
Batches written out while the listing pages, so that no task holds a whole source in memory.

``search`` cuts batches as pages arrive and writes each one (keys readable, candidate data sealed, see
:mod:`hrflow_airflow.sealed`) as a file under the XCom object storage path (``[common.io]
xcom_objectstorage_path``: a local path on one machine, S3/GCS/... for workers on several), in
``hrflow_batches/<dag_id>/<run_id>/``. Its XCom is then only a list of references and counts, and each
``transform`` reads its own batch. A successful run deletes its directory; a failed one keeps it (sealed) for
"clear failed tasks". Without an object storage path the batches travel inside the XCom as before.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

SPILL_DIR = "hrflow_batches"
SEALED = "sealed"  # the field of a sealed box holding its tokens (hrflow_airflow.sealed.SEALED, which imports this)


def spill_root() -> Any | None:
    """Return the object storage directory batches go to, or None when no XCom object storage is set."""
    from airflow.sdk import conf

    base = conf.get("common.io", "xcom_objectstorage_path", fallback="") or ""
    if not base:
        return None
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(base) / SPILL_DIR


def run_dir(root: Any, dag_id: str, run_id: str) -> Any:
    """Return the directory of one run's batches."""
    return root / dag_id / re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)


class BatchSpiller:
    """
    Collect ``[key, container, JSON text]`` items (a record, or a trimmed object; ``[key, container, None,
    reason]``: an object whose mapping failed) into batches of ``size`` objects, or fewer once they hold
    ``max_bytes`` of JSON, and write each full batch out.

    Thread-safe: the listing's slices add items at once.

    :param seal_batch: ``(index, items) -> dict``, the sealed form of one batch.
    :param directory: where batch files go; None keeps the sealed batches in memory (returned whole).
    :param extra: fields every batch carries (the plan's concurrency, the delivery lanes).
    :param slices: the listing's slices (:class:`hrflow_airflow.sync.listing.Slice`), told what each file holds.
    :param checkpoint: called with the batch references after each file is written (the listing's manifest).
    :param adopted: batch references an earlier, unfinished listing already wrote (resumed).
    :param first_file: number of the first file written (files already in ``directory`` keep theirs).
    """

    def __init__(
        self,
        seal_batch: Any,
        size: int,
        directory: Any | None,
        extra: dict[str, Any],
        *,
        slices: list[Any] = (),
        checkpoint: Callable[[list[dict[str, Any]]], None] | None = None,
        adopted: list[dict[str, Any]] = (),
        first_file: int = 0,
        max_bytes: int | None = None,
    ) -> None:
        self.seal_batch, self.size, self.directory, self.extra = seal_batch, size, directory, extra
        self.max_bytes, self.pending_bytes = max_bytes, 0
        self.slices, self.checkpoint = list(slices), checkpoint
        self.pending: list[tuple[list[Any], int, Any]] = []
        self.batches: list[dict[str, Any]] = list(adopted)
        self.count = sum(b["count"] for b in adopted)
        self.files = first_file
        self.lock = threading.Lock()

    def add(self, item: list[Any], slice_number: int = 0, created: Any = None) -> None:
        with self.lock:
            self.pending.append((item, slice_number, created))
            self.count += 1
            self.pending_bytes += len(item[2] or "")
            if len(self.pending) >= self.size or (self.max_bytes and self.pending_bytes >= self.max_bytes):
                self._flush()

    def add_group(self, items: list[tuple[list[Any], int, Any]]) -> None:
        """Write ``(item, slice number, created)`` items as one batch of their own, whatever their number."""
        with self.lock:
            held, held_bytes, self.pending = self.pending, self.pending_bytes, list(items)
            self.count += len(items)
            self._flush()
            self.pending, self.pending_bytes = held, held_bytes

    def _flush(self) -> None:
        if not self.pending:
            return
        index = len(self.batches)
        pending, self.pending, self.pending_bytes = self.pending, [], 0
        batch = {**self.seal_batch(index, [item for item, _, _ in pending]), **self.extra}
        if self.directory is None:
            self.batches.append(batch)
            return
        path = self.directory / f"batch-{self.files:05d}.json"
        self.files += 1
        with path.open("w") as handle:
            write_box(handle, batch)
        listed = listed_items(batch)
        self.batches.append(
            {
                "index": index,
                "ref": str(path),
                "count": len(listed),
                "containers": _count(listed),
                **self.extra,
            }
        )
        for item, number, created in pending:  # this file is written: each slice's checkpoint moves past it
            if self.slices:
                self.slices[number].wrote(item[0], created)
        if self.checkpoint is not None:
            self.checkpoint(self.batches)

    def close(self) -> list[dict[str, Any]]:
        with self.lock:
            self._flush()
            return self.batches


def listed_items(batch: dict[str, Any]) -> list[list[str]]:
    """Return ``[key, container]`` of every object a batch holds: its records' and those whose mapping failed."""
    return [*batch["items"], *([f["key"], f["container"]] for f in batch.get("failed") or ())]


def _count(items: list[list[Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, container in items:
        counts[container] = counts.get(container, 0) + 1
    return counts


def load_batch(batch: dict[str, Any], *, head: bool = False) -> dict[str, Any]:
    """
    Return the whole batch a reference points to (a batch that travelled whole is returned as it is), with
    ``skip``: the keys an earlier run of a resumed listing already tagged (see :func:`mark_done`). ``head``:
    without the sealed data (the file's first line only: keys, counts, failures).
    """
    if "ref" not in batch:
        return batch
    from airflow.sdk import ObjectStoragePath

    with ObjectStoragePath(batch["ref"]).open("r") as handle:
        whole = json.loads(handle.readline()) if head else read_box(handle)
    whole.pop("sealed_lines", None)
    return {**whole, "skip": tagged_keys(batch["ref"])}


def tagged_keys(ref: str) -> list[str]:
    """Return the keys of the batch at ``ref`` that an earlier run of a resumed listing tagged (:func:`mark_done`)."""
    mark = read_done(ref)
    return [key for key, _ in mark["items"]] if mark else []


def keep_beside(ref: str | None, name: str, box: dict[str, Any]) -> dict[str, Any]:
    """
    Write ``box`` (sealed data a task returns) next to the batch file at ``ref`` (``<ref>.<name>``) and return a
    reference to it, so the XCom carries a path instead of megabytes Airflow would copy several times on the way
    (serialised, sent, stored, read back). Without a batch file (no object storage), return ``box`` itself.
    """
    if not ref:
        return box
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath(f"{ref}.{name}")
    write_atomic(path, lambda handle: write_box(handle, box))
    return {f"{name}_ref": str(path)}


def load_beside(payload: dict[str, Any], name: str) -> dict[str, Any]:
    """Return what :func:`keep_beside` wrote for ``payload``, or ``payload`` when it carries the data itself."""
    ref = payload.get(f"{name}_ref")
    if not ref:
        return payload
    from airflow.sdk import ObjectStoragePath

    with ObjectStoragePath(ref).open("r") as handle:
        return read_box(handle)


def write_box(handle: Any, box: dict[str, Any]) -> None:
    """
    Write ``box`` as lines: its fields but the sealed tokens as one JSON line, then one token per line. Reading
    it back (:func:`read_box`) then never holds the whole file as one string: a batch's megabytes come and go in
    token-sized pieces, which the allocator reuses instead of keeping the largest piece's size around.
    """
    tokens = box.get(SEALED)
    head = {k: v for k, v in box.items() if k != SEALED}
    if isinstance(tokens, list):
        head["sealed_lines"] = len(tokens)
    elif tokens is not None:
        head[SEALED] = tokens
    handle.write(json.dumps(head, separators=(",", ":")) + "\n")
    for token in tokens if isinstance(tokens, list) else ():
        handle.write(token + "\n")


def read_box(handle: Any) -> dict[str, Any]:
    """Return what :func:`write_box` wrote (a file written whole as one JSON object reads as it is)."""
    box = json.loads(handle.readline())
    if (lines := box.pop("sealed_lines", None)) is not None:
        box[SEALED] = [handle.readline().rstrip("\n") for _ in range(lines)]
    return box


def write_atomic(path: Any, text: str | Callable[[Any], None]) -> None:
    """
    Write ``text`` (or what the callable writes to the handle) to ``path`` whole: through a temporary name and a
    rename where the store can rename.
    """

    def write(handle: Any) -> None:
        text(handle) if callable(text) else handle.write(text)

    temporary = path.parent / f"{path.name}.tmp"
    try:
        with temporary.open("w") as handle:
            write(handle)
        temporary.rename(path)
    except (NotImplementedError, OSError):
        with path.open("w") as handle:
            write(handle)


def mark_done(ref: str, items: list[list[str]], *, complete: bool) -> None:
    """
    Record beside the batch file at ``ref`` which of its objects are tagged (``[key, container]`` pairs) and
    whether that is all of them: a run that resumes this listing skips them (``<ref>.done``).
    """
    from airflow.sdk import ObjectStoragePath

    earlier = read_done(ref)  # a batch resumed more than once: what each run tagged adds up
    if earlier is not None:
        items = [*earlier["items"], *items]
    write_atomic(
        ObjectStoragePath(f"{ref}.done"), json.dumps({"complete": complete, "items": items}, separators=(",", ":"))
    )


def read_done(ref: str | None) -> dict[str, Any] | None:
    """Return the mark of the batch at ``ref`` (see :func:`mark_done`), or None."""
    if not ref:
        return None
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath(f"{ref}.done")
    if not path.exists():
        return None
    try:
        with path.open("r") as handle:
            return json.load(handle)
    except ValueError:  # half-written by a killed task: as if absent (the ledger and the tags still hold)
        return None


def resumable_batches(batches: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """
    Return the batches of a stopped run still to sync, each counting only its objects not tagged yet, and
    how many batches were wholly done.
    """
    left, done = [], 0
    for batch in batches:
        mark = read_done(batch.get("ref"))
        if mark is None:
            left.append(batch)
        elif mark["complete"]:
            done += 1
        else:
            containers = dict(batch.get("containers") or {})
            for _, container in mark["items"]:
                containers[container] = containers.get(container, 0) - 1
            left.append({**batch, "count": batch["count"] - len(mark["items"]), "containers": containers})
    return left, done


def delete_run_dir(root: Any | None, dag_id: str, run_id: str, others: Iterable[str] = ()) -> bool:
    """Delete one run's batch files and the directories of the listings it resumed; return True if there were any."""
    if root is None:
        return False
    from airflow.sdk import ObjectStoragePath

    deleted = False
    for directory in dict.fromkeys([str(run_dir(root, dag_id, run_id)), *others]):
        path = ObjectStoragePath(directory)
        if path.exists():
            remove_tree(path)
            deleted = True
    return deleted


def forget_keys(keys: set[str]) -> int:
    """
    Delete every batch file (and its records and done marks) that carries one of ``keys``, in every run's batch
    directory under the XCom object storage (an erasure request); return how many batch files were deleted.
    """
    root = spill_root()
    if root is None or not root.exists():
        return 0
    deleted = 0
    for path in _batch_files(root):
        with path.open("r") as handle:
            carried = {item[0] for item in json.loads(handle.readline()).get("items") or []}
        if carried & keys:
            for suffix in ("", ".records", ".done"):
                sibling = path.parent / f"{path.name}{suffix}"
                if sibling.exists():
                    sibling.unlink()
            deleted += 1
    return deleted


def _batch_files(directory: Any) -> Any:
    for child in directory.iterdir():
        if child.is_dir():
            yield from _batch_files(child)
        elif re.fullmatch(r"batch-\d+\.json", child.name):
            yield child


def remove_tree(path: Any) -> None:
    """Delete the directory ``path`` and everything under it, on any object store."""
    path.rmdir(recursive=True) if _supports_recursive(path) else _rm_tree(path)


def _supports_recursive(path: Any) -> bool:
    import inspect

    try:
        return "recursive" in inspect.signature(path.rmdir).parameters
    except (TypeError, ValueError):
        return False


def _rm_tree(path: Any) -> None:
    for child in path.iterdir():
        _rm_tree(child) if child.is_dir() else child.unlink()
    path.rmdir()
