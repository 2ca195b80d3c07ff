"""
The ledger's tables (SQLAlchemy Core) and their in-place migration.

Tables are built on first use: importing this module imports no SQLAlchemy, so DAG files parse without it.
A table created by an older version gains the columns it lacks on first use (:func:`migrate`), through
Alembic's operations (an Airflow dependency): no data is lost, no SQL is written by hand.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Engine

TABLE = "hrflow_sync_ledger"
WATERMARKS = "hrflow_sync_watermark"
PARTS = "hrflow_sync_part"
REASON_LIMIT = 300
# columns added after the first release, in the order they came: an older table gains them on first use
ADDED = (
    "record_hash",
    "refusals",
    "reason",
    "refused_run",
    "synced_hash",
    "group_key",
    "sent_hash",
    "origin",
    "sent_at",
)


def ledger_columns() -> list[Any]:
    """Return new Column objects of the ledger table (a Column belongs to one table: the migration needs its own)."""
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
def metadata() -> Any:
    """Return the metadata holding the ledger and watermark tables."""
    from sqlalchemy import Column, MetaData, String, Table

    from hrflow_airflow.ledger import history

    meta = MetaData()
    history.define(meta, Table(TABLE, meta, *ledger_columns()))  # the HrFlow page's tables and indexes
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
    return meta


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
    Create the tables that do not exist yet, then add the columns an older ledger table lacks. Several task
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
    """Add the columns of :data:`ADDED` the ledger table lacks (an in-place upgrade); return their names."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from sqlalchemy import inspect

    present = {column["name"] for column in inspect(engine).get_columns(TABLE)}
    missing = [name for name in ADDED if name not in present]
    if missing:
        with engine.begin() as conn:
            operations = Operations(MigrationContext.configure(conn))
            for column in ledger_columns():
                if column.name in missing:
                    operations.add_column(TABLE, column)
    return missing
