"""
The run's configuration: a DAG run's params, Variables, data interval and ``[hrflow]`` settings turned into one
validated :class:`SyncConfig` (and what updates may overwrite). Settings come from
:func:`hrflow_airflow.settings.settings`, read when the run starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from hrflow_airflow.candidate import JOB_MAP_VARIABLE, RESERVED, validate_job_map
from hrflow_airflow.dates import setting_datetime
from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.mapping import validate_field_map
from hrflow_airflow.objects import ObjectKind
from hrflow_airflow.settings import settings
from hrflow_airflow.sync.plan import MAX_BATCH_PARAM

# A full sweep (the storing listing instead of search) runs once a day, in the scheduled run whose data
# interval ends at this UTC hour; -1 never. `[hrflow] full_sweep_hour` overrides it.
DEFAULT_FULL_SWEEP_HOUR = 0
ASSET_TRIGGERED = "asset_triggered"  # DagRunType of a run the webhook's asset event started


@dataclass(frozen=True)
class Window:
    """A half-open ``[start, end)`` window on ``created_at``; either side may be open."""

    start: datetime | None = None
    end: datetime | None = None

    def __bool__(self) -> bool:
        return self.start is not None or self.end is not None

    def contains(self, created_at: str | None) -> bool:
        if not self:
            return True
        if not created_at:
            return False
        when = setting_datetime(created_at, "created_at")
        return (self.start is None or when >= self.start) and (self.end is None or when < self.end)

    def search_filters(self) -> dict[str, datetime]:
        """Return the HrFlow listing filters that cover this window (the exact bounds are applied client-side)."""
        filters = {}
        if self.start:
            filters["created_at_min"] = self.start
        if self.end:
            filters["created_at_max"] = self.end
        return filters

    def __str__(self) -> str:
        if not self:
            return "none"
        return f"[{self.start.isoformat() if self.start else '-inf'}, {self.end.isoformat() if self.end else 'now'})"


@dataclass(frozen=True)
class SyncConfig:
    containers: list[str]
    window: Window
    batch_size: int | None  # None: chosen by plan_run from the work found
    page_size: int
    concurrency: int | None  # None: chosen by plan_run
    requests_per_minute: int | None
    dry_run: bool
    sweep: bool = False  # read containers through the storing listing (every stored object) instead of search
    why: str = ""  # why this window and listing: logged by search and kept in the run summary
    floor: datetime | None = None  # objects created before it are never synced, by any path (created_at_floor)
    max_objects: int | None = None  # stop before posting when more are pending (scheduled runs not confirmed)


def json_variable(get: Callable[[str], str | None], name: str) -> Any:
    """Return a Variable's JSON value, or None if unset; raise BadConfigError if it is not JSON."""
    raw = get(name)
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise BadConfigError(f"Variable '{name}' is not valid JSON: {exc}") from None


def resolve_containers(
    kind: ObjectKind, params: Mapping[str, Any], get_variable: Callable[[str], str | None]
) -> list[str]:
    """Return the source/board keys: the param if given, else the Variable."""
    keys = params.get(kind.containers_param)
    origin = f"param '{kind.containers_param}'"
    if not keys:
        keys = json_variable(get_variable, kind.containers_variable)
        origin = f"Variable '{kind.containers_variable}'"
    if not keys:
        raise BadConfigError(
            f"No {kind.container} keys: set Variable '{kind.containers_variable}' to a JSON list "
            f"or pass param '{kind.containers_param}'"
        )
    if not isinstance(keys, list) or not all(isinstance(k, str) and k.strip() for k in keys):
        raise BadConfigError(f"{origin} must be a list of non-empty {kind.container} key strings, got {keys!r}")
    return list(dict.fromkeys(k.strip() for k in keys))


