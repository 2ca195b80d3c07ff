"""
Refusals and quarantine: a record the destination refused, counted per run, quarantined at ``max_refusals``.

The row keeps a keyed hash of the refused record (``record_hash``), the count of refusals of that same record and
the reason, redacted. After ``[hrflow] max_refusals`` refusals it is ``quarantined``: later runs skip it until its
record changes (another hash) or an operator releases it (:meth:`Refusals.release`,
``python -m hrflow_airflow.ledger.quarantine``). :func:`counted` is the policy, pure; :class:`Refusals` its queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hrflow_airflow.ledger.db import now
from hrflow_airflow.ledger.deliveries import Deliveries
from hrflow_airflow.ledger.schema import REASON_LIMIT, ledger_table
from hrflow_airflow.ledger.states import ENTRY_COLUMNS, QUARANTINED, REFUSED, Entry, entry_of

if TYPE_CHECKING:
    from hrflow_airflow.ledger.db import LedgerHook

KEPT = ("synced_hash", "group_key", "sent_hash")  # what a refusal leaves as it is
COUNTED = ("state", "record_hash", "refusals", "reason", "refused_run")  # what a refusal sets
# the synced_hash of a key the HrFlow page queued to send again (no record has it: the next comparison sees a
# change); read back by every run, updates on or off (sync.changes)
RESEND_MARK = "resend"


@dataclass(frozen=True)
class Refusal:
    """One record the destination refused in one run."""

    key: str
    container: str
    record_hash: str
    reason: str


def counted(entry: Entry | None, refusal: Refusal, *, run_id: str, max_refusals: int) -> Entry:
    """
    Return the object's entry once ``refusal`` is counted: the same record refused again counts up (once per run:
    a task's retry does not count twice), another record starts at 1; at ``max_refusals`` it is quarantined.
    """
    same = entry is not None and entry.record_hash == refusal.record_hash and entry.refusals > 0
    if same and entry.refused_run == run_id:
        count = entry.refusals
    else:
        count = entry.refusals + 1 if same else 1
    return Entry(
        state=QUARANTINED if count >= max_refusals else REFUSED,
        container=refusal.container,
        remote_id=entry.remote_id if entry else None,
        attempts=entry.attempts if entry else 1,
        record_hash=refusal.record_hash,
        refusals=count,
        reason=refusal.reason[:REASON_LIMIT],
        refused_run=run_id,
        **{name: getattr(entry, name) if entry else None for name in KEPT},
    )


class Refusals:
    """Refusal counts and the quarantine, in the ledger database ``db``."""

    def __init__(self, db: LedgerHook, deliveries: Deliveries) -> None:
        self.db, self.deliveries = db, deliveries

    def record(
        self, destination: str, refusals: Iterable[Refusal], *, run_id: str, max_refusals: int
    ) -> dict[str, Entry]:
        """Count one refusal of each record in ``run_id``; return each object's entry after it."""
        refusals = list(refusals)
        known = self.deliveries.lookup(destination, [r.key for r in refusals])
        after = {r.key: counted(known.get(r.key), r, run_id=run_id, max_refusals=max_refusals) for r in refusals}
        rows = [
            {
                "destination": destination,
                "object_key": key,
                "updated_at": now(),
                **{name: getattr(entry, name) for name in ("container", "remote_id", "attempts", *COUNTED)},
            }
            for key, entry in after.items()
        ]
        self.db.upsert(
            ledger_table(),
            rows,
            ["destination", "object_key"],
            lambda stmt: {**{name: stmt.excluded[name] for name in COUNTED}, "updated_at": stmt.excluded.updated_at},
        )
        return after

    def refused_updates(
        self, destination: str, containers: Iterable[str], limit: int = 1000, *, synced_hash: str | None = None
    ) -> list[tuple[str, str]]:
        """
        Return ``(key, container)`` of synced objects whose last update was refused (read again by key); only those
        whose ``synced_hash`` is ``synced_hash`` when one is given (:data:`RESEND_MARK`: the re-sends queued).
        """
        from sqlalchemy import select

        table = ledger_table()
        hashed = table.c.synced_hash.is_not(None) if synced_hash is None else table.c.synced_hash == synced_hash
        query = (
            select(table.c.object_key, table.c.container)
            .where(
                table.c.destination == destination,
                table.c.state == REFUSED,
                hashed,
                table.c.container.in_(list(containers)),
            )
            .order_by(table.c.updated_at)
            .limit(limit)
        )
        with self.db.engine.connect() as conn:
            return [(key, container) for key, container in conn.execute(query)]

    def release(self, destination: str | None = None, keys: Iterable[str] | None = None) -> int:
        """Let quarantined objects be sent again (all, or ``keys``; all destinations unless one is named)."""
        from sqlalchemy import update

        table = ledger_table()
        query = update(table).where(table.c.state == QUARANTINED)
        if destination:
            query = query.where(table.c.destination == destination)
        if keys is not None:
            query = query.where(table.c.object_key.in_(list(keys)))
        with self.db.engine.begin() as conn:
            return conn.execute(query.values(state=REFUSED, refusals=0, updated_at=now())).rowcount

    def quarantined(self, destination: str | None = None) -> list[tuple[str, str, Entry]]:
        """Return ``(destination, key, entry)`` of every quarantined object, oldest first."""
        from sqlalchemy import select

        table = ledger_table()
        columns: list[Any] = [table.c[name] for name in ENTRY_COLUMNS]
        query = select(table.c.destination, table.c.object_key, *columns).where(table.c.state == QUARANTINED)
        if destination:
            query = query.where(table.c.destination == destination)
        with self.db.engine.connect() as conn:
            rows = conn.execute(query.order_by(table.c.updated_at))
            return [(dest, key, entry_of(values)) for dest, key, *values in rows]
