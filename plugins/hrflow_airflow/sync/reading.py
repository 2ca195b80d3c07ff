"""
Read HrFlow's listing for a run: every unsynced object of the window, page after page (search, or the storing
listing on a full sweep), in ``created_at`` slices read at once; mapped to its record as it arrives, the object
itself dropped with its page.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from hrflow_airflow.dates import read_datetime
from hrflow_airflow.hooks.hrflow_api import HrFlowAuthError, HrFlowHook
from hrflow_airflow.mapping import SYNC_TAG, MappingError, is_synced
from hrflow_airflow.objects import ObjectKind
from hrflow_airflow.settings import settings
from hrflow_airflow.sync.config import SyncConfig
from hrflow_airflow.sync.listing import DEFAULT_SLICES, Slice, fewer_collections, run_parallel, slice_count, split

log = logging.getLogger(__name__)
UNSYNCED = {"tags_excluded": [[SYNC_TAG]]}  # search's filter: objects without sync=1


def run_search(
    kind: ObjectKind,
    hook: HrFlowHook,
    cfg: SyncConfig,
    field_map: Mapping[str, str],
    emit: Callable[..., None],
    *,
    job_map: Mapping[str, str] | None = None,
    on_page: Callable[[int, dict[str, Any]], None] | None = None,
    slices: list[Slice] | None = None,
    already: int = 0,
    page_bytes: int | None = None,
    on_listed: Callable[[list[str]], None] | None = None,
) -> int | None:
    """
    Pass ``(item, slice number, created_at)`` to ``emit`` for every unsynced object in the window, page after
    page, ``item`` being what :func:`map_item` makes of the object: its record, never the object itself (nothing
    is held beyond the page being read). ``job_map``: a profile's jobs' ATS ids (``hrflow_job_map``).

    ``slices`` (default: the whole window) are read at once, one thread each, each from its checkpoint
    (see :mod:`hrflow_airflow.sync.listing`); ``already`` objects were listed before a resume; ``page_bytes``: pages
    ask for fewer objects than ``cfg.page_size`` when that many would hold more bytes than this; ``on_listed``
    gets the key of every object the listing returns, synced or not (the full sweep's removal detection).

    Search is used unless the run is a full sweep, which reads the storing listing (every stored object,
    searchable or not), then asks search how many of the pending objects it can see (one call, ``meta.total``),
    to count those only the sweep found (returned; None when not a sweep or when that search failed).
    """
    slices = slices or [Slice(cfg.window)]
    stop, lock, emitted = threading.Event(), threading.Lock(), [already]

    def to_item(obj: dict[str, Any], container: str) -> list[Any]:
        return map_item(kind, obj, container, field_map, job_map)

    def read(number: int, part: Slice) -> None:
        for item, created in read_slice(kind, hook, cfg, part, to_item, on_page, stop, page_bytes, on_listed):
            emit(item, number, created)
            with lock:
                emitted[0] += 1

    with fewer_collections():  # pages of whole objects: see listing.LISTING_GC_THRESHOLD
        run_parallel(slices, read, stop)
    return only_by_sweep(kind, hook, cfg, emitted[0]) if cfg.sweep else None


def read_slice(
    kind: ObjectKind,
    hook: HrFlowHook,
    cfg: SyncConfig,
    part: Slice,
    to_item: Callable[[dict[str, Any], str], list[Any]],
    on_page: Callable[[int, dict[str, Any]], None] | None,
    stop: threading.Event,
    page_bytes: int | None = None,
    on_listed: Callable[[list[str]], None] | None = None,
) -> Any:
    """Yield ``(to_item(object, container), created_at)`` of each unsynced object of ``part``."""
    list_pages = hook.iter_stored if cfg.sweep else hook.iter_search
    extra = {} if cfg.sweep else UNSYNCED
    objs = list_pages(
        kind,
        cfg.containers,
        page_size=cfg.page_size,
        on_page=on_page,
        after=part.after(),
        page_bytes=page_bytes,
        **extra,
        **part.window.search_filters(),
    )
    for obj in objs:
        if stop.is_set():
            return
        if on_listed is not None:
            on_listed([obj["key"]])
        created = obj.get("created_at")
        if is_synced(obj.get("tags")) or not part.window.contains(created):
            continue
        container = sys.intern(kind.container_of(obj, cfg.containers[0]))  # one string per container
        yield to_item(obj, container), read_datetime(created)


def map_item(
    kind: ObjectKind,
    obj: Mapping[str, Any],
    container: str,
    field_map: Mapping[str, str],
    job_map: Mapping[str, str] | None = None,
) -> list[Any]:
    """
    Return ``[key, container, record as JSON]`` for one listed object, or ``[key, container, None, reason]`` when
    its mapping fails (it fails alone: ``transform`` reports it by key). The record reads the object's mapped
    paths only (:meth:`ObjectKind.paths`), so it is the record of the object trimmed to them; compact JSON text
    is a fifth of the memory of the dicts, and what sealing needs anyway.
    """
    key = obj["key"]
    try:
        record = kind.record(key, obj, field_map, job_map)
    except MappingError as exc:
        return [key, container, None, f"mapping failed: {exc}"]
    return [key, container, json.dumps(record, ensure_ascii=False, separators=(",", ":"))]


def only_by_sweep(kind: ObjectKind, hook: HrFlowHook, cfg: SyncConfig, emitted: int) -> int | None:
    """Return how many of the sweep's ``emitted`` objects search cannot see (one call); None if it failed."""
    try:
        _, meta = hook.search_page(kind, cfg.containers, page=1, limit=1, **UNSYNCED, **cfg.window.search_filters())
    except HrFlowAuthError:
        raise
    except Exception as exc:  # the count is informative; the sweep itself has every object
        log.warning(
            "Search beside the full sweep failed (%s): objects found only by the sweep are not counted",
            type(exc).__name__,
        )
        return None
    return max(0, emitted - int(meta.get("total") or 0))


def plan_slices(
    kind: ObjectKind, hook: HrFlowHook, cfg: SyncConfig, estimate: int, sequential: bool = False
) -> list[Slice]:
    """
    Return the listing's slices: ``[hrflow] listing_slices`` ``created_at`` ranges for a listing of enough pages,
    split between the oldest and the newest pending object (two calls of one object). Unset, 4, or one under
    ``airflow dags test`` (``sequential``), whose one process holds every task (docs/performance.md).
    """
    wanted = settings().listing_slices or (1 if sequential else DEFAULT_SLICES)
    count = slice_count(estimate, cfg.page_size, wanted=wanted, concurrency=cfg.concurrency)
    if count < 2:
        return [Slice(cfg.window)]
    read = hook.storing_page if cfg.sweep else hook.search_page
    extra = {} if cfg.sweep else UNSYNCED
    ends = []
    for order in ("asc", "desc"):
        objs, _ = read(
            kind,
            cfg.containers,
            page=1,
            limit=1,
            sort_by="created_at",
            order_by=order,
            **extra,
            **cfg.window.search_filters(),
        )
        ends.append(read_datetime(objs[0].get("created_at") if objs else None))
    return split(cfg.window, ends[0], ends[1], count)


def estimate_pending(kind: ObjectKind, hook: HrFlowHook, cfg: SyncConfig) -> int:
    """Return how many objects the listing will go through, from one call of one object (``meta.total``)."""
    if cfg.sweep:  # every stored object, synced or not: an upper bound
        _, meta = hook.storing_page(kind, cfg.containers, page=1, limit=1, **cfg.window.search_filters())
    else:
        _, meta = hook.search_page(kind, cfg.containers, page=1, limit=1, **UNSYNCED, **cfg.window.search_filters())
    return int(meta.get("total") or 0)
