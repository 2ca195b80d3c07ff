"""
Objects whose create lost its answer (*outcome unknown*): each run looks them up again, and they do not fail it
(docs/destinations.md, "A lost answer is outcome unknown"). One still unknown after ``[hrflow]
lookup_settle_seconds`` plus one run (an hour, the schedule) is worth a look: the run alerts once (it fails, so
the failure notifier sends it), later runs only log it, and once none is left a later one alerts again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from hrflow_airflow.ledger import Ledger
from hrflow_airflow.objects import ObjectKind
from hrflow_airflow.settings import setting

log = logging.getLogger(__name__)
ONE_RUN = timedelta(hours=1)  # the sync DAGs' timetable


def still_unknown(kind: ObjectKind, ledger_key: str, ledger: Ledger | None = None) -> str | None:
    """Return the alert for objects unknown past the settle time plus one run, the first time only; else None."""
    ledger = ledger or Ledger()
    scope = f"stale-unknown:{kind.plural}"
    before = datetime.now(timezone.utc) - timedelta(seconds=setting("lookup_settle_seconds")) - ONE_RUN
    count, keys = ledger.deliveries.unknown_since(ledger_key, before.isoformat(timespec="seconds"))
    if not count:
        ledger.watermarks.forget(ledger_key, scope)
        return None
    message = (
        f"{count} {kind.plural} have been outcome unknown for over an hour past [hrflow] lookup_settle_seconds "
        f"(a create lost its answer; lookups by email find no record carrying our marker, or they have no email): "
        f"{', '.join(keys)}{' ...' if count > len(keys) else ''}. Check the ATS; see docs/operations.md"
    )
    if ledger.watermarks.get(ledger_key, scope) is not None:
        log.warning("%s (alerted already)", message)
        return None
    ledger.watermarks.set(ledger_key, scope, datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return message
