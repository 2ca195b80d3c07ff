"""
Every table of the ledger's database (SQLAlchemy Core), in one metadata, and their in-place migration.

The sync's tables (ledger, watermarks, parts, seen keys, sealed keys), the HrFlow page's (:mod:`.history`) and the
event flow's (the webhook inbox, the message record, the SMS bursts: :mod:`hrflow_airflow.events`) are declared
here and created together with the ledger's engine (:func:`create`). Tables are built on first use: importing this
module imports no SQLAlchemy, so DAG files parse without it. A table created by an older version gains the
columns it lacks on first use (:func:`migrate`, every table), through Alembic's operations (an Airflow
dependency): no data is lost, no SQL is written by hand.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Column, MetaData, Table
    from sqlalchemy.engine import Engine

TABLE = "hrflow_sync_ledger"
WATERMARKS = "hrflow_sync_watermark"
PARTS = "hrflow_sync_part"
SEEN = "hrflow_seen"  # the keys a full sweep listed (ledger/seen.py)
KEYS = "hrflow_keys"  # keys sealed under the Fernet key (ledger/keys.py)
TURNS = "hrflow_sync_turn"  # which run writes a destination's objects of one kind now (ledger/turns.py)
INBOX = "hrflow_webhook_inbox"  # the webhook's deliveries (events/inbox.py)
MESSAGES = "hrflow_messages"  # what each message key sent (events/outbox.py)
BURSTS = "hrflow_sms_bursts"  # the SMS runs of each 10-minute window (events/digest.py)
REASON_LIMIT = 300


def ledger_columns() -> list[Any]:
    """Return the ledger table's columns: one row per object and destination."""
    from sqlalchemy import Column, Integer, String

    return [
        Column("destination", String(250), primary_key=True),  # the destination connection id
        Column("object_key", String(64), primary_key=True),
        Column("container", String(64), nullable=False, index=True),
        Column("state", String(16), nullable=False),
        Column("remote_id", String(250)),
        Column("attempts", Integer, nullable=False, default=1),
        Column("updated_at", String(32), nullable=False),
        # added with refusals
        Column("record_hash", String(64)),
        Column("refusals", Integer, nullable=False, default=0, server_default="0"),
        Column("reason", String(REASON_LIMIT)),
        Column("refused_run", String(250)),
        # added with updates (change detection)
        Column("synced_hash", String(64)),
        Column("group_key", String(80)),
        Column("sent_hash", String(64)),
        # added with "adopt only what we made": how the remote record came to be ours, and the first send
        Column("origin", String(16)),  # created | linked | hint | unlinked; NULL: before 0.3 (audit_links checks)
        Column("sent_at", String(32)),  # UTC ISO time of the first create sent since the last outcome
    ]


@cache
def metadata() -> MetaData:
    """Return the metadata holding every table of the ledger's database."""
    from sqlalchemy import MetaData, Table

    from hrflow_airflow.ledger import history

    meta = MetaData()
    history.define(meta, Table(TABLE, meta, *ledger_columns()))  # the HrFlow page's tables and indexes
    sync_tables(meta)
    event_tables(meta)
    return meta


def sync_tables(meta: MetaData) -> None:
    """Add the sync's tables beside the ledger: watermarks, parts, the seen keys, the turns, the sealed keys."""
    from sqlalchemy import Column, String, Table, Text

    Table(
        WATERMARKS,
        meta,
        Column("destination", String(250), primary_key=True),
        Column("scope", String(250), primary_key=True),
        Column("updated_at", String(40), nullable=False),
        Column("set_at", String(32), nullable=False),
    )
    Table(  # what went with each object beyond its record: its CV, its applications (hrflow_airflow.ledger.parts)
        PARTS,
        meta,
        Column("destination", String(250), primary_key=True),
        Column("object_key", String(64), primary_key=True),
        Column("part", String(160), primary_key=True),  # "cv", "job:<ATS job id>"
        Column("state", String(16), nullable=False, index=True),
        Column("remote_id", String(250)),  # the file's, the application's or the per-job record's id
        Column("fingerprint", String(120)),  # the CV's alt@updated_at (what was sent, or tried)
        Column("reason", String(REASON_LIMIT)),
        Column("sent_at", String(32)),
        Column("updated_at", String(32), nullable=False),
    )
    Table(
        SEEN,
        meta,
        Column("listing", String(250), primary_key=True),
        Column("object_key", String(64), primary_key=True),
    )
    Table(
        TURNS,
        meta,
        Column("name", String(250), nullable=False, index=True),  # "<destination>/<plural>"
        Column("holding", String(32), primary_key=True),  # one holding task
        Column("run_id", String(250), nullable=False),
        Column("touched_at", String(32), nullable=False),  # UTC ISO time of its last heartbeat
    )
    Table(
        KEYS,
        meta,
        Column("name", String(64), primary_key=True),
        Column("sealed", Text, nullable=False),  # a Fernet token
        Column("created_at", String(32), nullable=False),
        Column("sealed_at", String(32), nullable=False),
    )


