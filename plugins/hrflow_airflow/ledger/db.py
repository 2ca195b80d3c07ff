"""
The ledger's database: connection ``hrflow_ledger`` to a SQLAlchemy engine, with a SQLite fallback.

Where it lives: the database of connection ``hrflow_ledger`` (``postgres`` or ``sqlite`` type). Without that
connection: a SQLite file ``$AIRFLOW_HOME/hrflow_ledger.db``, which suits one machine (``airflow standalone``,
LocalExecutor, ``airflow dags test``); workers on several machines need the shared database connection.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.ledger import schema

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

CHUNK = 500  # keys per IN (...) clause


class LedgerHook(BaseHook):
    """
    The ledger's database: its URL, its engine (tables created and migrated on first use), upserts in its dialect.

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
                raise BadConfigError(
                    f"Connection '{self.ledger_conn_id}' (sqlite) has no host: set it to the database file path"
                )
            return f"sqlite:///{conn.host}"
        raise BadConfigError(
            f"Connection '{self.ledger_conn_id}' has type '{conn.conn_type}'; the sync ledger needs "
            "'postgres' or 'sqlite'"
        )

    @cached_property
    def engine(self) -> Engine:
        """
        Return the process's engine for this URL, with the ledger's tables created (and migrated) on first use.

        One per process and URL, as Airflow keeps its own: every task of an `airflow dags test` run (one process)
        shares it instead of leaving an engine, its pool and its compiled statements behind per task.
        """
        with _CREATING:
            engine = _ENGINES.get((os.getpid(), self.url))
            if engine is None:
                engine = _ENGINES[(os.getpid(), self.url)] = self.new_engine()
        return engine

    def new_engine(self) -> Engine:
        from sqlalchemy import create_engine, event

        if self.url.startswith("sqlite"):
            engine = create_engine(self.url, connect_args={"timeout": 60})

            @event.listens_for(engine, "connect")
            def _wal(dbapi_conn, _record):  # several task processes write at once
                dbapi_conn.execute("PRAGMA journal_mode=WAL")
        else:
            engine = create_engine(self.url, pool_pre_ping=True, pool_size=2)
        schema.create(engine)
        return engine

    def get_conn(self) -> Engine:
        return self.engine

    def insert(self, table: Any) -> Any:
        """Return an INSERT into ``table`` in this database's dialect, which has ON CONFLICT (PostgreSQL, SQLite)."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """
        Hold lock ``name`` across every process that shares this ledger (the tasks of a run, on any worker), and
        across threads: a PostgreSQL advisory lock, or, for a SQLite ledger (one machine), an ``flock`` on a file
        beside the database. For a vendor rule such as "one lookup at a time per API key".
        """
        with _thread_lock(self.url, name):
            if self.engine.dialect.name == "postgresql":
                from sqlalchemy import text

                lock_id = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
                with self.engine.connect() as conn:
                    conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
                    try:
                        yield
                    finally:
                        conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
                        conn.commit()
                return
            path = Path(self.url.removeprefix("sqlite:///") or "hrflow_ledger.db")
            digest = hashlib.sha256(name.encode()).hexdigest()[:16]
            with open(path.with_name(f"{path.name}.{digest}.lock"), "a+b") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def upsert(self, table: Any, rows: list[dict[str, Any]], key: list[str], set_: Any, where: Any = None) -> None:
        """Insert ``rows`` into ``table``; on a ``key`` conflict set ``set_(stmt)`` (where ``where``), in chunks."""
        if not rows:
            return
        stmt = self.insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=key, set_=set_(stmt), where=where)
        with self.engine.begin() as conn:
            for i in range(0, len(rows), CHUNK):
                conn.execute(stmt, rows[i : i + CHUNK])


_CREATING = threading.RLock()
_ENGINES: dict[tuple[int, str], Engine] = {}  # (process, URL) -> engine
_LOCKS: dict[tuple[str, str], threading.Lock] = {}


def _thread_lock(url: str, name: str) -> threading.Lock:
    """Return the process's lock for ``name`` in the database at ``url`` (flock does not order threads)."""
    with _CREATING:
        return _LOCKS.setdefault((url, name), threading.Lock())


def now() -> str:
    """Return the time rows carry: UTC, ISO 8601, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
