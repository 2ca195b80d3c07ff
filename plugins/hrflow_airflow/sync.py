"""The sync DAG factory, shared by profiles and jobs: search -> batch (transform -> post_to_ats -> tag) -> report -> summary."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import (
    AssetAlias,
    BaseNotifier,
    CronDataIntervalTimetable,
    Param,
    TriggerRule,
    Variable,
    conf,
    dag,
    task,
    task_group,
)
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from hrflow_airflow.config import (
    DEFAULT_FULL_SWEEP_HOUR,
    MAX_BATCH_PARAM,
    ConfigError,
    SyncConfig,
    parse_datetime,
    plan_run,
    resolve_config,
    resolve_field_map,
    resolve_hrflow_tuning,
)
from hrflow_airflow.destinations import DestinationError, destination_for
from hrflow_airflow.destinations.base import ATS_ID_TAG
from hrflow_airflow.hooks.hrflow_api import HrFlowAuthError, HrFlowHook
from hrflow_airflow.ledger import LedgerHook
from hrflow_airflow.listing import (
    DEFAULT_SLICES,
    Slice,
    close_run,
    fewer_collections,
    fingerprint,
    run_parallel,
    slice_count,
    split,
    start_listing,
)
from hrflow_airflow.mapping import SYNC_TAG, MappingError, is_synced, project, to_record
from hrflow_airflow.monitoring import (
    SYNC_DEADLINE,
    HrFlowAlertNotifier,
    deadline_alert,
    duration_text,
    emit_counts,
    log_run_progress,
    publish_report,
    summary_table,
    under_dags_test,
)
from hrflow_airflow.objects import ObjectKind
from hrflow_airflow.sealed import delete_xcoms, seal, seal_json, unseal
from hrflow_airflow.spill import BatchSpiller, delete_run_dir, load_batch, mark_done, run_dir, spill_root

log = logging.getLogger(__name__)

MAX_BATCHES = 1024  # Airflow's default [core] max_map_length
DEFAULT_SCHEDULE = "0 * * * *"
START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)
FAILED_KEYS_IN_MESSAGE = 20
# Airflow pool that bounds concurrent HrFlow-calling tasks across every worker. Opt-in: set `[hrflow] pool` once
# the pool exists (`airflow pools set hrflow_api 16 ...`); unset, tasks use Airflow's default pool. A task in a
# pool that does not exist is never scheduled, so the webhook refuses deliveries while the pool is missing.
HRFLOW_POOL = conf.get("hrflow", "pool", fallback=None) or "default_pool"
# ATS requests in flight per run (`[hrflow] ats_concurrency` overrides it).
ATS_CONCURRENCY = conf.getint("hrflow", "ats_concurrency", fallback=4)
# Tagging tasks of one run at once: the run's [hrflow] max_in_flight HrFlow calls are shared among them.
PARALLEL_BATCHES = conf.getint("hrflow", "parallel_batches", fallback=4)
BATCH_GROUP = "batch"  # the mapped task group: one instance per batch, transform -> post_to_ats -> tag
# A batch's later stages before other batches' earlier ones: tagging starts as soon as the first batch is
# posted instead of after every batch is (see docs/performance.md, "A million profiles").
DEPTH_FIRST = "upstream"


def ats_pool(conn_id: str) -> str:
    """
    Return the Airflow pool of the tasks that write to destination ``conn_id``: ``[hrflow] ats_pools`` (JSON,
    connection id -> pool), else ``[hrflow] ats_pool``, else ``default_pool``. A pool per ATS account keeps
    every worker together within its rate limits; it must exist (``airflow pools set``).
    """
    raw = conf.get("hrflow", "ats_pools", fallback="") or "{}"
    try:
        pools = json.loads(raw)
        assert isinstance(pools, dict)
    except (ValueError, AssertionError):
        raise ValueError(
            f"[hrflow] ats_pools must be a JSON object of connection id -> pool name, got {raw!r}"
        ) from None
    return pools.get(conn_id) or conf.get("hrflow", "ats_pool", fallback=None) or "default_pool"


def sync_params(kind: ObjectKind) -> dict[str, Param]:
    """Return the JSON-schema params of a sync DAG, with titles and descriptions for the trigger form."""
    return {
        kind.containers_param: Param(
            None,
            type=["null", "array"],
            items={"type": "string", "minLength": 1},
            title=f"{kind.container.title()} keys",
            description=f"HrFlow {kind.container} keys to sync. Empty: use Variable '{kind.containers_variable}'.",
        ),
        "created_at_min": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Created at or after",
            description=f"Only {kind.plural} created at or after this instant (ISO 8601). Empty: no lower bound "
            "(a scheduled run takes every unsynced object created before its interval end; a backfill "
            "run keeps its data interval).",
        ),
        "created_at_max": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Created before",
            description=f"Only {kind.plural} created before this instant (ISO 8601). Empty on a manual run: no upper bound.",
        ),
        "full_sweep": Param(
            None,
            type=["null", "boolean"],
            title="Full sweep",
            description=f"Read the {kind.container}s through HrFlow's storing listing, which returns every stored "
            f"{kind.name}, instead of search, which only returns indexed, search-eligible ones. Empty: "
            "a sweep on manual runs without a window and once a day on schedule ([hrflow] full_sweep_hour).",
        ),
        "batch_size": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=MAX_BATCH_PARAM,
            title="Batch size",
            description=f"{kind.plural.title()} per ATS request and per mapped task. Empty: chosen from the work "
            "found: few large batches under `airflow dags test` (it starts mapped tasks one after "
            "another), about [hrflow] parallel_batches (4) under a scheduler so workers share the work; "
            f"never more than {MAX_BATCHES} batches. The run summary logs the choice and why.",
        ),
        "page_size": Param(
            500,
            type="integer",
            minimum=1,
            maximum=1000,
            title="Listing page size",
            description="Objects per HrFlow search or storing-listing page. Every page is read.",
        ),
        "concurrency": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            maximum=64,
            title="HrFlow concurrency",
            description="Concurrent HrFlow calls inside one tagging task. Empty: [hrflow] max_in_flight (40) "
            "calls per run shared by the tagging tasks that run at once, and no more than "
            "requests_per_minute / 60 when that is set.",
        ),
        "requests_per_minute": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="HrFlow requests per minute",
            description="Client-side rate limit per task, for accounts with a quota. Empty: no limit.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Search and transform only: nothing is posted to the ATS and nothing is tagged.",
        ),
    }


def _config(kind: ObjectKind, context: Mapping[str, Any]) -> SyncConfig:
    try:
        return resolve_config(
            kind,
            context["params"],
            run_type=context["dag_run"].run_type,
            interval_start=context.get("data_interval_start"),
            interval_end=context.get("data_interval_end"),
            get_variable=lambda name: Variable.get(name, default=None),
            full_sweep_hour=conf.getint("hrflow", "full_sweep_hour", fallback=DEFAULT_FULL_SWEEP_HOUR),
        )
    except ConfigError as exc:
        raise AirflowFailException(f"Bad configuration: {exc}") from None


def run_search(
    kind: ObjectKind,
    hook: HrFlowHook,
    cfg: SyncConfig,
    field_map: Mapping[str, str],
    emit: Callable[..., None],
    *,
    on_page: Callable[[int, dict[str, Any]], None] | None = None,
    slices: list[Slice] | None = None,
    already: int = 0,
) -> int | None:
    """
    Pass ``([key, container, trimmed object as JSON], slice number, created_at)`` to ``emit`` for every
    unsynced object in the window, page after page (nothing is held beyond the page being read).

    ``slices`` (default: the whole window) are read at once, one thread each, each from its checkpoint
    (see :mod:`hrflow_airflow.listing`); ``already`` objects were listed before a resume.

    Search is used unless the run is a full sweep, which reads the storing listing (every stored object,
    searchable or not), then asks search how many of the pending objects it can see (one call, ``meta.total``),
    to count those only the sweep found (returned; None when not a sweep or when that search failed).
    """
    paths = list(field_map.values())
    search_filters = {"tags_excluded": [[SYNC_TAG]]}
    slices = slices or [Slice(cfg.window)]
    stop = threading.Event()
    emitted = already
    lock = threading.Lock()

    def read(number: int, part: Slice) -> None:
        nonlocal emitted
        if cfg.sweep:
            objs = hook.iter_stored(
                kind,
                cfg.containers,
                page_size=cfg.page_size,
                on_page=on_page,
                after=part.after(),
                **part.window.search_filters(),
            )
        else:
            objs = hook.iter_search(
                kind,
                cfg.containers,
                page_size=cfg.page_size,
                on_page=on_page,
                after=part.after(),
                **search_filters,
                **part.window.search_filters(),
            )
        for obj in objs:
            if stop.is_set():
                return
            created = obj.get("created_at")
            if is_synced(obj.get("tags")) or not part.window.contains(created):
                continue
            container = sys.intern(kind.container_of(obj, cfg.containers[0]))  # one string per container, not per item
            # compact JSON text: a fifth of the memory of the dicts, and what sealing needs anyway
            emit(
                [obj["key"], container, json.dumps(project(obj, paths), ensure_ascii=False, separators=(",", ":"))],
                number,
                _created_at(created),
            )
            with lock:
                emitted += 1

    with fewer_collections():  # pages of whole objects: see listing.LISTING_GC_THRESHOLD
        run_parallel(slices, read, stop)
    if not cfg.sweep:
        return None
    try:  # one search call (limit 1) says how many pending objects search can see: the rest only the sweep found
        _, meta = hook.search_page(
            kind, cfg.containers, page=1, limit=1, **search_filters, **cfg.window.search_filters()
        )
    except HrFlowAuthError:
        raise
    except Exception as exc:  # the count is informative; the sweep itself has every object
        log.warning(
            "Search beside the full sweep failed (%s): objects found only by the sweep are not counted",
            type(exc).__name__,
        )
        return None
    return max(0, emitted - int(meta.get("total") or 0))


def _created_at(value: Any) -> datetime | None:
    try:
        return parse_datetime(value, "created_at") if value else None
    except ConfigError:
        return None


def plan_slices(kind: ObjectKind, hook: HrFlowHook, cfg: SyncConfig, estimate: int) -> list[Slice]:
    """
    Return the listing's slices: ``[hrflow] listing_slices`` (4) ``created_at`` ranges for a listing of
    enough pages, split between the oldest and the newest pending object (two calls of one object).
    """
    count = slice_count(
        estimate,
        cfg.page_size,
        wanted=conf.getint("hrflow", "listing_slices", fallback=DEFAULT_SLICES),
        concurrency=cfg.concurrency,
    )
    if count < 2:
        return [Slice(cfg.window)]
    read = hook.storing_page if cfg.sweep else hook.search_page
    extra = {} if cfg.sweep else {"tags_excluded": [[SYNC_TAG]]}
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
        created = objs[0].get("created_at") if objs else None
        ends.append(_created_at(created))
    return split(cfg.window, ends[0], ends[1], count)


def estimate_pending(kind: ObjectKind, hook: HrFlowHook, cfg: SyncConfig) -> int:
    """Return how many objects the listing will go through, from one call of one object (``meta.total``)."""
    if cfg.sweep:  # every stored object, synced or not: an upper bound
        _, meta = hook.storing_page(kind, cfg.containers, page=1, limit=1, **cfg.window.search_filters())
    else:
        _, meta = hook.search_page(
            kind, cfg.containers, page=1, limit=1, tags_excluded=[[SYNC_TAG]], **cfg.window.search_filters()
        )
    return int(meta.get("total") or 0)


class Progress:
    """Log the listing's progress every ``every`` seconds: objects so far, the rate, and the time left."""

    def __init__(
        self, kind: ObjectKind, estimate: int, every: float = 10.0, tags: Mapping[str, str] | None = None
    ) -> None:
        self.kind, self.estimate, self.every, self.tags = kind, estimate, every, dict(tags or {})
        self.started = self.last = time.monotonic()
        self.counted = 0  # objects already counted in hrflow.progress.listed
        self.lock = threading.Lock()  # the listing's slices report from their threads

    def __call__(self, listed: int, meta: Mapping[str, Any]) -> None:
        now = time.monotonic()
        with self.lock:
            if now - self.last < self.every:
                return
            self.last = now
            self.finish(listed)
        rate = listed / max(now - self.started, 1e-9)
        left = max(self.estimate - listed, 0)
        log.info(
            "Listing: %s of about %s %s read (%s%%), %.0f/s, about %s left",
            listed,
            self.estimate,
            self.kind.plural,
            min(100, round(100 * listed / self.estimate)) if self.estimate else 100,
            rate,
            duration_text(left / rate) if rate else "?",
        )

    def finish(self, listed: int) -> None:
        """Count the objects listed since the last count in ``hrflow.progress.listed``."""
        emit_counts("progress", {"listed": listed - self.counted}, self.tags)
        self.counted = listed


