"""
The keys a full sweep listed (table ``hrflow_seen``), so that the synced objects the storing listing no longer holds
are found by one anti-join in the ledger's database, a chunk at a time: never every key in memory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from hrflow_airflow.ledger.db import CHUNK
from hrflow_airflow.ledger.schema import SEEN, ledger_table, table
from hrflow_airflow.ledger.states import SYNCED

if TYPE_CHECKING:
    from hrflow_airflow.ledger.db import LedgerHook


class SeenKeys:
    """The object keys one listing (``listing``: e.g. ``<dag_id>/<run_id>``) returned, written in chunks."""

    def __init__(self, db: LedgerHook, listing: str) -> None:
        self.db, self.listing, self.pending, self.count = db, listing[:250], [], 0
        self.lock = threading.RLock()  # the listing's slices add at once
        self.table = table(SEEN)

    def add(self, keys: Iterable[str]) -> None:
        """Note listed keys (written once ``CHUNK`` of them are pending)."""
        with self.lock:
            before = len(self.pending)
            self.pending.extend(keys)
            self.count += len(self.pending) - before
            if len(self.pending) >= CHUNK:
                self.flush()

    def flush(self) -> None:
        with self.lock:
            rows, self.pending = [{"listing": self.listing, "object_key": k} for k in self.pending], []
            if rows:
                with self.db.engine.begin() as conn:
                    # executemany of one statement: one compiled form, whatever the number of rows
                    conn.execute(self.db.insert(self.table).on_conflict_do_nothing(), rows)

    def missing(self, destination: str, containers: Iterable[str]) -> Iterator[list[tuple[str, str, str | None]]]:
        """
        Yield, ``CHUNK`` rows at a time, the ``(key, container, remote_id)`` of objects synced to ``destination``
        from ``containers`` that this listing did not return.
        """
        from sqlalchemy import and_, select

        self.flush()
        ledger, seen = ledger_table(), self.table
        query = (
            select(ledger.c.object_key, ledger.c.container, ledger.c.remote_id)
            .select_from(
                ledger.outerjoin(seen, and_(seen.c.listing == self.listing, seen.c.object_key == ledger.c.object_key))
            )
            .where(
                ledger.c.destination == destination,
                ledger.c.state == SYNCED,
                ledger.c.container.in_(list(containers)),
                seen.c.object_key.is_(None),
            )
            .order_by(ledger.c.object_key)
        )
        with self.db.engine.connect() as conn:
            result = conn.execution_options(yield_per=CHUNK).execute(query)
            for part in result.partitions(CHUNK):
                yield [(key, container, remote) for key, container, remote in part]

    def clear(self) -> None:
        """Forget this listing's keys."""
        from sqlalchemy import delete

        with self.db.engine.begin() as conn:
            conn.execute(delete(self.table).where(self.table.c.listing == self.listing))


def seen_keys(db: LedgerHook, listing: str) -> SeenKeys:
    """Return the seen-keys record of ``listing``, emptied (a retried task lists again from the start)."""
    seen = SeenKeys(db, listing)
    seen.clear()
    return seen
