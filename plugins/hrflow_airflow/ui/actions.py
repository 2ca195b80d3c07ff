"""
The HrFlow page's two actions on one key, through the ledger's own API, each recorded in the action log.

* **release**: a quarantined object is sent again by the next run (``Refusals.release``, as
  ``python -m hrflow_airflow.ledger.quarantine release KEY`` does).
* **resend**: a synced object is sent again by the next run as an update: the ledger forgets which record the
  ATS holds (its ``synced_hash`` becomes ``RESEND_MARK``) and marks the row as a refused update, which every run
  reads again by key, whether ``[hrflow] updates`` is on or off (``sync.changes``); the update it sends records
  the new hash. A synced object whose update was refused or quarantined is queued the same way; a quarantined
  object never synced is released instead (the listing of new objects sends it); an object not synced yet, or
  removed, is refused with the reason.
"""

from __future__ import annotations

from hrflow_airflow.ledger import QUARANTINED, REFUSED, SYNCED, Ledger, counts
from hrflow_airflow.ledger.refusals import RESEND_MARK
from hrflow_airflow.ledger.runs import ActionLog

RESEND_REASON = "re-send requested on the HrFlow page"
QUEUED = "queued: the next run sends it again as an update"


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
    if entry.state == QUARANTINED and not entry.synced_hash:  # a create: the listing of new objects sends it
        return release(ledger, destination, key)
    if entry.synced_hash == RESEND_MARK:
        return f"already {QUEUED}"
    if entry.state not in (SYNCED, REFUSED, QUARANTINED) or not entry.synced_hash:
        return f"not re-sent: it is {entry.state}, not synced (the next run handles it as such)"
    # a synced object, or one whose update was refused or quarantined: an update on the next run, updates on or off
    marked = {"state": REFUSED, "synced_hash": RESEND_MARK, "reason": RESEND_REASON}
    ledger.deliveries.set(destination, [key], **marked, **({"refusals": 0} if entry.state == QUARANTINED else {}))
    return QUEUED


ACTIONS = {"release": release, "resend": resend}


def act(ledger: Ledger, action: str, *, user: str, destination: str, key: str, keep_days: float) -> str:
    """Run ``action`` on ``key`` at ``destination`` and record it with ``user``'s name; return the outcome."""
    outcome = ACTIONS[action](ledger, destination, key)
    counts.take(ledger.db, destination)  # the page's counts show the change at once
    ActionLog(ledger.db).record(
        user=user, action=action, destination=destination, key=key, outcome=outcome, keep_days=keep_days
    )
    return outcome