def seal_batch(index: int, items: list[list[Any]]) -> dict[str, Any]:
    """Return one batch as it travels: keys and containers readable, the trimmed objects (JSON text) sealed."""
    return {
        "index": index,
        "items": [[key, container] for key, container, _ in items],
        **seal_json("[" + ",".join(data for _, _, data in items) + "]"),
    }


def transform_batch(batch: Mapping[str, Any], field_map: Mapping[str, str]) -> dict[str, Any]:
    """Return ATS records for a batch (sealed); an item whose mapping fails is reported by key, the rest go on."""
    records, items, failed = [], [], []
    skip = set(batch.get("skip") or ())  # tagged by the stopped run whose listing this run resumed
    for (key, container), data in zip(batch["items"], unseal(batch)):
        if key in skip:
            continue
        try:
            records.append(to_record(key, data, field_map))
            items.append([key, container])
        except MappingError as exc:
            failed.append({"key": key, "container": container, "reason": f"mapping failed: {exc}"})
    return {
        "index": batch["index"],
        "items": items,
        "failed": failed,
        "count": len(records),
        "concurrency": batch.get("concurrency"),
        "lanes": batch.get("lanes", 1),
        **seal(records),
    }


def found_by_container(items: Iterable[list[Any]], containers: Iterable[str] = ()) -> dict[str, int]:
    """Count search results per source or board; ``containers`` searched without results count 0."""
    return {**dict.fromkeys(containers, 0), **Counter(item[1] for item in items)}


