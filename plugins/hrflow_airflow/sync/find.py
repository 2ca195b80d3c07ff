"""
Find the objects a run must sync: read HrFlow page after page (search, or the storing listing on a full sweep),
map each object to its record as it is read (the object is dropped with its page), and cut the records into
sealed batches while the pages arrive. A batch holds keys and records; an object whose mapping fails is kept as
its key and reason, reported by ``transform``.

Large listings are read in ``created_at`` slices at once and checkpointed, so a stopped run's successor resumes
them (:mod:`hrflow_airflow.sync.listing`); batches go to object storage when it is configured
(:mod:`hrflow_airflow.sync.spill`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from hrflow_airflow.hooks.hrflow_api import HrFlowHook
from hrflow_airflow.ledger import Ledger
from hrflow_airflow.mapping import SYNC_TAG
from hrflow_airflow.objects import ObjectKind
from hrflow_airflow.sealed import seal_items
from hrflow_airflow.settings import settings
from hrflow_airflow.sync.config import SyncConfig
from hrflow_airflow.sync.dag_args import MAX_BATCHES, ats_concurrency, parallel_batches
from hrflow_airflow.sync.large_run import stop_large_run
from hrflow_airflow.sync.listing import (
    Start,
    fingerprint,
    start_listing,
)
from hrflow_airflow.sync.payloads import Batch, Failure, Stats
from hrflow_airflow.sync.plan import Plan, batch_bytes, page_bytes, plan_run
from hrflow_airflow.sync.progress import Progress
from hrflow_airflow.sync.reading import estimate_pending, plan_slices, run_search
from hrflow_airflow.sync.regroup import Regroup
from hrflow_airflow.sync.spill import BatchSpiller, listed_items, run_dir, spill_root
from hrflow_airflow.sync.summary import found_by_container

log = logging.getLogger(__name__)
UNSYNCED = {"tags_excluded": [[SYNC_TAG]]}  # search's filter: objects without sync=1


def find_batches(
    kind: ObjectKind,
    cfg: SyncConfig,
    field_map: Mapping[str, str],
    *,
    dag_id: str,
    run_id: str,
    sequential: bool,
    ledger_key: str | None = None,
    ledger: Ledger | None = None,
    on_listed: Callable[[list[str]], None] | None = None,
    job_map: Mapping[str, str] | None = None,
) -> tuple[list[Batch], Stats]:
    """
    Return the run's batches of unsynced objects and what was found (``sequential``: under ``dags test``).

    Objects the ledger holds as sent in a request whose answer never came (``ledger_key``'s intent groups) are
    cut into a batch of their own per request, so that request can be sent again as it was (:class:`Regroup`).
    ``job_map``: the ATS ids of the jobs a profile's record names (Variable ``hrflow_job_map``).
    """
    hook, ledger = HrFlowHook(requests_per_minute=cfg.requests_per_minute), ledger or Ledger()
    planning = {
        "batch_size": cfg.batch_size,
        "concurrency": cfg.concurrency,
        "requests_per_minute": cfg.requests_per_minute,
        "sequential": sequential,
        "parallel_batches": parallel_batches(),
        "max_in_flight": settings().max_in_flight,
        "max_batches": MAX_BATCHES,
    }
    estimate = estimate_pending(kind, hook, cfg)
    if (stopped := stop_large_run(kind, cfg, estimate, ledger_key, ledger)) is not None:
        return [], nothing_found(cfg, stopped)
    groups = ledger.deliveries.intent_groups(ledger_key, cfg.containers) if ledger_key else {}
    listed = list_batches(
        kind,
        hook,
        cfg,
        field_map,
        plan_run(estimate, **planning).batch_size,
        estimate,
        groups,
        dag_id=dag_id,
        run_id=run_id,
        sequential=sequential,
        on_listed=on_listed,
        job_map=job_map,
    )
    plan = settle_plan(listed.batches, listed.found, listed.size, estimate, planning, cfg, sequential)
    return listed.batches, found_stats(kind, cfg, listed, plan, sequential)


def nothing_found(cfg: SyncConfig, why: str) -> Stats:
    """Return the stats of a run that listed nothing (stopped before posting: ``why``)."""
    return Stats(
        found=0,
        batches=0,
        found_by_container=dict.fromkeys(cfg.containers, 0),
        listing="sweep" if cfg.sweep else "search",
        found_only_by_sweep=None,
        dirs=[],
        why=f"{cfg.why}; {why}",
    )


def found_stats(kind: ObjectKind, cfg: SyncConfig, listed: Listed, plan: Plan, sequential: bool) -> Stats:
    """Log what the listing found and the plan, and return the run's stats."""
    sweep_note = "" if listed.only_by_sweep is None else f", {listed.only_by_sweep} of them only by the full sweep"
    where = f", written to {listed.directory}" if listed.directory is not None else ""
    log.info(
        "Found %s unsynced %s in %s %s(s)%s; %s batch(es) of up to %s%s",
        listed.found,
        kind.plural,
        len(cfg.containers),
        kind.container,
        sweep_note,
        len(listed.batches),
        listed.size,
        where,
    )
    log.info("Plan: %s", plan.why)
    if sequential:
        note_dags_test_memory(len(listed.batches))
    return Stats(
        found=listed.found,
        batches=len(listed.batches),
        found_by_container=count_by_container(listed.batches, cfg.containers),
        listing="sweep" if cfg.sweep else "search",
        found_only_by_sweep=listed.only_by_sweep,
        dirs=list(listed.dirs),
        why=f"{cfg.why}; plan: {plan.why}",
    )


@dataclasses.dataclass(frozen=True)
class Listed:
    """What the listing produced: the batches, the objects found, the batch size, and where they were written."""

    batches: list[Batch]
    found: int
    size: int
    only_by_sweep: int | None
    dirs: list[str]
    directory: Any


def list_batches(
    kind: ObjectKind,
    hook: HrFlowHook,
    cfg: SyncConfig,
    field_map: Mapping[str, str],
    size: int,
    estimate: int,
    groups: dict[str, str],
    *,
    dag_id: str,
    run_id: str,
    sequential: bool,
    on_listed: Callable[[list[str]], None] | None = None,
    job_map: Mapping[str, str] | None = None,
) -> Listed:
    """Read the listing into sealed batches of ``size`` records while the pages arrive; ``groups`` stay whole."""
    spiller, start, directory = open_listing(
        kind,
        hook,
        cfg,
        field_map,
        size,
        estimate,
        dag_id=dag_id,
        run_id=run_id,
        sequential=sequential,
        job_map=job_map,
    )
    slices = start.slices if start else None
    progress = Progress(kind, estimate, every=settings().progress_seconds, tags={"dag_id": dag_id})
    regroup = Regroup(spiller, groups)

    def emit(item: list[Any], slice_number: int = 0, created: datetime | None = None) -> None:
        if not regroup.hold(item, slice_number, created):
            spiller.add(item, slice_number, created)

    parts = f" of created_at: {', '.join(str(s.window) for s in slices)}" if slices and len(slices) > 1 else ""
    log.info("Listing in %s slice(s)%s", len(slices or [None]), parts)
    only_by_sweep = run_search(
        kind,
        hook,
        cfg,
        field_map,
        emit,
        slices=slices,
        already=spiller.count,
        page_bytes=page_bytes(sequential),
        on_listed=on_listed,
        job_map=job_map,
        on_page=lambda _read, meta: progress(spiller.count, meta),
    )
    regroup.close()
    batches = spiller.close()
    progress.finish(spiller.count)
    if start is not None:
        start.checkpoint(batches, state="listed")  # done: no later run resumes it
    return Listed(batches, spiller.count, spiller.size, only_by_sweep, start.dirs if start else [], directory)


DAGS_TEST_BASE_MB, DAGS_TEST_MB_PER_TASK = 255, 0.15  # measured: bench/dags_test_memory.py, docs/performance.md


def note_dags_test_memory(batches: int) -> None:
    """
    Say, before any batch runs, how much memory `airflow dags test` will take: its one process runs every task,
    holds Airflow (~285 MB with one batch's work) and keeps about 0.15 MB per task instance it ran.
    """
    peak = DAGS_TEST_BASE_MB + DAGS_TEST_MB_PER_TASK * 3 * batches
    how = log.warning if peak >= 300 else log.info
    how(
        "airflow dags test runs all %s task instances in this one process: expect about %.0f MB at the peak "
        "(Airflow and one batch ~%s MB, plus ~%s MB per task instance run); a scheduler runs each task in a "
        "process of its own (docs/performance.md)",
        3 * batches,
        peak,
        DAGS_TEST_BASE_MB,
        DAGS_TEST_MB_PER_TASK,
    )


def open_listing(
    kind: ObjectKind,
    hook: HrFlowHook,
    cfg: SyncConfig,
    field_map: Mapping[str, str],
    size: int,
    estimate: int,
    *,
    dag_id: str,
    run_id: str,
    sequential: bool = False,
    job_map: Mapping[str, str] | None = None,
) -> tuple[BatchSpiller, Start | None, Any]:
    """
    Return the spiller batches are cut into, the listing's start (its slices, checkpoint and what a stopped
    run of the same listing already wrote: None without object storage) and the run's batch directory.

    ``sequential`` (``airflow dags test``): one slice unless ``[hrflow] listing_slices`` says otherwise, as one
    process runs every task of the run there and its peak memory is the listing's pages on top of Airflow's own.
    """
    root = spill_root()
    directory = run_dir(root, dag_id, run_id) if root is not None else None
    if directory is None:
        return BatchSpiller(seal_records, size, None, {}, max_bytes=batch_bytes(sequential)), None, None
    key = fingerprint(
        kind=kind.plural,
        containers=sorted(cfg.containers),
        sweep=cfg.sweep,
        start=cfg.window.start,
        field_map=field_map,
        **({"job_map": dict(job_map)} if job_map and kind.whole_candidate else {}),
    )
    start = start_listing(
        root,
        directory,
        dag_id=dag_id,
        run_id=run_id,
        key=key,
        window_end=cfg.window.end,
        batch_size=size,
        plan=lambda: plan_slices(kind, hook, cfg, estimate, sequential=sequential),
    )
    spiller = BatchSpiller(
        seal_records,
        start.batch_size,
        directory,
        {},
        slices=start.slices or (),
        first_file=start.first_file,
        checkpoint=start.checkpoint,
        adopted=start.adopted,
        max_bytes=batch_bytes(sequential),
    )
    return spiller, start, directory


def settle_plan(
    batches: list[Batch],
    found: int,
    size: int,
    estimate: int,
    planning: dict[str, Any],
    cfg: SyncConfig,
    sequential: bool,
) -> Plan:
    """Return the run's plan for what was found, and give each batch its HrFlow concurrency and ATS lanes."""
    plan = plan_run(found, **{**planning, "batch_size": size if cfg.batch_size else None})
    if plan.batch_size != size:
        why = f"{plan.why} (cut at {size} while listing, from an estimate of {estimate})"
        plan = dataclasses.replace(plan, batch_size=size, batches=len(batches), why=why)
    # delivering tasks that may run at once share the destination's rate limits
    lanes = 1 if sequential else max(1, min(len(batches), ats_concurrency()))
    for batch in batches:
        batch.update(concurrency=plan.concurrency, lanes=lanes)
    return plan


def count_by_container(batches: list[Batch], containers: list[str]) -> dict[str, int]:
    """Return how many objects the batches hold per source or board (containers without any count 0)."""
    counts = dict.fromkeys(containers, 0)
    for batch in batches:
        for container, n in (batch.get("containers") or found_by_container(listed_items(batch))).items():
            counts[container] = counts.get(container, 0) + n
    return counts


def seal_records(index: int, items: list[list[Any]]) -> dict[str, Any]:
    """
    Return one batch of the listing as it travels: keys and containers readable, the records (JSON text) sealed,
    ``records`` saying so, and ``failed``: the objects whose mapping failed (``[key, container, None, reason]``
    items), by key and reason.
    """
    kept = [item for item in items if item[2] is not None]
    return {
        "index": index,
        "items": [[key, container] for key, container, *_ in kept],
        "records": True,
        "failed": [Failure(key=i[0], container=i[1], reason=i[3]) for i in items if i[2] is None],
        **seal_items(text for _, _, text, *_ in kept),
    }


def seal_batch(index: int, items: list[list[Any]]) -> dict[str, Any]:
    """Return one batch of trimmed objects (JSON text) as it travels, keys and containers readable: mapped by
    ``transform`` (the update batches of :mod:`.changes`)."""
    return {
        "index": index,
        "items": [[key, container] for key, container, _ in items],
        **seal_items(data for _, _, data in items),
    }
