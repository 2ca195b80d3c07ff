"""
Find the synced objects whose mapped record changed in HrFlow since the destination accepted it: the run's
updates. Nothing is sent for an unchanged record, so our own tagging PUT (which changes ``updated_at``, not the
record) never causes an update.

How a run finds them (one listing per destination and set of containers, its *scope*):

* **since the watermark**: the storing listing sorted by ``updated_at``, newest first (``sort_by=updated_at``,
  ``order_by=desc``: https://developers.hrflow.ai/reference "Find Profiles stored in Sources"), page after page
  until an object older than the watermark. hrflow 4.3.0 has no ``updated_at`` filter, so this pages by page
  number; it costs about one call per page of objects edited since the last run.
* **full sweep**: every stored object is read (keyset paging by ``created_at``, a page in memory at a time) and
  its hash compared: when there is no watermark yet (the first run after an upgrade, or a lost ledger), when
  the edits since it are more than paging can reach (``[hrflow] result_window``, 10,000), and on full-sweep runs
  (the daily one at ``[hrflow] full_sweep_hour``, manual runs without a window). On the first run, objects
  synced before the ledger kept hashes get a **baseline** (what HrFlow holds now, and the ``ats_id`` tag):
  nothing is sent for them. A new deployment (an empty ledger, and search finds no object with ``sync=1``)
  skips it.
* synced objects whose last update the destination refused are read again by key.
* with updates off (``[hrflow] updates``, param ``updates``), only the keys the HrFlow page queued to send again
  (``RESEND_MARK``) are read, by key, and sent as updates (mode ``resend``); the watermark stays where it is.

The watermark is HrFlow's own ``updated_at``, never Airflow's clock: the newest one HrFlow showed when the
listing started, or the newest one it gave our own tagging PUTs when later, so the next run does not read
again what this run tagged. The ``report`` task moves it once every update batch was posted
(:func:`commit_watermark`). The price of taking our PUTs' dates: an edit someone else makes *while* a run is
tagging may be dated before the new watermark; the next full-sweep run (daily) compares every object and
sends it then.

Each changed object's hash is compared with the ledger's ``synced_hash`` (a keyed hash of the last record the
destination accepted); a different one makes an update. Memory holds one page and the changed records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TypedDict

from hrflow_airflow.dates import read_datetime
from hrflow_airflow.hooks.hrflow_api import HrFlowHook
from hrflow_airflow.hooks.keyset import DEFAULT_RESULT_WINDOW
from hrflow_airflow.ledger import Ledger
from hrflow_airflow.ledger.refusals import RESEND_MARK
from hrflow_airflow.mapping import SYNC_TAG
from hrflow_airflow.objects import ObjectKind
from hrflow_airflow.settings import settings
from hrflow_airflow.sync.config import SyncConfig
from hrflow_airflow.sync.detector import Detector
from hrflow_airflow.sync.find import seal_records
from hrflow_airflow.sync.payloads import UPDATE, Batch
from hrflow_airflow.sync.summary import newest

log = logging.getLogger(__name__)
DEFAULT_UPDATE_BATCH = 500
RESEND = "resend"  # the changes listing's mode with updates off: only the re-sends the HrFlow page queued


class ChangeStats(TypedDict):
    """What the changes listing found (the ``stats`` XCom's ``changes``)."""

    mode: str  # "changes" (since the watermark), "sweep" (every stored object), "baseline" (first run), RESEND
    scope: str
    read: int  # objects read
    changed: int  # objects whose mapped record changed: updates
    baselined: int  # synced objects recorded without a send (no hash before)
    calls: int  # HrFlow listing and read calls
    watermark: str | None  # what the report commits once every update batch was posted
    batches: list[int]  # the indexes of the update batches


def scope_of(kind: ObjectKind, containers: Iterable[str]) -> str:
    """Return the watermark's scope: the object kind and its containers."""
    return f"{kind.plural}:{','.join(sorted(containers))}"[:250]


def retry_parts(
    hook: HrFlowHook, kind: ObjectKind, cfg: SyncConfig, detector: Detector, ledger: Ledger, ledger_key: str
) -> int:
    """Read again by key the synced objects whose CV or application must go again (isolated, unknown); return calls."""
    if not kind.whole_candidate:
        return 0
    calls = 0
    for key, container in ledger.parts.to_retry(ledger_key, cfg.containers):
        calls += 1
        try:
            detector.add(hook.get_object(kind, container, key), container, force=True)
        except Exception as exc:  # deleted since, or unreadable: the next run tries again
            log.warning("%s %s: could not be read again for its CV or job (%s)", kind.name, key, type(exc).__name__)
    return calls


def find_changes(
    kind: ObjectKind,
    cfg: SyncConfig,
    field_map: Mapping[str, str],
    *,
    ledger_key: str,
    first_index: int,
    batch_size: int | None,
    lanes: int,
    concurrency: int | None,
    max_batches: int,
    ledger: Ledger | None = None,
    job_map: Mapping[str, str] | None = None,
    updates: bool = True,
) -> tuple[list[Batch], ChangeStats]:
    """
    Return the run's update batches (numbered from ``first_index``) and what the changes listing found; with
    ``updates`` off, only the re-sends the HrFlow page queued (mode :data:`RESEND`, no watermark).
    """
    hook, ledger = HrFlowHook(requests_per_minute=cfg.requests_per_minute), ledger or Ledger()
    scope = scope_of(kind, cfg.containers)
    mark = ledger.watermarks.get(ledger_key, scope) if updates else None
    detector = Detector(kind, field_map, ledger, ledger_key, write=not cfg.dry_run, floor=cfg.floor, job_map=job_map)
    if updates:
        mode, newest, calls = read_changes(hook, kind, cfg, detector, ledger=ledger, ledger_key=ledger_key, mark=mark)
        calls += reread_refused(hook, kind, cfg, detector, ledger, ledger_key)
        calls += retry_parts(hook, kind, cfg, detector, ledger, ledger_key)
    else:
        mode, newest = RESEND, None
        calls = reread_refused(hook, kind, cfg, detector, ledger, ledger_key, marked=RESEND_MARK)
    detector.flush()
    batches = cut(detector, first_index, batch_size, lanes, concurrency, max_batches)
    stats = ChangeStats(
        mode=mode,
        scope=scope,
        read=detector.read,
        changed=len(detector.changed),
        baselined=detector.baselined,
        calls=calls,
        watermark=newest or mark,
        batches=[b["index"] for b in batches],
    )
    log.info(
        "Changes (%s since %s): read %s %s in %s HrFlow call(s); %s changed (updates), %s recorded as a baseline",
        mode,
        mark or "the start",
        stats["read"],
        kind.plural,
        calls,
        stats["changed"],
        stats["baselined"],
    )
    return batches, stats


def find_updates(
    kind: ObjectKind,
    cfg: SyncConfig,
    field_map: Mapping[str, str],
    *,
    batches: list[Batch],
    ledger_key: str,
    updates: bool,
    max_batches: int,
    ledger: Ledger | None = None,
    job_map: Mapping[str, str] | None = None,
) -> ChangeStats | None:
    """
    Add the run's update batches to ``batches`` (its batches of new objects) and return what the changes listing
    found. With ``updates`` off only the re-sends the HrFlow page queued go; None when there are none.
    """
    lanes, concurrency = (batches[0]["lanes"], batches[0]["concurrency"]) if batches else (1, None)
    found, stats = find_changes(
        kind,
        cfg,
        field_map,
        ledger_key=ledger_key,
        first_index=len(batches),
        batch_size=cfg.batch_size,
        lanes=lanes,
        concurrency=concurrency,
        max_batches=max_batches,
        ledger=ledger,
        job_map=job_map,
        updates=updates,
    )
    if not updates and not found:
        return None
    batches += found
    return stats


def read_changes(
    hook: HrFlowHook,
    kind: ObjectKind,
    cfg: SyncConfig,
    detector: Detector,
    *,
    ledger: Ledger,
    ledger_key: str,
    mark: str | None,
) -> tuple[str, str | None, int]:
    """
    Read into ``detector`` what changed since the watermark ``mark``: nothing on a new deployment (a baseline), every
    stored object (the daily sweep, a first run after an upgrade, or more edits than paging reaches), else the
    edits since; return the mode, the newest update before reading and the HrFlow calls made.
    """
    window = settings().result_window or DEFAULT_RESULT_WINDOW
    calls = 1
    newest = newest_update(hook, kind, cfg)  # before reading: what is edited from now on is for the next run
    if mark is None and nothing_synced(hook, kind, cfg, ledger, ledger_key):
        mode = "baseline"  # a new deployment: nothing to compare before now, whatever becomes of this run
        calls += 1
        if newest and not cfg.dry_run:
            ledger.watermarks.set(ledger_key, scope_of(kind, cfg.containers), newest)
    elif mark is None or cfg.sweep:  # first run after an upgrade; the daily full sweep compares everything too
        mode = "baseline" if mark is None else "sweep"
        calls += sweep(hook, kind, cfg, detector)
    else:
        reached, pages = read_since(hook, kind, cfg, mark, detector, window)
        calls += pages
        mode = "changes"
        if not reached:
            log.warning(
                "More %s were edited since %s than paging reaches (%s results): comparing every stored one",
                kind.plural,
                mark,
                window,
            )
            mode = "sweep"
            calls += sweep(hook, kind, cfg, detector)
    return mode, newest, calls


def reread_refused(
    hook: HrFlowHook,
    kind: ObjectKind,
    cfg: SyncConfig,
    detector: Detector,
    ledger: Ledger,
    ledger_key: str,
    marked: str | None = None,
) -> int:
    """
    Read again the objects whose update the ATS refused (a fix may have come since), or only those whose
    ``synced_hash`` is ``marked`` (the re-sends queued); return the calls made.
    """
    calls = 0
    for key, container in ledger.refusals.refused_updates(ledger_key, cfg.containers, synced_hash=marked):
        calls += 1
        try:
            detector.add(hook.get_object(kind, container, key), container)
        except Exception as exc:  # deleted since, or unreadable: the next run tries again
            log.warning("%s %s: its refused update could not be read again (%s)", kind.name, key, type(exc).__name__)
    return calls


def nothing_synced(hook: HrFlowHook, kind: ObjectKind, cfg: SyncConfig, ledger: Ledger, ledger_key: str) -> bool:
    """Return True for a new deployment: the ledger holds nothing and search finds no object with ``sync=1``."""
    if ledger.deliveries.count(ledger_key):
        return False
    _, meta = hook.search_page(kind, cfg.containers, page=1, limit=1, tags_included=[[SYNC_TAG]])
    return not int(meta.get("total") or 0)


def newest_update(hook: HrFlowHook, kind: ObjectKind, cfg: SyncConfig) -> str | None:
    """Return the newest ``updated_at`` among the containers' stored objects (one call of one object)."""
    objs, _ = hook.storing_page(kind, cfg.containers, page=1, limit=1, sort_by="updated_at", order_by="desc")
    return str(objs[0]["updated_at"]) if objs and objs[0].get("updated_at") else None


def read_since(
    hook: HrFlowHook, kind: ObjectKind, cfg: SyncConfig, mark: str, detector: Detector, window: int
) -> tuple[bool, int]:
    """
    Pass every stored object edited at or after ``mark`` to ``detector``, newest first; return whether the
    listing reached the watermark within ``window`` results, and the calls made.
    """
    floor, page, calls = read_datetime(mark), 1, 0
    while page * cfg.page_size <= window:
        objs, _ = hook.storing_page(
            kind, cfg.containers, page=page, limit=cfg.page_size, sort_by="updated_at", order_by="desc"
        )
        calls += 1
        for obj in objs:
            when = read_datetime(obj.get("updated_at"))
            if when is not None and floor is not None and when < floor:
                return True, calls  # older than the watermark: the next run has nothing to read below it
            detector.add(obj, kind.container_of(obj, cfg.containers[0]))
        if len(objs) < cfg.page_size:
            return True, calls
        page += 1
    return False, calls


def sweep(hook: HrFlowHook, kind: ObjectKind, cfg: SyncConfig, detector: Detector) -> int:
    """Pass every stored object of the containers to ``detector`` (keyset paging); return the calls made."""
    pages = [0]
    for obj in hook.iter_stored(
        kind, cfg.containers, page_size=cfg.page_size, on_page=lambda _n, _meta: pages.__setitem__(0, pages[0] + 1)
    ):
        detector.add(obj, kind.container_of(obj, cfg.containers[0]))
    return pages[0]


def cut(
    detector: Detector, first: int, size: int | None, lanes: int, concurrency: int | None, max_batches: int
) -> list[Batch]:
    """Return the changed objects as sealed update batches numbered from ``first``."""
    items = detector.changed
    if not items:
        return []
    size = max(size or DEFAULT_UPDATE_BATCH, -(-len(items) // max(1, max_batches - first)))
    batches = []
    for n, start in enumerate(range(0, len(items), size)):
        part = items[start : start + size]
        keys = [key for key, *_ in part]
        batches.append(
            Batch(
                **seal_records(first + n, part),
                concurrency=concurrency,
                lanes=lanes,
                mode=UPDATE,
                remote_ids={k: detector.remote_ids[k] for k in keys if k in detector.remote_ids},
                bases={k: detector.bases.get(k) for k in keys},
            )
        )
    return batches


def commit_watermark(
    ledger_key: str,
    changes: ChangeStats | None,
    posted_indexes: Iterable[int],
    newest_write: str | None = None,
    ledger: Ledger | None = None,
) -> str | None:
    """
    Move the scope's watermark once every update batch was posted; return where it is now (None: not moved).

    It goes to the newest ``updated_at`` HrFlow showed when the changes listing started, or to the newest one
    it gave our own tagging PUTs (``newest_write``) when later, so the next run does not read again what this
    one tagged.
    """
    if not changes or changes.get("mode") == RESEND or not (changes.get("watermark") or newest_write):
        return None  # with updates off, the edits since the watermark still wait for the next run with updates
    if set(changes["batches"]) - set(posted_indexes):
        log.warning("Some update batches were not posted: the changes since the last watermark are read again")
        return None
    mark = newest(changes.get("watermark"), newest_write)
    (ledger or Ledger()).watermarks.set(ledger_key, changes["scope"], mark)
    return mark
