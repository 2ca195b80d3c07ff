"""
The guard against a flood: a scheduled run that finds more pending objects than ``[hrflow] max_objects_per_run``
stops before it posts, alerts once, and waits for someone to confirm.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from airflow.sdk.exceptions import AirflowFailException

from hrflow_airflow.ledger import Ledger
from hrflow_airflow.objects import ObjectKind
from hrflow_airflow.sync.config import SyncConfig

log = logging.getLogger(__name__)


def stop_large_run(
    kind: ObjectKind, cfg: SyncConfig, estimate: int, ledger_key: str | None, ledger: Ledger
) -> str | None:
    """
    Stop a scheduled run that finds more pending objects than ``[hrflow] max_objects_per_run``, before it posts.

    The first such run fails (one alert); later ones, while the backlog stays, return why they did nothing
    (logged, no alert) until someone confirms (a manual run, or param ``confirm_large_run``), raises the limit,
    or sets ``created_at_floor``. A run under the limit clears the stop, so a later flood alerts again.
    """
    scope = f"stopped-large-run:{kind.plural}"
    destination = ledger_key or kind.ats_conn_id
    if cfg.max_objects is None or estimate <= cfg.max_objects:
        if cfg.max_objects is not None or estimate:  # cheap: one delete by primary key
            ledger.watermarks.forget(destination, scope)
        return None
    why = (
        f"stopped before posting: {estimate} pending {kind.plural} is more than [hrflow] max_objects_per_run "
        f"({cfg.max_objects}). To post them, trigger a run by hand (or with param confirm_large_run); to leave "
        "the history out, set [hrflow] created_at_floor or tag it sync=1 (docs/deploy.md, first deployment)"
    )
    if (since := ledger.watermarks.get(destination, scope)) is None:
        ledger.watermarks.set(destination, scope, datetime.now(timezone.utc).isoformat(timespec="seconds"))
        raise AirflowFailException(why)
    log.warning("%s. Alerted at %s; this run does nothing and pages nobody", why, since)
    return why
