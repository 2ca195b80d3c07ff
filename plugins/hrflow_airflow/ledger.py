"""
The sync ledger: a durable, per-object record of what each destination holds.

A batch ``Idempotency-Key`` and the task state store only protect retries of the *same* batch. When a
later run cuts its batches differently (new objects sort before old ones, some were tagged, the batch
size changed), only a per-object record keeps an object the ATS already accepted from being posted
again. And only a record of *what* the ATS accepted tells an edit in HrFlow from our own tagging. Every
object goes through::

    (absent) --record_intent--> intent --record_accepted--> accepted --mark_synced (sync=1 on it)--> synced
                                  |                                                                    |
                                  +--record_refusals--> refused --(max_refusals)--> quarantined        |
                                                                                                       |
    synced --(an edit changes the mapped record: another hash)--> update sent --record_updated--> synced

* ``intent``: about to be sent. A crash or a lost answer leaves it there; the next attempt knows the
  object may have arrived (destinations with a lookup check first; the JSON batch endpoint resends
  with the same ``Idempotency-Key``).
* ``accepted``: the destination said yes (``remote_id`` when it returns one). Any later run skips the
  send and only tags.
* ``synced``: tagged ``sync=1`` in HrFlow. The row stays: ``synced_hash`` is a keyed hash
  (:func:`hrflow_airflow.sealed.record_hash`, never the record) of the last record the destination
  accepted, so a later run sends an update only when the mapped record changed, never for our own tag.
* ``refused``: the destination refused the record (a 4xx naming it). The row keeps a keyed hash of the
  refused record (``record_hash``), the count of refusals of that same record and the reason, redacted.
  After ``[hrflow] max_refusals`` refusals it is ``quarantined``: later runs skip it until its record
  changes (another hash) or an operator releases it (:meth:`LedgerHook.release`,
  ``python -m hrflow_airflow.quarantine``).

Size: one row per object ever synced per destination (in PostgreSQL about 390 bytes with its indexes once
vacuumed: some 370 MB for a million objects; ``bench/ledger_size.py``); reads and writes go by primary key, in chunks of
:data:`CHUNK` keys, so no step loads the table. Rows of objects deleted in HrFlow stay until removed by hand.
Table ``hrflow_sync_watermark`` holds, per destination and listing, the newest ``updated_at`` HrFlow showed
(see :mod:`hrflow_airflow.sync.changes`).

Where it lives: the database of connection ``hrflow_ledger`` (``postgres`` or ``sqlite`` type), table
``hrflow_sync_ledger``. Without that connection: a SQLite file ``$AIRFLOW_HOME/hrflow_ledger.db``, which
suits one machine (``airflow standalone``, LocalExecutor, ``airflow dags test``); workers on several
machines need the shared database connection. If the ledger is lost, nothing is silently skipped:
objects accepted but not yet tagged are posted once more (at-least-once), and the next run records a
baseline of the synced ones (no update sent).
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
INTENT, ACCEPTED, SYNCED, REFUSED, QUARANTINED = "intent", "accepted", "synced", "refused", "quarantined"
DELIVERED = (ACCEPTED, SYNCED)  # the destination holds the object: never create it again
WATERMARKS = "hrflow_sync_watermark"
REASON_LIMIT = 300
CHUNK = 500  # keys per IN (...) clause


@dataclass(frozen=True)
class Entry:
    """What the ledger knows of one object at one destination."""

    state: str
    container: str
    remote_id: str | None = None
    attempts: int = 1
    record_hash: str | None = None  # of the last record refused (keyed: see sealed.record_hash)
    refusals: int = 0  # refusals of that same record
    reason: str | None = None  # the last refusal's reason, redacted
    refused_run: str | None = None  # the run that counted the last refusal
    synced_hash: str | None = None  # of the last record the destination accepted (keyed)
    group_key: str | None = None  # intent: the Idempotency-Key of the request that carried it (JSON endpoint)
    sent_hash: str | None = None  # intent: the hash of the record that request carried


@dataclass(frozen=True)
class Refusal:
    """One record the destination refused in one run."""

    key: str
    container: str
    record_hash: str
    reason: str


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
        _watermarks()  # on the same metadata: created with the ledger table
        _table().metadata.create_all(engine, checkfirst=True)
        add_missing_columns(engine)
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

    def side_table(self, name: str, *columns: Any) -> Any:
        """Return table ``name`` of ``columns`` in the ledger's database, created on first use (messages, inbox)."""
        from sqlalchemy import MetaData, Table

        table = Table(name, MetaData(), *columns)
        table.metadata.create_all(self.engine, checkfirst=True)
        return table

    # -- reads --------------------------------------------------------------------------------
    def lookup(self, destination: str, keys: Iterable[str]) -> dict[str, Entry]:
        """Return the ledger entries of ``keys`` at ``destination`` (objects without one are absent)."""
        from sqlalchemy import select

        table, found = _table(), {}
        keys = list(keys)
        with self.engine.connect() as conn:
            for i in range(0, len(keys), CHUNK):
                rows = conn.execute(
                    select(table.c.object_key, *(table.c[name] for name in ENTRY_COLUMNS)).where(
                        table.c.destination == destination, table.c.object_key.in_(keys[i : i + CHUNK])
                    )
                )
                for key, *values in rows:
                    found[key] = Entry(**dict(zip(ENTRY_COLUMNS, values)))
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
    def record_intent(
        self,
        destination: str,
        items: Iterable[tuple[str, str]],
        *,
        group_key: str | None = None,
        hashes: dict[str, str] | None = None,
    ) -> None:
        """
        Record that ``(key, container)`` items are about to be sent (in one request of ``group_key``, each with the
        record of hash ``hashes[key]``); an accepted or synced entry stays as it is.
        """
        hashes = hashes or {}
        rows = [
            {
                "destination": destination,
                "object_key": key,
                "container": container,
                "state": INTENT,
                "remote_id": None,
                "attempts": 1,
                "group_key": group_key,
                "sent_hash": hashes.get(key),
                "updated_at": _now(),
            }
            for key, container in items
        ]
        on_conflict = {"state": None, "attempts": "attempts + 1", "group_key": None, "sent_hash": None}
        self._upsert(rows, on_conflict, unless_state=DELIVERED)

    def record_accepted(
        self,
        destination: str,
        items: Iterable[tuple[str, str]],
        remote_ids: dict[str, str] | None = None,
        hashes: dict[str, str] | None = None,
    ) -> None:
        """
        Record that the destination accepted ``(key, container)`` items (with their remote ids, if any, and
        the keyed hash of each record it accepted). A synced object stays synced.
        """
        remote_ids, hashes = remote_ids or {}, hashes or {}
        rows = [
            {
                "destination": destination,
                "object_key": key,
                "container": container,
                "state": ACCEPTED,
                "remote_id": remote_ids.get(key),
                "attempts": 1,
                "refusals": 0,
                "reason": None,
                "synced_hash": hashes.get(key),
                "updated_at": _now(),
            }
            for key, container in items
        ]
        keep = {"state": f"CASE WHEN {TABLE}.state = '{SYNCED}' THEN '{SYNCED}' ELSE '{ACCEPTED}' END"}
        self._upsert(
            rows,
            {**keep, "remote_id": f"COALESCE(excluded.remote_id, {TABLE}.remote_id)", "refusals": None,
             "reason": None, "synced_hash": f"COALESCE(excluded.synced_hash, {TABLE}.synced_hash)"},
        )  # fmt: skip

    def mark_synced(self, destination: str, keys: Iterable[str]) -> None:
        """Record that ``keys`` carry ``sync=1`` in HrFlow now (their rows stay, with the accepted record's hash)."""
        self._set(destination, keys, state=SYNCED)

    def forget(self, destination: str, keys: Iterable[str]) -> None:
        """Drop the rows of ``keys`` (an operator's choice: a later run creates the object again if it is pending)."""
        from sqlalchemy import delete

        table, keys = _table(), list(keys)
        with self.engine.begin() as conn:
            for i in range(0, len(keys), CHUNK):
                conn.execute(
                    delete(table).where(table.c.destination == destination, table.c.object_key.in_(keys[i : i + CHUNK]))
                )

    def record_updated(self, destination: str, hashes: dict[str, str]) -> None:
        """Record that the destination accepted an update of each key to the record of hash ``hashes[key]``."""
        from sqlalchemy import bindparam, case, update

        table = _table()
        rows = [{"k": key, "h": value, "now": _now()} for key, value in hashes.items()]
        state = case((table.c.state == ACCEPTED, ACCEPTED), else_=SYNCED)  # accepted, not yet tagged, stays so
        query = (
            update(table)
            .where(table.c.destination == destination, table.c.object_key == bindparam("k"))
            .values(state=state, synced_hash=bindparam("h"), refusals=0, reason=None, updated_at=bindparam("now"))
        )
        with self.engine.begin() as conn:
            for i in range(0, len(rows), CHUNK):
                conn.execute(query, rows[i : i + CHUNK])

    def record_baseline(self, destination: str, rows: Iterable[tuple[str, str, str | None, str]]) -> None:
        """
        Record ``(key, container, remote_id, hash)`` of objects synced before the ledger kept them (an upgrade,
        a lost ledger): what HrFlow holds now is taken as what the destination holds. Known rows are kept.
        """
        rows = [
            {
                "destination": destination, "object_key": key, "container": container, "state": SYNCED,
                "remote_id": remote_id, "attempts": 1, "synced_hash": value, "updated_at": _now(),
            }
            for key, container, remote_id, value in rows
        ]  # fmt: skip
        self._upsert(rows, {"synced_hash": f"COALESCE({TABLE}.synced_hash, excluded.synced_hash)",
                            "remote_id": f"COALESCE({TABLE}.remote_id, excluded.remote_id)"})  # fmt: skip

    def _set(self, destination: str, keys: Iterable[str], **values: Any) -> None:
        from sqlalchemy import update

        table, keys = _table(), list(keys)
        with self.engine.begin() as conn:
            for i in range(0, len(keys), CHUNK):
                conn.execute(
                    update(table)
                    .where(table.c.destination == destination, table.c.object_key.in_(keys[i : i + CHUNK]))
                    .values(**values, updated_at=_now())
                )

    # -- the watermark of the changes listing ----------------------------------------------------
    def watermark(self, destination: str, scope: str) -> str | None:
        """Return the newest ``updated_at`` (HrFlow's) the changes listing of ``scope`` has settled, or None."""
        from sqlalchemy import select

        table = _watermarks()
        with self.engine.connect() as conn:
            return conn.execute(
                select(table.c.updated_at).where(table.c.destination == destination, table.c.scope == scope)
            ).scalar_one_or_none()

    def set_watermark(self, destination: str, scope: str, value: str) -> None:
        """Record ``value`` as the watermark of ``scope`` (HrFlow's own ``updated_at``, never Airflow's clock)."""
        stmt = self.insert(_watermarks()).values(destination=destination, scope=scope, updated_at=value, set_at=_now())
        stmt = stmt.on_conflict_do_update(
            index_elements=["destination", "scope"], set_={"updated_at": value, "set_at": stmt.excluded.set_at}
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def forget_watermark(self, destination: str, scope: str) -> None:
        """Remove the watermark of ``scope`` (a later run starts it anew)."""
        from sqlalchemy import delete

        table = _watermarks()
        with self.engine.begin() as conn:
            conn.execute(delete(table).where(table.c.destination == destination, table.c.scope == scope))

    def record_refusals(
        self, destination: str, refusals: Iterable[Refusal], *, run_id: str, max_refusals: int
    ) -> dict[str, Entry]:
        """
        Count one refusal of each record in ``run_id`` and return each object's entry after it.

        A record refused again with the same hash counts up (once per run: a task's retry does not count twice);
        another hash starts at 1. At ``max_refusals`` the object is quarantined.
        """
        refusals = list(refusals)
        known = self.lookup(destination, [r.key for r in refusals])
        rows, after = [], {}
        for refusal in refusals:
            entry = known.get(refusal.key)
            same = entry is not None and entry.record_hash == refusal.record_hash and entry.refusals > 0
            if same and entry.refused_run == run_id:
                count = entry.refusals
            else:
                count = entry.refusals + 1 if same else 1
            state = QUARANTINED if count >= max_refusals else REFUSED
            row = {
                "destination": destination,
                "object_key": refusal.key,
                "container": refusal.container,
                "state": state,
                "remote_id": entry.remote_id if entry else None,
                "attempts": entry.attempts if entry else 1,
                "record_hash": refusal.record_hash,
                "refusals": count,
                "reason": refusal.reason[:REASON_LIMIT],
                "refused_run": run_id,
                "updated_at": _now(),
            }
            rows.append(row)
            row = {**row, **{name: getattr(entry, name) if entry else None for name in KEPT}}  # as they are
            after[refusal.key] = Entry(**{name: row[name] for name in ENTRY_COLUMNS})
        self._upsert(rows, {name: None for name in ("state", "record_hash", "refusals", "reason", "refused_run")})
        return after

    def intent_groups(self, destination: str, containers: Iterable[str]) -> dict[str, str]:
        """
        Return ``{key: group_key}`` of the objects sent in a request whose answer never came (state ``intent``):
        few, the requests in flight when a run stopped. A later run sends each group again as it was.
        """
        from sqlalchemy import select

        table = _table()
        query = select(table.c.object_key, table.c.group_key).where(
            table.c.destination == destination,
            table.c.state == INTENT,
            table.c.group_key.is_not(None),
            table.c.container.in_(list(containers)),
        )
        with self.engine.connect() as conn:
            return {key: group for key, group in conn.execute(query)}

    def refused_updates(self, destination: str, containers: Iterable[str], limit: int = 1000) -> list[tuple[str, str]]:
        """Return ``(key, container)`` of synced objects whose last update was refused (read again by key)."""
        from sqlalchemy import select

        table = _table()
        query = (
            select(table.c.object_key, table.c.container)
            .where(
                table.c.destination == destination,
                table.c.state == REFUSED,
                table.c.synced_hash.is_not(None),
                table.c.container.in_(list(containers)),
            )
            .order_by(table.c.updated_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(key, container) for key, container in conn.execute(query)]

    def release(self, destination: str | None = None, keys: Iterable[str] | None = None) -> int:
        """Let quarantined objects be sent again (all, or ``keys``; all destinations unless one is named)."""
        from sqlalchemy import update

        table = _table()
        query = update(table).where(table.c.state == QUARANTINED)
        if destination:
            query = query.where(table.c.destination == destination)
        if keys is not None:
            query = query.where(table.c.object_key.in_(list(keys)))
        with self.engine.begin() as conn:
            return conn.execute(query.values(state=REFUSED, refusals=0, updated_at=_now())).rowcount

    def quarantined(self, destination: str | None = None) -> list[tuple[str, str, Entry]]:
        """Return ``(destination, key, entry)`` of every quarantined object, oldest first."""
        from sqlalchemy import select

        table = _table()
        query = select(table.c.destination, table.c.object_key, *(table.c[name] for name in ENTRY_COLUMNS)).where(
            table.c.state == QUARANTINED
        )
        if destination:
            query = query.where(table.c.destination == destination)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(table.c.updated_at))
            return [(dest, key, Entry(**dict(zip(ENTRY_COLUMNS, values)))) for dest, key, *values in rows]

    def _upsert(
        self, rows: list[dict[str, Any]], on_conflict: dict[str, str | None], unless_state: tuple[str, ...] = ()
    ) -> None:
        if not rows:
            return
        from sqlalchemy import literal_column

        stmt = self.insert(_table())
        updates = {name: _expression(stmt, expr) if expr else stmt.excluded[name] for name, expr in on_conflict.items()}
        updates["updated_at"] = stmt.excluded.updated_at
        stmt = stmt.on_conflict_do_update(
            index_elements=["destination", "object_key"],
            set_=updates,
            where=literal_column(f"{TABLE}.state NOT IN ({', '.join(repr(v) for v in unless_state)})")
            if unless_state
            else None,
        )
        with self.engine.begin() as conn:
            for i in range(0, len(rows), CHUNK):
                conn.execute(stmt, rows[i : i + CHUNK])


def _expression(stmt: Any, expr: str) -> Any:
    """Return an ON CONFLICT value: a ``COALESCE(...)`` or ``CASE ... END`` as it is, else the existing row's
    ``<expr>`` (``attempts + 1``: ``hrflow_sync_ledger.attempts + 1``, unambiguous in PostgreSQL)."""
    from sqlalchemy import literal_column

    if expr.startswith(("COALESCE(", "CASE ")):
        return literal_column(expr)
    return literal_column(f"{TABLE}.{expr}")


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
            # added with refusals; an older table gains them on first use (see LedgerHook.engine)
            Column("record_hash", String(64)),
            Column("refusals", Integer, nullable=False, default=0, server_default="0"),
            Column("reason", String(REASON_LIMIT)),
            Column("refused_run", String(250)),
            # added with updates (change detection)
            Column("synced_hash", String(64)),
            Column("group_key", String(80)),
            Column("sent_hash", String(64)),
        )
    return _TABLE


