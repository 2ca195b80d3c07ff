"""
The tables of the HrFlow page (:mod:`hrflow_airflow.ui`): run history, the keys each run failed, the action log,
the ledger's counts as of each run's end; and the ledger indexes its counts and look-ups read.

:func:`define` adds them to the ledger's metadata (:func:`hrflow_airflow.ledger.schema.metadata`), so they are
created with the ledger; :func:`ensure_indexes` adds the indexes to a ledger table an older version created.
Rows hold keys, counts, ids, times and redacted reason codes: never candidate data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.engine import Engine

RUNS = "hrflow_run_history"
FAILURES = "hrflow_run_failures"
ACTIONS = "hrflow_ui_actions"
COUNTS = "hrflow_ledger_counts"
WHOLE_RUN = ""  # the ``container`` of a run's totals row
# the ledger's indexes the page reads: counts per state (index-only), keys by state page by page, links, a key
LEDGER_INDEXES = ("ix_hrflow_ledger_state", "ix_hrflow_ledger_linked", "ix_hrflow_ledger_key")

# a run's counts (per container, and WHOLE_RUN): created = posted new records; pending = found, not synced at its end
RUN_COUNTS = ("found", "created", "updated", "removed", "refused", "quarantined", "unknown", "failed", "pending")


def define(meta: MetaData, ledger: Any) -> None:
    """Add the run history, failure and action tables to ``meta``, and the page's indexes to ``ledger``."""
    from sqlalchemy import Column, Float, Index, Integer, String, Table

    Index(LEDGER_INDEXES[0], ledger.c.destination, ledger.c.state, ledger.c.container, ledger.c.object_key)
    linked = ledger.c.origin == "linked"
    Index(LEDGER_INDEXES[1], ledger.c.destination, ledger.c.container, sqlite_where=linked, postgresql_where=linked)
    Index(LEDGER_INDEXES[2], ledger.c.object_key)
    counts = [Column(name, Integer, nullable=False, default=0) for name in RUN_COUNTS]
    Table(
        RUNS,
        meta,
        Column("dag_id", String(250), primary_key=True),
        Column("run_id", String(250), primary_key=True),
        Column("container", String(64), primary_key=True),  # WHOLE_RUN: the run's totals
        Column("destination", String(250), nullable=False),
        Column("started_at", String(32)),
        Column("ended_at", String(32), nullable=False, index=True),
        Column("duration_s", Float),
        Column("state", String(16), nullable=False),  # success | failed: the summary's verdict
        *counts,
        Index("ix_hrflow_run_history_dag", "dag_id", "container", "ended_at"),
    )
    Table(
        FAILURES,
        meta,
        Column("dag_id", String(250), primary_key=True),
        Column("run_id", String(250), primary_key=True),
        Column("object_key", String(64), primary_key=True, index=True),
        Column("container", String(64)),
        Column("reason", String(300)),
        Column("ended_at", String(32), nullable=False, index=True),
    )
    Table(  # the ledger's counts per destination and source, taken at each run's end (ledger/counts.py)
        COUNTS,
        meta,
        Column("destination", String(250), primary_key=True),
        Column("container", String(64), primary_key=True),
        Column("measure", String(80), primary_key=True),  # a state, "linked", or "reason:<code>"
        Column("n", Integer, nullable=False),
        Column("taken_at", String(32), nullable=False),
    )
    Table(
        ACTIONS,
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", String(32), nullable=False, index=True),
        Column("user", String(250), nullable=False),
        Column("action", String(32), nullable=False),
        Column("destination", String(250), nullable=False),
        Column("object_key", String(64), nullable=False, index=True),
        Column("outcome", String(120), nullable=False),
    )


def ensure_indexes(engine: Engine, meta: MetaData, table_name: str) -> list[str]:
    """Create the page's indexes a ledger table lacks (one made by an older version); return their names."""
    from sqlalchemy import inspect

    present = {index["name"] for index in inspect(engine).get_indexes(table_name)}
    missing = [index for index in meta.tables[table_name].indexes if index.name in LEDGER_INDEXES]
    missing = [index for index in missing if index.name not in present]
    for index in missing:
        index.create(engine, checkfirst=True)
    return [index.name for index in missing]
