"""
The one registry of ``[hrflow]`` settings: name, type, default, description and example of each.

:data:`OPTIONS` is declared to Airflow through the provider metadata (``get_provider_info()["config"]``), so
``airflow config list --section hrflow`` and ``airflow config get-value hrflow <name>`` show every option with
its default. Code reads them through :func:`settings`, a frozen, typed object built at run (or parse) time from
``airflow.sdk.conf``, never at import. docs/configuration.md lists the same options (a test keeps both in step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hrflow_airflow.errors import BadConfigError

SECTION = "hrflow"
VERSION_ADDED = "0.1.0"
DEFAULT_EVENTS = "profile.parsing.success,profile.storing.success,profile.searching.success,profile.indexing.success"


@dataclass(frozen=True)
class Option:
    """One ``[hrflow]`` option as the provider metadata declares it."""

    name: str
    type: str  # "string", "integer", "float", "boolean"
    default: str
    description: str
    example: str | None = None
    version_added: str = VERSION_ADDED


OPTIONS: tuple[Option, ...] = (
    Option(
        "pool",
        "string",
        "",
        "Airflow pool of the HrFlow-calling tasks (search, tag, send_sms); "
        "empty: default_pool. Create the pool first: a task in a missing pool is never scheduled.",
        "hrflow_api",
    ),
    Option("ats_pool", "string", "", "Pool of every post_to_ats task; empty: default_pool.", "ats"),
    Option(
        "ats_pools",
        "string",
        "",
        "JSON object connection id -> pool; wins over ats_pool.",
        '{"ats_default": "smartrecruiters"}',
    ),
    Option("ats_concurrency", "integer", "4", "post_to_ats tasks of one run at once; they share the ATS's limits."),
    Option(
        "parallel_batches", "integer", "4", "Tagging tasks of one run at once; the batches a scheduled run aims for."
    ),
    Option("max_in_flight", "integer", "40", "HrFlow calls in flight per run, shared by the tagging tasks."),
    Option(
        "listing_slices",
        "integer",
        "0",
        "created_at ranges a large listing reads at once; 0: 4, or 1 under airflow dags test.",
        "4",
    ),
    Option("progress_seconds", "float", "10", "How often search logs its progress, in seconds."),
    Option("max_refusals", "integer", "3", "Refusals of the same record before the object is quarantined."),
    Option("updates", "boolean", "True", "Send synced objects whose mapped record changed as updates."),
    Option(
        "update_fields",
        "string",
        "",
        "Comma-separated record fields an update may overwrite; empty: all.",
        "phone,email",
    ),
    Option("result_window", "integer", "10000", "Deepest result a listing pages to."),
    Option(
        "max_cv_mb",
        "float",
        "10",
        "Largest CV sent to an ATS, in MB; a larger one is isolated for its candidate, who is still created.",
    ),
    Option(
        "created_at_floor",
        "string",
        "",
        "ISO 8601 instant: objects created before it are never synced.",
        "2026-01-01T00:00:00Z",
    ),
    Option(
        "max_objects_per_run",
        "integer",
        "50000",
        "A scheduled run finding more pending objects stops before "
        "posting until confirmed (param confirm_large_run); 0: no limit.",
    ),
    Option(
        "on_archive",
        "string",
        "keep",
        "What a full sweep does with a synced object HrFlow archived or deleted: keep (report it), archive or "
        "delete it in the ATS.",
        "delete",
    ),
    Option(
        "max_removals_per_run",
        "integer",
        "50",
        "A run that would remove more objects from the ATS removes none and alerts until confirmed (param "
        "confirm_removals); 0: no limit.",
    ),
    Option("full_sweep_hour", "integer", "0", "UTC hour whose scheduled run reads the storing listing; -1: never."),
    Option(
        "sync_deadline_minutes",
        "float",
        "60",
        "Alert when a sync run is not done this long after it was queued; 0: off.",
    ),
    Option(
        "sms_deadline_seconds",
        "float",
        "120",
        "Alert when an SMS run is not done this long after it was queued; 0: off.",
    ),
    Option(
        "alert_channels",
        "string",
        "sms",
        "Comma-separated channels of failure, deadline and recovery alerts: sms (connection hrflow_alert), slack "
        "(hrflow_alert_slack), email (hrflow_alert_email).",
        "sms,slack,email",
    ),
    Option(
        "sms_digest_over",
        "integer",
        "0",
        "Past this many new profiles within 10 minutes, one digest SMS replaces the rest; 0: off.",
        "20",
    ),
    Option(
        "sms_batch_seconds",
        "float",
        "2",
        "During a burst of webhook deliveries, the new profiles of this many seconds share one SMS run (each "
        "texted once); a delivery after a quiet spell starts its run at once. 0: every round starts what waits.",
    ),
    Option("sms_batch_size", "integer", "50", "The most new profiles one SMS run texts; 1: one run per profile."),
    Option(
        "webhook_starts_sync",
        "boolean",
        "True",
        "A webhook announcing a new or edited profile or job starts its sync DAG (an asset event) within seconds; "
        "False: only the timetable does.",
    ),
    Option("webhook_events", "string", DEFAULT_EVENTS, "Comma-separated HrFlow event types that start an SMS run."),
    Option(
        "task_retries",
        "integer",
        "3",
        "Tries of a sync task after its first, with exponential backoff (Airflow's task retry, after a transient "
        "error or an open circuit breaker).",
    ),
    Option(
        "task_retry_delay_seconds",
        "float",
        "15",
        "First wait before a sync task's retry; it doubles each try, at most 5 minutes.",
    ),
    Option(
        "max_attempts",
        "integer",
        "5",
        "Times one logical HTTP request (a read, a tag PUT with its re-read, an "
        "ATS create with its lookup, an SMS) may go out in one task try, retries included.",
    ),
    Option(
        "breaker_after",
        "integer",
        "5",
        "Failed attempts (5xx, no answer) of one method in a row before the task stops sending to that peer "
        "(circuit breaker) and fails; requests in flight stop before their next attempt. Airflow's task retry "
        "takes over.",
    ),
    Option(
        "lookup_settle_seconds",
        "float",
        "300",
        "After a create lost its answer, the ATS is looked up again in later runs; it is created again only when "
        "a lookup made at least this long after the lost send still finds nothing (search indexes lag behind "
        "writes).",
    ),
    Option(
        "history_days",
        "float",
        "90",
        "Days the HrFlow page keeps run history and its action log (tables next to the sync ledger); older rows "
        "are pruned when a run or an action is recorded.",
    ),
)


def provider_config() -> dict[str, Any]:
    """Return the ``config`` section of the provider metadata: every ``[hrflow]`` option."""
    return {
        SECTION: {
            "description": "HrFlow.ai sync, webhook and SMS settings (docs/configuration.md).",
            "options": {
                o.name: {
                    "description": o.description,
                    "version_added": o.version_added,
                    "type": o.type,
                    "example": o.example,
                    "default": o.default,
                }
                for o in OPTIONS
            },
        }
    }


@dataclass(frozen=True)
class Settings:
    """Every ``[hrflow]`` option, typed, as read at one moment."""

    pool: str
    ats_pool: str
    ats_pools: str
    ats_concurrency: int
    parallel_batches: int
    max_in_flight: int
    listing_slices: int
    progress_seconds: float
    max_refusals: int
    updates: bool
    update_fields: str
    result_window: int
    max_cv_mb: float
    created_at_floor: str
    max_objects_per_run: int
    on_archive: str
    max_removals_per_run: int
    full_sweep_hour: int
    sync_deadline_minutes: float
    sms_deadline_seconds: float
    alert_channels: str
    sms_digest_over: int
    sms_batch_seconds: float
    sms_batch_size: int
    webhook_starts_sync: bool
    webhook_events: str
    task_retries: int
    task_retry_delay_seconds: float
    max_attempts: int
    breaker_after: int
    lookup_settle_seconds: float
    history_days: float


READERS = {"string": "get", "integer": "getint", "float": "getfloat", "boolean": "getboolean"}
CASTS = {"string": str, "integer": int, "float": float, "boolean": lambda v: str(v).lower() in ("true", "1", "yes")}


BY_NAME = {option.name: option for option in OPTIONS}


def settings() -> Settings:
    """Return every ``[hrflow]`` option, read now; a value of the wrong type raises naming the option."""
    return Settings(**{option.name: read(option) for option in OPTIONS})


def setting(name: str) -> Any:
    """Return one ``[hrflow]`` option, typed, read now (for hot paths: one lookup instead of every option's)."""
    return read(BY_NAME[name])


def read(option: Option) -> Any:
    """Return ``option``'s value from Airflow's configuration, typed; raise :class:`BadConfigError` naming it."""
    from airflow.sdk import conf
    from airflow.sdk.exceptions import AirflowConfigException

    fallback = CASTS[option.type](option.default) if option.default != "" or option.type == "string" else None
    try:
        value = getattr(conf, READERS[option.type])(SECTION, option.name, fallback=fallback)
    except (TypeError, ValueError, AirflowConfigException) as exc:
        raise BadConfigError(f"[{SECTION}] {option.name} must be of type {option.type}: {exc}") from None
    return "" if value is None and option.type == "string" else value