def event_tables(meta: MetaData) -> None:
    """Add the event flow's tables: the webhook inbox, the message record, the SMS bursts. Keys and times only."""
    from sqlalchemy import Column, Integer, String, Table, Text

    Table(
        INBOX,
        meta,
        Column("run_id", String(250), primary_key=True),
        Column("conf", Text, nullable=False),
        Column("received_at", String(32), nullable=False, index=True),
        Column("started_at", String(32)),
        Column("status", String(16)),  # what starting it answered: triggered / duplicate
        Column("batch_id", String(250), index=True),  # the SMS run that carries it (events/inbox.py), once claimed
    )
    Table(
        MESSAGES,
        meta,
        Column("message_key", String(120), primary_key=True),
        Column("kind", String(32), nullable=False),
        Column("state", String(500), nullable=False),  # JSON: keys and times only
        Column("updated_at", String(32), nullable=False),
    )
    Table(
        BURSTS,
        meta,
        Column("window_start", Integer, primary_key=True),  # Unix time of the window's start
        Column("runs", Integer, nullable=False),
    )


def table(name: str) -> Table:
    """Return table ``name`` of the ledger's database (created with the ledger's engine)."""
    return metadata().tables[name]


def ledger_table() -> Table:
    """Return the ledger table: one row per object and destination."""
    return metadata().tables[TABLE]


def watermark_table() -> Table:
    """Return the watermark table: one row per destination and listing scope."""
    return metadata().tables[WATERMARKS]


def parts_table() -> Table:
    """Return the parts table: one row per object, destination and part (its CV, each application)."""
    return metadata().tables[PARTS]


def create(engine: Engine) -> None:
    """
    Create the tables that do not exist yet, then add the columns a table of an older version lacks. Several task
    processes may start on a new ledger at once: one that loses the race to create or migrate (the table or
    the column exists by then) checks again instead of failing.
    """
    from sqlalchemy.exc import DatabaseError

    from hrflow_airflow.ledger import history

    for last in (False, True):
        try:
            metadata().create_all(engine, checkfirst=True)
            migrate(engine)
            history.ensure_indexes(engine, metadata(), TABLE)
            return
        except DatabaseError:
            if last:
                raise


def migrate(engine: Engine) -> list[str]:
    """
    Add the columns every existing table lacks (an in-place upgrade of a table an older version created); return
    them as ``table.column``. A column added to a table that has rows is nullable unless it has a server default.
    """
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from sqlalchemy import inspect

    inspector = inspect(engine)
    existing = set(inspector.get_table_names())
    missing: list[tuple[str, Column]] = []
    for name, declared in metadata().tables.items():
        if name in existing:
            present = {column["name"] for column in inspector.get_columns(name)}
            missing += [(name, column) for column in declared.columns if column.name not in present]
    if missing:
        with engine.begin() as conn:
            operations = Operations(MigrationContext.configure(conn))
            for name, column in missing:
                operations.add_column(name, addable(column))
    return [f"{name}.{column.name}" for name, column in missing]


def addable(column: Column) -> Column:
    """Return a new column like ``column`` that a table with rows can gain (a Column belongs to one table)."""
    from sqlalchemy import Column

    default = column.server_default
    return Column(
        column.name,
        column.type,
        nullable=column.nullable or default is None,
        server_default=default.arg if default is not None else None,
    )
