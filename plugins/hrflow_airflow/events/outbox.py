"""
The message record: a durable note, per message key, of what was sent, kept next to the sync ledger.

An SMS run has Airflow's task state store; an alert (a DAG callback) has no task, so no store. Both messaging
hooks record an intent before the request and the answer after it in a ``get``/``set`` store; alerts use this
table, ``hrflow_messages`` in the ledger's database (connection ``hrflow_ledger``, else the SQLite file under
``$AIRFLOW_HOME``). A row holds the message key (``alert-<hash of kind/dag/run>``), the state the hook wrote
(``{"intent": time}``, ``{"sent": time}``, ``{"sid": ...}``: never the text or the number) and when.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from hrflow_airflow.ledger import LedgerHook
from hrflow_airflow.ledger.schema import MESSAGES, table


class MessageRecords:
    """A ``get``/``set`` store of message states in the ledger's database (the task state store's interface)."""

    def __init__(self, kind: str, ledger: LedgerHook | None = None) -> None:
        self.kind = kind
        self.ledger = ledger or LedgerHook()

    @cached_property
    def table(self) -> Any:
        """Return the message table (created with the ledger's engine)."""
        return table(MESSAGES)

    def get(self, key: str, default: Any = None) -> Any:
        """Return the state recorded for ``key``, else ``default``."""
        from sqlalchemy import select

        with self.ledger.engine.connect() as conn:
            raw = conn.execute(select(self.table.c.state).where(self.table.c.message_key == key)).scalar_one_or_none()
        return default if raw is None else json.loads(raw)

    def set(self, key: str, value: Any) -> None:
        """Record ``value`` (JSON: keys and times, never message text) as the state of ``key``."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        row = {"message_key": key, "kind": self.kind, "state": json.dumps(value), "updated_at": now}
        stmt = self.ledger.insert(self.table).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["message_key"], set_={"state": row["state"], "updated_at": now}
        )
        with self.ledger.engine.begin() as conn:
            conn.execute(stmt)

    def claim(self, key: str, value: Any) -> bool:
        """
        Record ``value`` for ``key`` where nothing is recorded yet, or where a refusal is; return whether it did.

        One statement decides, so of two callers at once (two callbacks of one run, two processes) exactly one
        claims the message and sends it; the other finds the claim and sends nothing.
        """
        from sqlalchemy import select, update

        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        state = json.dumps(value)
        row = {"message_key": key, "kind": self.kind, "state": state, "updated_at": now}
        insert = self.ledger.insert(self.table).values(**row).on_conflict_do_nothing(index_elements=["message_key"])
        column = self.table.c
        with self.ledger.engine.begin() as conn:
            if conn.execute(insert).rowcount == 1:
                return True
            raw = conn.execute(select(column.state).where(column.message_key == key)).scalar_one_or_none()
            if raw is None or "refused" not in json.loads(raw):
                return False
            retake = update(self.table).where(column.message_key == key, column.state == raw)
            return conn.execute(retake.values(state=state, updated_at=now)).rowcount == 1