def _lost(items: Iterable[list[str]], reason: str) -> list[dict[str, str]]:
    return [{"key": key, "container": container, "reason": reason} for key, container in items]


def batch_results(ti: Any, task_id: str, batches: int) -> Iterator[dict[str, Any]]:
    """
    Yield the result of mapped task ``task_id`` for each of the run's ``batches``, one XCom read at a time.

    Batches whose task did not finish have none and are skipped. (Passing the task's output to a task outside
    its mapped group would read every batch's result at once, and a run of one batch gets that one result
    instead of a list of one.)
    """
    for index in range(batches):
        value = ti.xcom_pull(task_ids=task_id, map_indexes=index, default=None)
        if value is not None:
            yield value


def build_summary(
    kind: ObjectKind,
    *,
    stats: Mapping[str, Any],
    dry_run: bool,
    transformed: Iterable[Mapping[str, Any]],
    posted: Iterable[Mapping[str, Any]],
    tagged: Iterable[Mapping[str, Any]],
) -> dict[str, Any]:
    """
    Add up the counts and failed keys of one run, in total and per source or board (``by_container``).

    Batches whose task never finished count as failed. The three inputs are read once each, one batch at a
    time (Airflow's lazy XCom sequences): tagging and posting results are reduced to counts per container
    first, so memory holds counts and failed keys, not a million keys.
    """
    tagged_by_index = {t["index"]: {"by_container": t["by_container"], "failed": t["failed"]} for t in tagged}
    posted_by_index: dict[int, dict[str, Any]] = {}
    resumed = 0
    for post in posted:
        resumed += post.get("resumed", 0)
        posted_by_index[post["index"]] = {
            "accepted": Counter(container for _, container in post["accepted"]),
            "rejected": post["rejected"],
            # keys are kept only where tagging never reported: they are what failed
            "untagged": post["accepted"] if post["index"] not in tagged_by_index else [],
        }
    per: dict[str, Counter] = {c: Counter(found=n) for c, n in (stats.get("found_by_container") or {}).items()}
    accounted: Counter = Counter()
    failures: list[dict[str, str]] = []
    seen = set()
    for batch in transformed:
        seen.add(batch["index"])
        for _, container in batch["items"]:
            per.setdefault(container, Counter())["transformed"] += 1
            accounted[container] += 1
        for failure in batch["failed"]:
            accounted[failure["container"]] += 1
        failures += batch["failed"]
        if dry_run:
            continue
        post = posted_by_index.get(batch["index"])
        if post is None:
            failures += _lost(batch["items"], "post_to_ats did not finish")
            continue
        for container, n in post["accepted"].items():
            per[container]["posted"] += n
        failures += post["rejected"]
        tag = tagged_by_index.get(batch["index"])
        if tag is None:
            failures += _lost(post["untagged"], f"tag_{kind.plural} did not finish")
            continue
        for container, counts in tag["by_container"].items():
            per[container]["tagged"] += counts["tagged"]
            per[container]["skipped"] += counts["already"]
        failures += tag["failed"]
    for failure in failures:
        per.setdefault(failure["container"], Counter())["failed"] += 1
    for container, counts in per.items():  # objects found whose batch never got through transform
        if "found_by_container" not in stats:
            counts["found"] = accounted[container]  # only the total is known
        counts["failed"] += counts["found"] - accounted[container]
    # batches whose transform never finished: their keys are not known here, only their count
    failures += [
        {"key": f"batch {i}", "container": None, "reason": "transform did not finish"}
        for i in range(stats["batches"])
        if i not in seen
    ]
    fields = ("found", "transformed", "posted", "tagged", "skipped", "failed")
    by_container = {c: {f: counts[f] for f in fields} for c, counts in sorted(per.items())}
    totals = {f: sum(counts[f] for counts in by_container.values()) for f in fields[1:]}
    totals["failed"] += stats["found"] - sum(counts["found"] for counts in by_container.values())
    return {
        "kind": kind.plural,
        "container": kind.container,
        "found": stats["found"],
        **totals,
        "failed_keys": failures,
        "dry_run": dry_run,
        "by_container": by_container,
        "listing": stats.get("listing", "search"),
        "found_only_by_sweep": stats.get("found_only_by_sweep"),
        "resumed": resumed,
        "why": stats.get("why", ""),
    }


