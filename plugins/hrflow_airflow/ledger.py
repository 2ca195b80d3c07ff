"""
The sync ledger: a durable, per-object record of what a destination has accepted and is not yet tagged.

A batch ``Idempotency-Key`` and the task state store only protect retries of the *same* batch. When a
later run cuts its batches differently (new objects sort before old ones, some were tagged, the batch
size changed), only a per-object record keeps an object the ATS already accepted from being posted
again. Every object goes through::

    (absent) --record_intent--> intent --record_accepted--> accepted --forget (after sync=1 is on it)--> (absent)

* ``intent``: about to be sent. A crash or a lost answer leaves it there; the next attempt knows the
  object may have arrived (destinations with a lookup check first; the JSON batch endpoint resends
  with the same ``Idempotency-Key``).
* ``accepted``: the destination said yes (``remote_id`` when it returns one). Any later run skips the
  send and only tags.
* Tagged objects are forgotten, so the ledger holds only objects in flight or accepted-but-untagged:
  it is bounded by the backlog, not by history. A full sweep also drops rows whose object is no
  longer pending (tagged by someone else, or deleted).

Where it lives: the database of connection ``hrflow_ledger`` (``postgres`` or ``sqlite`` type), table
``hrflow_sync_ledger``. Without that connection: a SQLite file ``$AIRFLOW_HOME/hrflow_ledger.db``, which
suits one machine (``airflow standalone``, LocalExecutor, ``airflow dags test``); workers on several
machines need the shared database connection. If the ledger is lost, nothing is silently skipped:
objects accepted but not yet tagged are posted once more (at-least-once).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

TABLE = "hrflow_sync_ledger"
INTENT, ACCEPTED = "intent", "accepted"
CHUNK = 500  # keys per IN (...) clause


@dataclass(frozen=True)
class Entry:
    """What the ledger knows of one object at one destination."""

    state: str
    container: str
    remote_id: str | None = None
    attempts: int = 1


class LedgerHook(BaseHook):
    """
    Read and write the sync ledger.

    :param ledger_conn_id: a ``postgres`` or ``sqlite`` connection; when it does not exist, a SQLite file
        under ``$AIRFLOW_HOME`` is used.
    """

    conn_name_attr = "ledger_conn_id"
    default_conn_name = "hrflow_ledger"
    conn_type = "hrflow_ledger"
    hook_name = "HrFlow sync ledger"

    def __init__(self, *, ledger_conn_id: str = default_conn_name, logger_name: str | None = None) -> None:
        super().__init__(logger_name=logger_name)
        self.ledger_conn_id = ledger_conn_id

    @cached_property
    def url(self) -> str:
        """Return the SQLAlchemy URL of the ledger database."""
        try:
            conn = self.get_connection(self.ledger_conn_id)
        except AirflowNotFoundException:
            home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
            return f"sqlite:///{home / 'hrflow_ledger.db'}"
        kind = (conn.conn_type or "").lower()
        if kind in ("postgres", "postgresql"):
            from sqlalchemy.engine import URL

            return URL.create(
                "postgresql+psycopg2",
                username=conn.login or None,
                password=conn.password or None,
                host=conn.host or None,
                port=conn.port or None,
                database=conn.schema or None,
            ).render_as_string(hide_password=False)
        if kind == "sqlite":
            if not conn.host:
                raise ValueError(
                    f"Connection '{self.ledger_conn_id}' (sqlite) has no host: set it to the database file path"
                )
            return f"sqlite:///{conn.host}"
        raise ValueError(
            f"Connection '{self.ledger_conn_id}' has type '{conn.conn_type}'; the sync ledger needs "
            "'postgres' or 'sqlite'"
        )

    @cached_property
    def engine(self) -> Engine:
        """Return the engine, with the ledger table created on first use."""
        from sqlalchemy import create_engine, event

        if self.url.startswith("sqlite"):
            engine = create_engine(self.url, connect_args={"timeout": 60})

            @event.listens_for(engine, "connect")
            def _wal(dbapi_conn, _record):  # several task processes write at once
                dbapi_conn.execute("PRAGMA journal_mode=WAL")
        else:
            engine = create_engine(self.url, pool_pre_ping=True, pool_size=2)
        _table().metadata.create_all(engine, checkfirst=True)
        return engine

    def get_conn(self) -> Engine:
        return self.engine

    # -- reads --------------------------------------------------------------------------------
    def lookup(self, destination: str, keys: Iterable[str]) -> dict[str, Entry]:
        """Return the ledger entries of ``keys`` at ``destination`` (objects without one are absent)."""
        from sqlalchemy import select

        table, found = _table(), {}
        keys = list(keys)
        with self.engine.connect() as conn:
            for i in range(0, len(keys), CHUNK):
                rows = conn.execute(
                    select(
                        table.c.object_key, table.c.state, table.c.container, table.c.remote_id, table.c.attempts
                    ).where(table.c.destination == destination, table.c.object_key.in_(keys[i : i + CHUNK]))
                )
                for key, state, container, remote_id, attempts in rows:
                    found[key] = Entry(state, container, remote_id, attempts)
        return found

    def count(self, destination: str, state: str | None = None) -> int:
        """Return how many objects the ledger holds for ``destination`` (in ``state`` if given)."""
        from sqlalchemy import func, select

        table = _table()
        query = select(func.count()).select_from(table).where(table.c.destination == destination)
        if state:
            query = query.where(table.c.state == state)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # -- writes -------------------------------------------------------------------------------
    def record_intent(self, destination: str, items: Iterable[tuple[str, str]]) -> None:
        """Record that ``(key, container)`` items are about to be sent; an accepted entry stays accepted."""
        rows = [
            {
                "destination": destination,
                "object_key": key,
                "container": container,
                "state": INTENT,
                "remote_id": None,
                "attempts": 1,
                "updated_at": _now(),
            }
            for key, container in items
        ]
        self._upsert(rows, {"attempts": "attempts + 1"}, only_if_state=INTENT)

    def record_accepted(
        self, destination: str, items: Iterable[tuple[str, str]], remote_ids: dict[str, str] | None = None
    ) -> None:
        """Record that the destination accepted ``(key, container)`` items (with their remote ids, if any)."""
        remote_ids = remote_ids or {}
        rows = [
            {
                "destination": destination,
                "object_key": key,
                "container": container,
                "state": ACCEPTED,
                "remote_id": remote_ids.get(key),
                "attempts": 1,
                "updated_at": _now(),
            }
            for key, container in items
        ]
        self._upsert(rows, {"state": None, "remote_id": None})

    def forget(self, destination: str, keys: Iterable[str]) -> None:
        """Drop the entries of ``keys``: they are tagged ``sync=1`` in HrFlow, which is the state from now on."""
        from sqlalchemy import delete

        table, keys = _table(), list(keys)
        with self.engine.begin() as conn:
            for i in range(0, len(keys), CHUNK):
                conn.execute(
                    delete(table).where(table.c.destination == destination, table.c.object_key.in_(keys[i : i + CHUNK]))
                )

    def keys(self, destination: str, containers: Iterable[str]) -> set[str]:
        """Return the keys of ``containers`` the ledger holds for ``destination`` (few: accepted, not yet tagged)."""
        from sqlalchemy import select

        table = _table()
        with self.engine.connect() as conn:
            return {
                key
                for (key,) in conn.execute(
                    select(table.c.object_key).where(
                        table.c.destination == destination, table.c.container.in_(list(containers))
                    )
                )
            }

    def prune(self, destination: str, tracked: set[str], pending: set[str]) -> int:
        """
        Drop the entries in ``tracked`` (read with :meth:`keys` before the listing) whose object is not in
        ``pending`` (the tracked keys the listing met); return how many.

        Only a full sweep without a window knows every pending object of its containers, so only it prunes.
        Memory holds the ledger's keys, not the listing's.
        """
        stale = sorted(tracked - pending)
        self.forget(destination, stale)
        return len(stale)

    def _upsert(
        self, rows: list[dict[str, Any]], on_conflict: dict[str, str | None], only_if_state: str | None = None
    ) -> None:
        if not rows:
            return
        from sqlalchemy import literal_column

        table = _table()
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(table)
        updates = {
            name: literal_column(f"{TABLE}.{expr}") if expr else stmt.excluded[name]
            for name, expr in on_conflict.items()
        }
        updates["updated_at"] = stmt.excluded.updated_at
        stmt = stmt.on_conflict_do_update(
            index_elements=["destination", "object_key"],
            set_=updates,
            where=(table.c.state == only_if_state) if only_if_state else None,
        )
        with self.engine.begin() as conn:
            for i in range(0, len(rows), CHUNK):
                conn.execute(stmt, rows[i : i + CHUNK])


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


_TABLE = None


def _table():
    """Return the ledger's SQLAlchemy table (built on first use: no SQLAlchemy import at DAG parse time)."""
    global _TABLE
    if _TABLE is None:
        from sqlalchemy import Column, Integer, MetaData, String, Table

        _TABLE = Table(
            TABLE,
            MetaData(),
            Column("destination", String(250), primary_key=True),  # the destination connection id
            Column("object_key", String(64), primary_key=True),
            Column("container", String(64), nullable=False, index=True),
            Column("state", String(16), nullable=False),
            Column("remote_id", String(250)),
            Column("attempts", Integer, nullable=False, default=1),
            Column("updated_at", String(32), nullable=False),
        )
    return _TABLE
