"""
The HrFlow page's two actions on one key, through the ledger's own API, each recorded in the action log.

* **release**: a quarantined object is sent again by the next run (``Refusals.release``, as
  ``python -m hrflow_airflow.quarantine release KEY`` does).
* **resend**: a synced object is sent again by the next run as an update: the ledger forgets which record the
  ATS holds (its ``synced_hash``) and marks the row as a refused update, which every run reads again by key
  (``sync.changes``); the update it sends records the new hash. A quarantined object is released instead; an
  object not synced yet, or removed, is refused with the reason.
"""

from __future__ import annotations

from hrflow_airflow.ledger import QUARANTINED, REFUSED, SYNCED, Ledger, counts
from hrflow_airflow.ledger.runs import ActionLog

RESEND_MARK = "resend"  # a synced_hash no record has: the next comparison sees a change
RESEND_REASON = "re-send requested on the HrFlow page"


def release(ledger: Ledger, destination: str, key: str) -> str:
    """Release ``key`` from quarantine at ``destination``; return what happened."""
    if ledger.refusals.release(destination, [key]):
        return "released: the next run sends it again"
    return "not quarantined: nothing to release"


def resend(ledger: Ledger, destination: str, key: str) -> str:
    """Have the next run send ``key`` to ``destination`` again; return what happened."""
    entry = ledger.deliveries.lookup(destination, [key]).get(key)
    if entry is None:
        return "not in the ledger: the next run sends it if HrFlow lists it unsynced"
    if entry.state == QUARANTINED:
        return release(ledger, destination, key)
    if entry.state == REFUSED and entry.synced_hash:
        return "already queued: the next run sends its update again"
    if entry.state != SYNCED or not entry.synced_hash:
        return f"not re-sent: it is {entry.state}, not synced (the next run handles it as such)"
    ledger.deliveries.set(destination, [key], state=REFUSED, synced_hash=RESEND_MARK, reason=RESEND_REASON)
    return "queued: the next run sends it again as an update"


ACTIONS = {"release": release, "resend": resend}


def act(ledger: Ledger, action: str, *, user: str, destination: str, key: str, keep_days: float) -> str:
    """Run ``action`` on ``key`` at ``destination`` and record it with ``user``'s name; return the outcome."""
    outcome = ACTIONS[action](ledger, destination, key)
    counts.take(ledger.db, destination)  # the page's counts show the change at once
    ActionLog(ledger.db).record(
        user=user, action=action, destination=destination, key=key, outcome=outcome, keep_days=keep_days
    )
    return outcome