def build_sync_dag(
    kind: ObjectKind, *, doc_md: str, schedule: str = DEFAULT_SCHEDULE, alert_notifiers: Iterable[BaseNotifier] = ()
):
    """
    Return the ``hrflow_<plural>_to_ats`` DAG for one object kind.

    A failed run alerts through :class:`HrFlowAlertNotifier` and ``alert_notifiers`` (any Airflow notifiers);
    a run not done ``[hrflow] sync_deadline_minutes`` after it was queued alerts too.
    """
    alias = AssetAlias(f"hrflow_{kind.plural}")

    @dag(
        dag_id=kind.dag_id,
        schedule=CronDataIntervalTimetable(schedule, timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        doc_md=doc_md,
        tags=["hrflow", "ats", kind.plural],
        on_failure_callback=[HrFlowAlertNotifier(), *alert_notifiers],
        deadline=deadline_alert(SYNC_DEADLINE),
        params=sync_params(kind),
        default_args={
            "retries": 3,
            "retry_delay": timedelta(seconds=15),
            "retry_exponential_backoff": True,
            "max_retry_delay": timedelta(minutes=5),
        },
    )
    def sync_dag():
        @task(show_return_value_in_logs=False, pool=HRFLOW_POOL)
        def search(**context) -> list[dict[str, Any]]:
            """Find every unsynced object in the run's window, trimmed to the mapped fields, in batches."""
            cfg = _config(kind, context)
            try:
                destination = destination_for(kind.ats_conn_id, kind.name)
                field_map = resolve_field_map(
                    kind,
                    lambda name: Variable.get(name, default=None),
                    default=destination.default_field_map(kind.name),
                )
            except (ConfigError, DestinationError) as exc:
                raise AirflowFailException(f"Bad configuration: {exc}") from None
            hook = HrFlowHook(requests_per_minute=cfg.requests_per_minute)
            log.info("Listing: %s", cfg.why)
            sequential = under_dags_test()
            planning = {
                "batch_size": cfg.batch_size,
                "concurrency": cfg.concurrency,
                "requests_per_minute": cfg.requests_per_minute,
                "sequential": sequential,
                "parallel_batches": PARALLEL_BATCHES,
                "max_in_flight": conf.getint("hrflow", "max_in_flight", fallback=40),
                "max_batches": MAX_BATCHES,
            }
            estimate = estimate_pending(kind, hook, cfg)
            size = plan_run(estimate, **planning).batch_size  # batches are cut while the pages arrive
            root = spill_root()
            dag_id, run_id = context["dag"].dag_id, context["run_id"]
            directory = run_dir(root, dag_id, run_id) if root is not None else None
            start = None
            if directory is not None:
                key = fingerprint(
                    kind=kind.plural,
                    containers=sorted(cfg.containers),
                    sweep=cfg.sweep,
                    start=cfg.window.start,
                    field_map=field_map,
                )
                start = start_listing(
                    root,
                    directory,
                    dag_id=dag_id,
                    run_id=run_id,
                    key=key,
                    window_end=cfg.window.end,
                    batch_size=size,
                    plan=lambda: plan_slices(kind, hook, cfg, estimate),
                )
                size = start.batch_size
            slices, adopted, dirs = (start.slices, start.adopted, start.dirs) if start else (None, [], [])
            spiller = BatchSpiller(
                seal_batch,
                size,
                directory,
                {},
                slices=slices or (),
                first_file=start.first_file if start else 0,
                checkpoint=start.checkpoint if start else None,
                adopted=adopted,
            )
            # a full sweep without window meets every pending object: ledger entries it does not meet are stale
            prune = cfg.sweep and not cfg.window and not cfg.dry_run and not adopted
            tracked = LedgerHook().keys(destination.ledger_key, cfg.containers) if prune else set()
            met: set[str] = set()
            progress = Progress(
                kind,
                estimate,
                every=conf.getfloat("hrflow", "progress_seconds", fallback=10.0),
                tags={"dag_id": dag_id},
            )

            def emit(item: list[Any], slice_number: int = 0, created: datetime | None = None) -> None:
                if item[0] in tracked:
                    met.add(item[0])
                spiller.add(item, slice_number, created)

            log.info(
                "Listing in %s slice(s)%s",
                len(slices or [None]),
                f" of created_at: {', '.join(str(part.window) for part in slices)}"
                if slices and len(slices) > 1
                else "",
            )
            only_by_sweep = run_search(
                kind,
                hook,
                cfg,
                field_map,
                emit,
                slices=slices,
                already=spiller.count,
                on_page=lambda _read, meta: progress(spiller.count, meta),
            )
            batches = spiller.close()
            progress.finish(spiller.count)
            if start is not None:
                start.checkpoint(batches, state="listed")  # done: no later run resumes it
            found = spiller.count
            plan = plan_run(found, **{**planning, "batch_size": size if cfg.batch_size else None})
            if plan.batch_size != size:
                plan = dataclasses.replace(
                    plan,
                    batch_size=size,
                    batches=len(batches),
                    why=f"{plan.why} (cut at {size} while listing, from an estimate of {estimate})",
                )
            # delivering tasks that may run at once share the destination's rate limits
            lanes = 1 if sequential else max(1, min(len(batches), ATS_CONCURRENCY))
            for batch in batches:
                batch.update(concurrency=plan.concurrency, lanes=lanes)
            log.info(
                "Found %s unsynced %s in %s %s(s)%s; %s batch(es) of up to %s%s",
                found,
                kind.plural,
                len(cfg.containers),
                kind.container,
                f", {only_by_sweep} of them only by the full sweep (search cannot see them)"
                if only_by_sweep is not None
                else "",
                len(batches),
                size,
                f", written to {directory}" if directory is not None else "",
            )
            log.info("Plan: %s; destination: %s (connection '%s')", plan.why, destination.name, kind.ats_conn_id)
            if prune:
                pruned = LedgerHook().prune(destination.ledger_key, tracked, met)
                if pruned:
                    log.info("Ledger: dropped %s entries of %s no longer pending", pruned, kind.plural)
            by_container = dict.fromkeys(cfg.containers, 0)
            for batch in batches:
                for container, n in (batch.get("containers") or found_by_container(batch["items"])).items():
                    by_container[container] = by_container.get(container, 0) + n
            context["ti"].xcom_push(key="field_map", value=field_map)
            context["ti"].xcom_push(
                key="stats",
                value={
                    "found": found,
                    "batches": len(batches),
                    "found_by_container": by_container,
                    "listing": "sweep" if cfg.sweep else "search",
                    "found_only_by_sweep": only_by_sweep,
                    "dirs": dirs,
                    "why": f"{cfg.why}; plan: {plan.why}",
                },
            )
            return batches

        # multiple_outputs=False on every dict-returning task: Airflow would otherwise infer True from the
        # annotation and push each key again as its own XCom (twice the XCom, and a "sealed" copy the
        # end-of-run deletion of return values would not reach)
        @task(show_return_value_in_logs=False, multiple_outputs=False, weight_rule=DEPTH_FIRST)
        def transform(batch: dict[str, Any], field_map: dict[str, str]) -> dict[str, Any]:
            """Map each trimmed object of the batch to an ATS record."""
            result = transform_batch(
                {**load_batch(batch), **{k: batch[k] for k in ("index", "concurrency", "lanes") if k in batch}},
                field_map,
            )
            result["ref"] = batch.get("ref")  # the batch file: marked done once every object of it is tagged
            for failure in result["failed"]:
                log.warning("%s %s: %s", kind.name, failure["key"], failure["reason"])
            log.info(
                "Batch %s: %s record(s), %s mapping failure(s)", batch["index"], result["count"], len(result["failed"])
            )
            return result

        @task(
            show_return_value_in_logs=False,
            max_active_tis_per_dagrun=ATS_CONCURRENCY,
            pool=ats_pool(kind.ats_conn_id),
            multiple_outputs=False,
            weight_rule=DEPTH_FIRST,
        )
        def post_to_ats(batch: dict[str, Any], **context) -> dict[str, Any]:
            """
            Send the batch's objects the ATS has not accepted yet, once, through the destination's adapter.

            The sync ledger (durable, per object, across runs) says which objects an earlier run already got
            accepted: those go straight to tagging, however this run's batches are cut. The JSON batch endpoint
            gets the rest with an idempotency key; ATS APIs without one (SmartRecruiters, Workable) get one
            create per object, with an intent recorded before and the ATS's id after (see docs/destinations.md).
            """
            if context["params"].get("dry_run"):
                raise AirflowSkipException("dry_run: nothing posted to the ATS")
            index = batch["index"]
            try:
                destination = destination_for(kind.ats_conn_id, kind.name)
            except DestinationError as exc:
                raise AirflowFailException(f"Bad configuration: {exc}") from None
            result = {
                "index": index,
                "accepted": [],
                "rejected": [],
                "resumed": 0,
                "remote_ids": {},
                "concurrency": batch.get("concurrency"),
                "ledger_key": destination.ledger_key,
                "ref": batch.get("ref"),
                "mapped_all": not batch.get("failed"),
            }
            if not batch["count"]:
                return result
            delivered = destination.deliver(
                plural=kind.plural,
                index=index,
                items=batch["items"],
                records=unseal(batch),
                ledger=LedgerHook(),
                store=context.get("task_state_store"),
                lanes=batch.get("lanes", 1),
            )
            log_run_progress(context, stage="posted", count=len(delivered.get("accepted", [])), plural=kind.plural)
            return {**result, **delivered, "index": index}

        # at most PARALLEL_BATCHES at once, which the run's plan divides max_in_flight among
        @task(
            task_id=f"tag_{kind.plural}",
            pool=HRFLOW_POOL,
            multiple_outputs=False,
            weight_rule=DEPTH_FIRST,
            max_active_tis_per_dagrun=PARALLEL_BATCHES,
        )
        def tag(batch: dict[str, Any], **context) -> dict[str, Any]:
            """Re-read each accepted object and add ``sync=1`` unless it is already there, then PUT it."""
            result = {"index": batch["index"], "tagged": 0, "already": 0, "failed": [], "by_container": {}}
            if not batch["accepted"]:
                return result
            # search already validated the whole config; re-reading Variables in every batch is not needed
            param_concurrency, requests_per_minute = resolve_hrflow_tuning(context["params"])
            concurrency = batch.get("concurrency") or param_concurrency or 8  # search's plan travels with the batch
            hook = HrFlowHook(requests_per_minute=requests_per_minute, pool_size=concurrency)
            container_of = dict(map(tuple, batch["accepted"]))
            # the ATS's own id goes on the object with sync=1, so the link survives Airflow
            extra_tags = {
                key: [{"name": ATS_ID_TAG, "value": remote}] for key, remote in (batch.get("remote_ids") or {}).items()
            }
            outcomes = hook.add_sync_tags(
                kind, [tuple(i) for i in batch["accepted"]], concurrency=concurrency, extra_tags=extra_tags
            )
            if batch.get("ref"):  # before the ledger forgets them: a run resuming this listing skips these objects
                mark_done(
                    batch["ref"],
                    [[key, container_of[key]] for key, outcome, _ in outcomes if outcome != "failed"],
                    complete=batch.get("mapped_all", True)
                    and not batch.get("rejected")
                    and all(outcome != "failed" for _, outcome, _ in outcomes),
                )
            # sync=1 is on them now: HrFlow holds the state, the ledger entry has done its job
            LedgerHook().forget(
                batch.get("ledger_key") or kind.ats_conn_id,
                [key for key, outcome, _ in outcomes if outcome != "failed"],
            )
            for key, outcome, reason in outcomes:
                if outcome == "failed":
                    result["failed"] += _lost([(key, container_of[key])], reason)
                    log.warning("%s %s: not tagged: %s", kind.name, key, reason)
                else:
                    result[outcome] += 1
                    counts = result["by_container"].setdefault(container_of[key], {"tagged": 0, "already": 0})
                    counts[outcome] += 1
            log.info(
                "Batch %s: tagged %s, already synced %s, failed %s",
                batch["index"],
                result["tagged"],
                result["already"],
                len(result["failed"]),
            )
            log_run_progress(context, stage="tagged", count=result["tagged"] + result["already"], plural=kind.plural)
            return result

        @task(
            trigger_rule=TriggerRule.ALL_DONE, show_return_value_in_logs=False, outlets=[alias], multiple_outputs=False
        )
        def report(**context) -> dict[str, Any]:
            """Add up the run; emit one asset event per source or board and the run's metrics."""
            ti = context["ti"]
            stats = ti.xcom_pull(task_ids="search", key="stats")
            if stats is None:
                raise AirflowFailException("search did not finish (see its log): nothing was synced")
            # each stage's results are read once, one batch at a time: bounded memory at a million objects
            results = {
                name: batch_results(ti, stage.operator.task_id, stats["batches"]) for name, stage in stages.items()
            }
            result = build_summary(kind, stats=stats, dry_run=bool(context["params"].get("dry_run")), **results)
            publish_report(
                kind,
                result,
                dag_id=context["dag"].dag_id,
                run_id=context["run_id"],
                events=context["outlet_events"][alias],
            )
            if not result["failed_keys"]:  # done: the sealed candidate data has no further use
                deleted = delete_xcoms(
                    context, {"search": None, stages["transformed"].operator.task_id: stats["batches"]}
                )
                spilled = delete_run_dir(spill_root(), context["dag"].dag_id, context["run_id"], stats.get("dirs", ()))
                log.info(
                    "Deleted %s sealed XCom(s) of candidate data%s",
                    deleted,
                    " and the run's batch files" if spilled else "",
                )
            else:  # kept, sealed, so that "clear failed tasks" can retry; see docs/security.md
                if (root := spill_root()) is not None:  # an ended run is not resumed: the next run lists anew
                    close_run(run_dir(root, context["dag"].dag_id, context["run_id"]))
                log.info(
                    "Run has failures: sealed candidate data kept for retries until the run succeeds or is cleaned"
                )
            return result

        @task(trigger_rule=TriggerRule.ALL_DONE, retries=0, multiple_outputs=False)
        def summary(result: dict[str, Any] | None, **context) -> dict[str, Any]:
            """Log the run's counts as a table; fail the run if any object failed (or nothing could be counted)."""
            if result is None:
                raise AirflowFailException("report did not finish (see its log): the run could not be counted")
            context["ti"].xcom_push(key="summary", value=result)
            for failure in result["failed_keys"]:
                log.error("Failed %s %s: %s", kind.name, failure["key"], failure["reason"])
            log.info("Run summary%s:\n%s", " (dry run)" if result["dry_run"] else "", summary_table(result))
            log.info(
                "Listing: %s; found only by the full sweep: %s; already accepted by the ATS in an earlier run "
                "(ledger), tagged only: %s",
                result["why"],
                "n/a (search)" if result["found_only_by_sweep"] is None else result["found_only_by_sweep"],
                result["resumed"],
            )
            if result["failed_keys"]:
                entries = result["failed_keys"]
                shown = ", ".join(f["key"] for f in entries[:FAILED_KEYS_IN_MESSAGE])
                more = (
                    f" and {len(entries) - FAILED_KEYS_IN_MESSAGE} more"
                    if len(entries) > FAILED_KEYS_IN_MESSAGE
                    else ""
                )
                raise AirflowFailException(f"{result['failed']} {kind.plural} failed: {shown}{more}")
            return result

        stages: dict[str, Any] = {}

        @task_group(group_id=BATCH_GROUP)
        def one_batch(batch: dict[str, Any], field_map: dict[str, str]):
            """Transform, post and tag one batch; each batch goes on as soon as its own previous stage is done."""
            stages["transformed"] = transform(batch, field_map)
            stages["posted"] = post_to_ats(stages["transformed"])
            stages["tagged"] = tag(stages["posted"])
            return stages["tagged"]

        batches = search()
        one_batch.partial(field_map=batches["field_map"]).expand(batch=batches)
        reported = report()
        [stage.operator for stage in stages.values()] >> reported.operator
        summary(reported)

    return sync_dag()
