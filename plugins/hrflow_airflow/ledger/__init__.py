"""
The sync ledger: a durable, per-object record of what each destination holds, in one package, a module per
concern.

A batch ``Idempotency-Key`` and the task state store only protect retries of the *same* batch. When a later run
cuts its batches differently, only a per-object record keeps an object the ATS already accepted from being
posted again; and only a record of *what* the ATS accepted tells an edit in HrFlow from our own tagging.

* :mod:`.db` — the database: connection ``hrflow_ledger`` to an engine, with a SQLite fallback;
* :mod:`.schema` — every table of the ledger's database (SQLAlchemy Core) and their in-place migration;
* :mod:`.states` — the states, origins and :class:`~.states.Entry` of one row;
* :mod:`.deliveries` — the state machine: intent → accepted → synced (and updates);
* :mod:`.refusals` — the quarantine policy (pure) and its queries;
* :mod:`.watermarks` — the changes listing's watermarks;
* :mod:`.seen` — the keys a full sweep listed, to find the synced objects HrFlow no longer holds;
* :mod:`.parts` — what went with each object beyond its record: its CV, its applications;
* :mod:`.turns` — which run writes a destination's objects of one kind now (runs that overlap take turns).
* :mod:`.keys` — the ledger's own keys, sealed under the Fernet key; :mod:`.counts`, :mod:`.runs` — the HrFlow
  page's counts and run history.

Its repair commands: ``python -m hrflow_airflow.ledger.quarantine`` (list or release), ``...ledger.reseal`` (after
a Fernet key rotation) and ``...ledger.audit_links`` (links checked against "adopt only what we made").

The event flow's inbox, message and burst tables (:mod:`hrflow_airflow.events.inbox`,
:mod:`hrflow_airflow.events.outbox`, :mod:`hrflow_airflow.events.digest`) and the HrFlow page's (:mod:`.history`)
are declared in the same schema, created and migrated with the ledger's engine.

A task makes one :class:`Ledger` and passes it on. Size: one row per object ever synced per destination (in
PostgreSQL about 390 bytes with its indexes once vacuumed: some 370 MB for a million objects;
``bench/ledger_size.py``). If the ledger is lost, nothing is silently skipped: objects accepted but not yet
tagged are posted once more (at-least-once), and the next run records a baseline of the synced ones.
"""

from __future__ import annotations

from hrflow_airflow.ledger.db import CHUNK, LedgerHook
from hrflow_airflow.ledger.deliveries import Deliveries
from hrflow_airflow.ledger.parts import Part, Parts
from hrflow_airflow.ledger.refusals import Refusal, Refusals
from hrflow_airflow.ledger.schema import REASON_LIMIT, TABLE, WATERMARKS
from hrflow_airflow.ledger.states import (
    ACCEPTED,
    CREATED,
    DELIVERED,
    HINT,
    INTENT,
    LINKED,
    QUARANTINED,
    REFUSED,
    REMOVED,
    SYNCED,
    UNKNOWN,
    UNLINKED,
    Entry,
)
from hrflow_airflow.ledger.turns import Turns
from hrflow_airflow.ledger.watermarks import Watermarks

__all__ = [
    "ACCEPTED",
    "CHUNK",
    "CREATED",
    "DELIVERED",
    "HINT",
    "INTENT",
    "LINKED",
    "QUARANTINED",
    "REASON_LIMIT",
    "REFUSED",
    "REMOVED",
    "SYNCED",
    "TABLE",
    "UNKNOWN",
    "UNLINKED",
    "WATERMARKS",
    "Deliveries",
    "Entry",
    "Ledger",
    "Part",
    "Parts",
    "LedgerHook",
    "Refusal",
    "Refusals",
    "Turns",
    "Watermarks",
]


class Ledger:
    """One task's ledger: its database and what is kept there. Nothing is read until first use."""

    def __init__(self, *, ledger_conn_id: str = LedgerHook.default_conn_name) -> None:
        self.db = LedgerHook(ledger_conn_id=ledger_conn_id)
        self.deliveries = Deliveries(self.db)
        self.refusals = Refusals(self.db, self.deliveries)
        self.watermarks = Watermarks(self.db)
        self.parts = Parts(self.db)
        self.turns = Turns(self.db)
