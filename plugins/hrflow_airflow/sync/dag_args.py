"""
The sync DAGs' declarations: the params of the trigger form, the DAG-level arguments both sync DAGs share, the
pools and task limits the DAG files set when they are parsed (from :func:`hrflow_airflow.settings.settings`,
never at import), and the task ids of each stage.

Every setting is listed, with its default and when it is read, in docs/configuration.md.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import Asset, AssetAlias, AssetOrTimeSchedule, CronDataIntervalTimetable, Param

from hrflow_airflow.alerts.monitoring import HrFlowAlertNotifier, deadline_alert, sync_deadline
from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.objects import KINDS, ObjectKind
from hrflow_airflow.settings import setting, settings
from hrflow_airflow.sync.history import record_failure, record_success
from hrflow_airflow.sync.plan import MAX_BATCH_PARAM

MAX_BATCHES = 1024  # Airflow's default [core] max_map_length
# a scheduled run finding more pending objects stops before posting, unless param confirm_large_run (0: no limit)
DEFAULT_MAX_OBJECTS_PER_RUN = 50_000
DEFAULT_SCHEDULE = "0 * * * *"
START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)
BATCH_GROUP = "batch"  # the mapped task group: one instance per batch, transform -> post_to_ats -> tag
# A batch's later stages before other batches' earlier ones: tagging starts as soon as the first batch is
# posted instead of after every batch is (see docs/performance.md).
DEPTH_FIRST = "upstream"


def default_args() -> dict[str, Any]:
    """Return the sync tasks' retry arguments: ``[hrflow] task_retries`` tries after the first, exponential backoff
    from ``[hrflow] task_retry_delay_seconds`` up to five minutes (read when the DAG file is parsed)."""
    current = settings()
    return {
        "retries": max(0, current.task_retries),
        "retry_delay": timedelta(seconds=max(0.0, current.task_retry_delay_seconds)),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=5),
    }


def object_kind(name: str) -> ObjectKind:
    """Return the object kind called ``name`` ("profile" or "job"), or raise naming the known ones."""
    try:
        return KINDS[name]
    except KeyError:
        raise BadConfigError(f"unknown object kind {name!r}: use one of {', '.join(sorted(KINDS))}") from None


def stage_task_ids(kind: ObjectKind) -> dict[str, str]:
    """Return the task id of each per-batch stage, by the name of what it returns."""
    return {
        "transformed": f"{BATCH_GROUP}.transform",
        "posted": f"{BATCH_GROUP}.post_to_ats",
        "tagged": f"{BATCH_GROUP}.tag_{kind.plural}",
    }


def asset_alias(kind_name: str) -> AssetAlias:
    """Return the alias the ``report`` task attaches one asset event per source or board to."""
    return AssetAlias(f"hrflow_{object_kind(kind_name).plural}")


def webhook_asset(kind: ObjectKind) -> Asset:
    """Return the asset the webhook records an event on when it announces a new or edited object of ``kind``."""
    return Asset(uri=f"hrflow-webhook://{kind.plural}/", name=f"hrflow_{kind.plural}_webhook", group="hrflow")


def sync_schedule(kind: ObjectKind, cron: str = DEFAULT_SCHEDULE) -> CronDataIntervalTimetable | AssetOrTimeSchedule:
    """
    Return a sync DAG's schedule: hourly, with data intervals (backfills keep their window), or an asset event of
    the webhook (:func:`webhook_asset`), unless ``[hrflow] webhook_starts_sync`` is off (read at parse time).
    """
    hourly = CronDataIntervalTimetable(cron, timezone="UTC")
    if not setting("webhook_starts_sync"):
        return hourly
    return AssetOrTimeSchedule(timetable=hourly, assets=webhook_asset(kind))


def sync_dag_defaults() -> dict[str, Any]:
    """
    Return the DAG arguments both sync DAGs share: start, one run at a time, retries, alerts, recovery, deadline,
    and the run's end in the HrFlow page's run history.
    """
    return {
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": default_args(),
        # the alert (recovery: once, after a failure alert), then the run's state in the HrFlow page's run history
        "on_failure_callback": [HrFlowAlertNotifier(), record_failure],
        "on_success_callback": [HrFlowAlertNotifier(event="recovery"), record_success],
        "deadline": deadline_alert(sync_deadline()),
    }


def hrflow_pool() -> str:
    """
    Return the Airflow pool that bounds concurrent HrFlow-calling tasks across every worker: ``[hrflow] pool``,
    else ``default_pool``. Opt-in: set it once the pool exists (``airflow pools set hrflow_api 16 ...``). A task in
    a pool that does not exist is never scheduled, so the webhook refuses deliveries while the pool is missing.
    """
    return setting("pool") or "default_pool"


def ats_concurrency() -> int:
    """Return how many ``post_to_ats`` tasks of one run may run at once (``[hrflow] ats_concurrency``)."""
    return max(1, setting("ats_concurrency"))


def parallel_batches() -> int:
    """Return how many tagging tasks of one run may run at once (``[hrflow] parallel_batches``): the run's
    ``[hrflow] max_in_flight`` HrFlow calls are shared among them."""
    return max(1, setting("parallel_batches"))


def ats_pool(conn_id: str) -> str:
    """
    Return the Airflow pool of the tasks that write to destination ``conn_id``: ``[hrflow] ats_pools`` (JSON,
    connection id -> pool), else ``[hrflow] ats_pool``, else ``default_pool``. A pool per ATS account keeps
    every worker together within its rate limits; it must exist (``airflow pools set``).
    """
    current = settings()
    raw = current.ats_pools or "{}"
    try:
        pools = json.loads(raw)
    except ValueError:
        pools = None
    if not isinstance(pools, dict):
        raise BadConfigError(f"[hrflow] ats_pools must be a JSON object of connection id -> pool name, got {raw!r}")
    return pools.get(conn_id) or current.ats_pool or "default_pool"


def sync_params(kind: ObjectKind) -> dict[str, Param]:
    """Return the JSON-schema params of a sync DAG, with titles and descriptions for the trigger form."""
    return {**window_params(kind), **guard_params(kind), **tuning_params(kind), **delivery_params(kind)}


def window_params(kind: ObjectKind) -> dict[str, Param]:
    """Return the params of which objects a run takes: containers and created_at bounds."""
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
            description=f"Only {kind.plural} created before this instant (ISO 8601). "
            "Empty on a manual run: no upper bound.",
        ),
        "created_at_floor": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Never before",
            description=f"{kind.plural.title()} created before this instant are never synced, by any path (search, "
            "full sweep, updates); a later created_at_min still narrows the run. Empty: [hrflow] created_at_floor "
            "(unset: no floor).",
        ),
    }


def guard_params(kind: ObjectKind) -> dict[str, Param]:
    """Return the params of the guards and the listing: large runs, removals, the full sweep."""
    return {
        "confirm_large_run": Param(
            False,
            type="boolean",
            title="Confirm a large run",
            description="A scheduled run that finds more pending objects than [hrflow] max_objects_per_run "
            "(50,000) stops before posting and alerts once. Set this to let it post them (manual runs need not).",
        ),
        "on_archive": Param(
            None,
            type=["null", "string"],
            enum=[None, "keep", "archive", "delete"],
            title="On archive or delete",
            description=f"What this run's full sweep does with synced {kind.plural} that HrFlow archived or deleted: "
            "keep (report them), archive or delete them in the ATS where it can. Empty: [hrflow] on_archive (keep).",
        ),
        "confirm_removals": Param(
            False,
            type="boolean",
            title="Confirm removals",
            description="A run that would remove more than [hrflow] max_removals_per_run (50) objects from the ATS "
            "removes none and alerts once. Set this to let it remove them.",
        ),
        "full_sweep": Param(
            None,
            type=["null", "boolean"],
            title="Full sweep",
            description=f"Read the {kind.container}s through HrFlow's storing listing, which returns every stored "
            f"{kind.name}, instead of search, which only returns indexed, search-eligible ones. Empty: "
            "a sweep on manual runs without a window and once a day on schedule ([hrflow] full_sweep_hour).",
        ),
    }


def tuning_params(kind: ObjectKind) -> dict[str, Param]:
    """Return the params of how a run cuts and paces its work: batches, pages, HrFlow concurrency and rate."""
    return {
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
    }


def delivery_params(kind: ObjectKind) -> dict[str, Param]:
    """Return the params of what reaches the ATS: quarantined records, updates, dry run."""
    return {
        "retry_quarantined": Param(
            False,
            type="boolean",
            title="Retry quarantined",
            description=f"Send the {kind.plural} the ATS refused [hrflow] max_refusals (3) times again, although "
            "their record did not change (after a fix on the ATS side). A record that changed is always sent.",
        ),
        "updates": Param(
            None,
            type=["null", "boolean"],
            title="Send updates",
            description=f"Send the synced {kind.plural} whose mapped record changed in HrFlow to the ATS as updates "
            "(only the fields [hrflow] update_fields lists; all mapped fields when unset). Empty: [hrflow] updates "
            "(on by default). Off: only new objects are sent.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Search and transform only: nothing is posted to the ATS and nothing is tagged.",
        ),
    }