def resolve_window(
    params: Mapping[str, Any], run_type: Any, interval_start: Any, interval_end: Any, floor: datetime | None = None
) -> tuple[Window, str]:
    """
    Return the created_at window of a run and why it was chosen.

    * An explicit ``created_at_min``/``created_at_max`` wins: that is what the user asked for.
    * A backfill run keeps its data interval, for the same reason.
    * A scheduled run takes every object created before its interval end, with no lower bound: the
      ``sync`` tag is the state, not the window, so backdated imports, late indexing and intervals the
      scheduler missed are all caught by the next run.
    * A manual run, and a run the webhook started (an asset event), take everything pending up to now (no
      window).
    * ``floor`` (``created_at_floor``) is a lower bound on all of these: with a later ``created_at_min`` too, the
      later of the two wins. A window that ends before the floor holds nothing.
    """
    low, high = params.get("created_at_min"), params.get("created_at_max")
    kind = getattr(run_type, "value", run_type)
    if low or high:
        window = Window(
            setting_datetime(low, "created_at_min") if low else None,
            setting_datetime(high, "created_at_max") if high else None,
        )
        why = "explicit window"
    elif kind == "backfill" and interval_start and interval_end:
        window = Window(
            setting_datetime(interval_start, "data_interval_start"), setting_datetime(interval_end, "data_interval_end")
        )
        why = "backfill: its data interval"
    elif kind == "scheduled" and interval_end:
        window = Window(None, setting_datetime(interval_end, "data_interval_end"))
        why = "scheduled: every unsynced object created before the interval end"
    elif kind == ASSET_TRIGGERED:
        window = Window()
        why = "started by the webhook (asset event): everything pending up to now"
    else:
        window = Window()
        why = "manual run without a window: everything pending"
    if window.start and window.end and window.start >= window.end:
        raise BadConfigError(
            f"created_at_min ({window.start.isoformat()}) must be before created_at_max ({window.end.isoformat()})"
        )
    if floor is not None and (window.start is None or window.start < floor):
        end = window.end if window.end is None or window.end > floor else floor  # ends before the floor: empty
        window = Window(floor, end)
        why += f"; nothing created before the floor {floor.isoformat()} (created_at_floor)"
    return window, why


def resolve_sweep(
    params: Mapping[str, Any],
    run_type: Any,
    window: Window,
    interval_end: Any,
    full_sweep_hour: int = DEFAULT_FULL_SWEEP_HOUR,
) -> tuple[bool, str]:
    """
    Return whether a run reads its containers through the storing listing (a full sweep), and why.

    Search only returns profiles HrFlow could index (non-empty text, and an email or a full name...) and
    only once they are indexed; the storing listing returns every stored object. A full sweep runs when
    param ``full_sweep`` is true, on a manual run without a window, and in the one scheduled run a day
    whose interval ends at ``full_sweep_hour`` (UTC). Param ``full_sweep: false`` turns it off. A run the
    webhook started searches (it is there within a minute of a delivery; the daily sweep is the safety net).
    """
    forced = params.get("full_sweep")
    if forced is not None and not isinstance(forced, bool):
        raise BadConfigError(f"param 'full_sweep' must be true, false or null, got {forced!r}")
    if forced is not None:
        return forced, f"param full_sweep={str(forced).lower()}"
    kind = getattr(run_type, "value", run_type)
    if kind == ASSET_TRIGGERED:
        return False, "started by the webhook: search, then the changes since the watermark"
    if kind not in ("scheduled", "backfill") and not window:
        return True, "manual run without a window"
    if (
        kind == "scheduled"
        and interval_end
        and full_sweep_hour >= 0
        and setting_datetime(interval_end, "data_interval_end").astimezone(timezone.utc).hour == full_sweep_hour
    ):
        return True, f"the daily full sweep ([hrflow] full_sweep_hour = {full_sweep_hour})"
    return False, "search"


def resolve_field_map(
    kind: ObjectKind, get_variable: Callable[[str], str | None], default: Mapping[str, str] | None = None
) -> dict[str, str]:
    """
    Return the field map from Variable ``hrflow_<plural>_field_map``, else ``default`` (the destination's
    own map), else the kind's default.
    """
    custom = json_variable(get_variable, kind.field_map_variable)
    if custom is None:
        return dict(default or kind.default_field_map)
    return validate_field_map(custom, source=f"Variable '{kind.field_map_variable}'")


def resolve_job_map(get_variable: Callable[..., str | None]) -> dict[str, str]:
    """Return the Variable ``hrflow_job_map`` (job reference -> ATS job id; empty when unset), validated."""
    return validate_job_map(json_variable(lambda name: get_variable(name, default=None), JOB_MAP_VARIABLE))


