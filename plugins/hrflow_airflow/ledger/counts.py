"""
The ledger's counts per destination and source: objects per state, linked records, refusals by reason code.

Counting a million rows takes most of a second even on an index (SQLite and PostgreSQL both visit every entry),
so the sync's ``summary`` task counts its destination once per run (:func:`take`, indexed queries on
``ix_hrflow_ledger_state`` and the partial ``ix_hrflow_ledger_linked``) into table ``hrflow_ledger_counts``,
and the HrFlow page reads that (:func:`snapshot`). A ledger no run has counted yet is counted live (:func:`measure`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hrflow_airflow.ledger.db import now
from hrflow_airflow.ledger.history import COUNTS
from hrflow_airflow.ledger.schema import ledger_table, metadata
from hrflow_airflow.ledger.states import LINKED, QUARANTINED, REFUSED

if TYPE_CHECKING:
    from hrflow_airflow.ledger.db import LedgerHook

REASON = "reason:"  # a measure naming a refusal reason code
Counted = dict[tuple[str, str, str], int]  # (destination, container, measure) -> n


def reason_code(reason: str | None) -> str:
    """Return a refusal reason's code: the text before its first colon (past an ATS HTTP status), at most 60 chars."""
    text = (reason or "unknown").strip()
    head, _, rest = text.partition(":")
    if head.startswith("ATS HTTP") and rest:  # "ATS HTTP 422: field 'email' is invalid: ..." keeps the field
        head = f"{head}:{rest.split(':')[0]}"
    return head[:60]


def measure(db: LedgerHook, destination: str | None = None) -> Counted:
    """Count the ledger now: one destination (an index range), or every one."""
    from sqlalchemy import func, select, text

    t = ledger_table()
    where = [t.c.destination == destination] if destination else []
    states = select(t.c.destination, t.c.state, t.c.container, func.count()).where(*where)
    linked = select(t.c.destination, t.c.container, func.count()).where(*where, text(f"origin = '{LINKED}'"))
    refused = select(t.c.destination, t.c.container, t.c.reason, func.count()).where(
        *where, t.c.state.in_([REFUSED, QUARANTINED])
    )
    found: Counted = {}
    with db.engine.connect() as conn:
        for dest, state, container, n in conn.execute(states.group_by(t.c.destination, t.c.state, t.c.container)):
            found[dest, container, state] = n
        for dest, container, n in conn.execute(linked.group_by(t.c.destination, t.c.container)):
            found[dest, container, LINKED] = n
        grouped = refused.group_by(t.c.destination, t.c.container, t.c.reason)
        for dest, container, reason, n in conn.execute(grouped):
            measure_name = f"{REASON}{reason_code(reason)}"
            found[dest, container, measure_name] = found.get((dest, container, measure_name), 0) + n
    return found


def take(db: LedgerHook, destination: str) -> int:
    """Count ``destination`` now and keep the counts as its snapshot; return how many objects it holds."""
    from sqlalchemy import delete

    counted, table, at = measure(db, destination), metadata().tables[COUNTS], now()
    rows = [
        {"destination": dest, "container": container, "measure": name[:80], "n": n, "taken_at": at}
        for (dest, container, name), n in counted.items()
    ]
    with db.engine.begin() as conn:
        conn.execute(delete(table).where(table.c.destination == destination))
        if rows:
            conn.execute(table.insert(), rows)
    return sum(n for (_, _, name), n in counted.items() if name != LINKED and not name.startswith(REASON))


def snapshot(db: LedgerHook) -> tuple[Counted, dict[str, str]]:
    """Return the counts the last runs took, and when each destination's were taken."""
    from sqlalchemy import select

    table, counted, taken = metadata().tables[COUNTS], {}, {}
    with db.engine.connect() as conn:
        for row in conn.execute(select(table)):
            counted[row.destination, row.container, row.measure] = row.n
            taken[row.destination] = row.taken_at
    return counted, taken