_WATERMARKS = None


def _watermarks():
    """Return the watermark table (one row per destination and listing scope)."""
    global _WATERMARKS
    if _WATERMARKS is None:
        from sqlalchemy import Column, String

        _WATERMARKS = _table().metadata.tables.get(WATERMARKS)
        if _WATERMARKS is None:
            from sqlalchemy import Table

            _WATERMARKS = Table(
                WATERMARKS,
                _table().metadata,
                Column("destination", String(250), primary_key=True),
                Column("scope", String(250), primary_key=True),
                Column("updated_at", String(40), nullable=False),
                Column("set_at", String(32), nullable=False),
            )
    return _WATERMARKS


KEPT = ("synced_hash", "group_key", "sent_hash")  # what a refusal leaves as it is
ENTRY_COLUMNS = (
    "state", "container", "remote_id", "attempts", "record_hash", "refusals", "reason", "refused_run", "synced_hash",
    "group_key", "sent_hash",
)  # fmt: skip
ADDED_COLUMNS = {
    "record_hash": "VARCHAR(64)",
    "refusals": "INTEGER NOT NULL DEFAULT 0",
    "reason": f"VARCHAR({REASON_LIMIT})",
    "refused_run": "VARCHAR(250)",
    "synced_hash": "VARCHAR(64)",
    "group_key": "VARCHAR(80)",
    "sent_hash": "VARCHAR(64)",
}


def add_missing_columns(engine: Engine) -> None:
    """Add the columns a ledger table created by an older version lacks (an in-place upgrade, no data lost)."""
    from sqlalchemy import inspect, text

    present = {column["name"] for column in inspect(engine).get_columns(TABLE)}
    with engine.begin() as conn:
        for name, ddl in ADDED_COLUMNS.items():
            if name not in present:
                conn.execute(text(f"ALTER TABLE {TABLE} ADD COLUMN {name} {ddl}"))