def _int_param(params: Mapping[str, Any], name: str, low: int, high: int, default: int | None) -> int | None:
    value = params.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadConfigError(f"param '{name}' must be an integer from {low} to {high}, got {value!r}")
    return value


def resolve_hrflow_tuning(params: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """Return ``(concurrency, requests_per_minute)`` from params alone (None: not given)."""
    return (
        _int_param(params, "concurrency", 1, 64, None),
        _int_param(params, "requests_per_minute", 1, 1_000_000, None),
    )


def resolve_config(
    kind: ObjectKind,
    params: Mapping[str, Any],
    *,
    run_type: Any,
    interval_start: Any,
    interval_end: Any,
    get_variable: Callable[[str], str | None],
    full_sweep_hour: int = DEFAULT_FULL_SWEEP_HOUR,
    floor: Any = None,
    max_objects: int | None = None,
) -> SyncConfig:
    """
    Return the validated configuration of one sync run.

    ``floor``: the ``[hrflow] created_at_floor`` setting (the param of that name wins over it). ``max_objects``:
    ``[hrflow] max_objects_per_run``, which holds for scheduled runs only, unless param ``confirm_large_run``.
    """
    dry_run = params.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise BadConfigError(f"param 'dry_run' must be true or false, got {dry_run!r}")
    concurrency, requests_per_minute = resolve_hrflow_tuning(params)
    floor = params.get("created_at_floor") or floor
    floor = setting_datetime(floor, "created_at_floor") if floor else None
    window, why_window = resolve_window(params, run_type, interval_start, interval_end, floor)
    scheduled = getattr(run_type, "value", run_type) == "scheduled"
    if not (scheduled and max_objects and not params.get("confirm_large_run")):
        max_objects = None
    sweep, why_listing = resolve_sweep(params, run_type, window, interval_end, full_sweep_hour)
    return SyncConfig(
        sweep=sweep,
        why=f"window {window} ({why_window}); "
        f"listing: {'storing listing (full sweep)' if sweep else 'search'} ({why_listing})",
        containers=resolve_containers(kind, params, get_variable),
        window=window,
        batch_size=_int_param(params, "batch_size", 1, MAX_BATCH_PARAM, None),
        page_size=_int_param(params, "page_size", 1, 1000, 500),
        concurrency=concurrency,
        requests_per_minute=requests_per_minute,
        dry_run=dry_run,
        floor=floor,
        max_objects=max_objects,
    )


def updates_enabled(params: Mapping[str, Any]) -> bool:
    """Return whether the run sends updates: the ``updates`` param, else ``[hrflow] updates`` (on)."""
    if params.get("updates") is not None:
        return bool(params["updates"])
    return settings().updates


def update_fields(field_map: Mapping[str, str] | None = None) -> list[str] | None:
    """
    Return the record fields an update may overwrite (``[hrflow] update_fields``, comma-separated; None: all
    mapped fields); raise BadConfigError naming a field the map does not have.
    """
    raw = settings().update_fields
    fields = [name.strip() for name in raw.split(",") if name.strip()]
    if not fields:
        return None
    unknown = [name for name in fields if field_map is not None and name not in field_map and name not in RESERVED]
    if unknown:
        raise BadConfigError(
            f"[hrflow] update_fields names {', '.join(unknown)}, which the field map does not have "
            f"(its fields: {', '.join([*field_map, *RESERVED])})"
        )
    return fields


def run_config(kind: ObjectKind, context: Mapping[str, Any]) -> SyncConfig:
    """Return the run's validated configuration; raise :class:`BadConfigError` naming the bad setting."""
    from airflow.sdk import Variable

    current = settings()
    return resolve_config(
        kind,
        context["params"],
        run_type=context["dag_run"].run_type,
        interval_start=context.get("data_interval_start"),
        interval_end=context.get("data_interval_end"),
        get_variable=lambda name: Variable.get(name, default=None),
        full_sweep_hour=current.full_sweep_hour,
        floor=current.created_at_floor or None,
        max_objects=current.max_objects_per_run or None,
    )
