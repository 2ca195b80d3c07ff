"""
Watermarks: per destination and listing scope, the newest ``updated_at`` HrFlow showed that the changes listing
has settled (see :mod:`hrflow_airflow.sync.changes`). HrFlow's own clock, never Airflow's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hrflow_airflow.ledger.db import now
from hrflow_airflow.ledger.schema import watermark_table

if TYPE_CHECKING:
    from hrflow_airflow.ledger.db import LedgerHook


class Watermarks:
    """The changes listing's watermarks, in the ledger database ``db``."""

    def __init__(self, db: LedgerHook) -> None:
        self.db = db

    def get(self, destination: str, scope: str) -> str | None:
        """Return the newest ``updated_at`` (HrFlow's) the changes listing of ``scope`` has settled, or None."""
        from sqlalchemy import select

        table = watermark_table()
        with self.db.engine.connect() as conn:
            return conn.execute(
                select(table.c.updated_at).where(table.c.destination == destination, table.c.scope == scope)
            ).scalar_one_or_none()

    def set(self, destination: str, scope: str, value: str) -> None:
        """Record ``value`` as the watermark of ``scope``."""
        row = {"destination": destination, "scope": scope, "updated_at": value, "set_at": now()}
        self.db.upsert(
            watermark_table(),
            [row],
            ["destination", "scope"],
            lambda stmt: {"updated_at": stmt.excluded.updated_at, "set_at": stmt.excluded.set_at},
        )

    def forget(self, destination: str, scope: str) -> None:
        """Remove the watermark of ``scope`` (a later run starts it anew)."""
        from sqlalchemy import delete

        table = watermark_table()
        with self.db.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.destination == destination, table.c.scope == scope))
