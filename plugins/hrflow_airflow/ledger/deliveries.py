"""
Deliveries: what each destination holds, per object, and the state machine that gets it there::

    (absent) --record_intent--> intent --record_accepted--> accepted --mark_synced (sync=1 on it)--> synced
                                  |  ^                                                                  |
              (a lost answer)     |  | (lookup settled: nothing found, created again)                   |
                                  v  |                                                                  |
                                unknown --(a lookup finds the record carrying our marker)--> accepted   |
                                  +--(refusals.py)--> refused --(max_refusals)--> quarantined           |
    synced --(an edit changes the mapped record: another hash)--> update sent --record_updated--> synced

* ``intent``: about to be sent. A crash or a lost answer leaves it there; the next attempt knows the object may
  have arrived (a destination with a lookup checks first; the JSON batch endpoint resends under the same
  ``Idempotency-Key``).
* ``unknown``: a create lost its answer. Later runs look it up (adopting only a record that carries our marker);
  it is created again only when a lookup made ``[hrflow] lookup_settle_seconds`` after ``sent_at`` finds nothing.
* ``accepted``: the destination said yes (``remote_id`` when it returns one). Any later run skips the send.
* ``synced``: tagged ``sync=1`` in HrFlow. The row stays: ``synced_hash`` is a keyed hash of the last record the
  destination accepted (never the record), so a later run sends an update only when the mapped record changed.

Reads and writes go by primary key, in chunks of :data:`~.db.CHUNK` keys: no step loads the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from hrflow_airflow.ledger.db import CHUNK, now
from hrflow_airflow.ledger.schema import ledger_table
from hrflow_airflow.ledger.states import (
    ACCEPTED,
    CREATED,
    DELIVERED,
    ENTRY_COLUMNS,
    HINT,
    INTENT,
    REMOVED,
    SYNCED,
    UNKNOWN,
    Entry,
    entry_of,
)

if TYPE_CHECKING:
    from hrflow_airflow.ledger.db import LedgerHook


class Deliveries:
    """The delivery state of each object at each destination, in the ledger database ``db``."""

    def __init__(self, db: LedgerHook) -> None:
        self.db = db

    # -- reads --------------------------------------------------------------------------------
    def lookup(self, destination: str, keys: Iterable[str]) -> dict[str, Entry]:
        """Return the ledger entries of ``keys`` at ``destination`` (objects without one are absent)."""
        from sqlalchemy import select

        table, found, keys = ledger_table(), {}, list(keys)
        columns = [table.c[name] for name in ENTRY_COLUMNS]
        with self.db.engine.connect() as conn:
            for i in range(0, len(keys), CHUNK):
                where = table.c.destination == destination, table.c.object_key.in_(keys[i : i + CHUNK])
                for key, *values in conn.execute(select(table.c.object_key, *columns).where(*where)):
                    found[key] = entry_of(values)
        return found

    def count(self, destination: str, state: str | None = None) -> int:
        """Return how many objects the ledger holds for ``destination`` (in ``state`` if given)."""
        from sqlalchemy import func, select

        table = ledger_table()
        query = select(func.count()).select_from(table).where(table.c.destination == destination)
        if state:
            query = query.where(table.c.state == state)
        with self.db.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def unknown_since(self, destination: str, before: str, limit: int = 20) -> tuple[int, list[str]]:
        """Return how many objects are outcome unknown since before ``before`` (ISO time), and the first keys."""
        from sqlalchemy import func, select

        table = ledger_table()
        where = (table.c.destination == destination, table.c.state == UNKNOWN, table.c.sent_at < before)
        with self.db.engine.connect() as conn:
            count = int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())
            keys = [k for (k,) in conn.execute(select(table.c.object_key).where(*where).limit(limit))] if count else []
        return count, keys

    def intent_groups(self, destination: str, containers: Iterable[str]) -> dict[str, str]:
        """
        Return ``{key: group_key}`` of the objects sent in a request whose answer never came (state ``intent``):
        few, the requests in flight when a run stopped. A later run sends each group again as it was.
        """
        from sqlalchemy import select

        table = ledger_table()
        query = select(table.c.object_key, table.c.group_key).where(
            table.c.destination == destination,
            table.c.state == INTENT,
            table.c.group_key.is_not(None),
            table.c.container.in_(list(containers)),
        )
        with self.db.engine.connect() as conn:
            return {key: group for key, group in conn.execute(query)}

    # -- the state machine ----------------------------------------------------------------------
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
        from sqlalchemy import and_, case, func, or_

        table, hashes = ledger_table(), hashes or {}
        at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")  # sent_at: the settle time counts from it
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
                "updated_at": at,
                "sent_at": at,
            }
            for key, container in items
        ]
        pending = or_(table.c.state == INTENT, table.c.state == UNKNOWN)  # no expanding IN in an executemany
        self.db.upsert(
            table,
            rows,
            ["destination", "object_key"],
            lambda stmt: {
                "state": stmt.excluded.state,
                "attempts": table.c.attempts + 1,
                "group_key": stmt.excluded.group_key,
                "sent_hash": stmt.excluded.sent_hash,
                "updated_at": stmt.excluded.updated_at,
                "sent_at": case(
                    (pending, func.coalesce(table.c.sent_at, stmt.excluded.sent_at)), else_=stmt.excluded.sent_at
                ),
            },
            where=and_(*(table.c.state != state for state in DELIVERED)),
        )

    def withdraw_intent(self, destination: str, key: str) -> None:
        """Drop the intent just recorded for ``key`` when its create provably never left (a first intent only)."""
        from sqlalchemy import delete

        table = ledger_table()
        where = (table.c.destination == destination, table.c.object_key == key, table.c.state == INTENT)
        with self.db.engine.begin() as conn:
            conn.execute(delete(table).where(*where, table.c.attempts == 1))

    def record_unknown(self, destination: str, keys: Iterable[str], reason: str) -> None:
        """Record that the creates of ``keys`` lost their answer: outcome unknown until a later lookup settles it."""
        self.set(destination, keys, state=UNKNOWN, reason=reason[:80])

    def record_accepted(
        self,
        destination: str,
        items: Iterable[tuple[str, str]],
        remote_ids: dict[str, str] | None = None,
        hashes: dict[str, str] | None = None,
        *,
        origin: str = CREATED,
    ) -> None:
        """
        Record that the destination accepted ``(key, container)`` items (with their remote ids, if any, and the
        keyed hash of each record it accepted), made by our create (``origin`` created) or an existing record
        linked to (linked). A synced object stays synced.
        """
        from sqlalchemy import case, func

        table, remote_ids, hashes = ledger_table(), remote_ids or {}, hashes or {}
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
                "updated_at": now(),
                "origin": origin,
                "sent_at": None,
            }
            for key, container in items
        ]
        self.db.upsert(
            table,
            rows,
            ["destination", "object_key"],
            lambda stmt: {
                "state": case((table.c.state == SYNCED, SYNCED), else_=ACCEPTED),
                "remote_id": func.coalesce(stmt.excluded.remote_id, table.c.remote_id),
                "refusals": stmt.excluded.refusals,
                "reason": stmt.excluded.reason,
                "synced_hash": func.coalesce(stmt.excluded.synced_hash, table.c.synced_hash),
                "updated_at": stmt.excluded.updated_at,
                "origin": stmt.excluded.origin,
                "sent_at": None,
            },
        )

    def mark_synced(self, destination: str, keys: Iterable[str]) -> None:
        """Record that ``keys`` carry ``sync=1`` in HrFlow now (their rows stay, with the accepted record's hash)."""
        self.set(destination, keys, state=SYNCED)

    def record_updated(self, destination: str, hashes: dict[str, str]) -> None:
        """Record that the destination accepted an update of each key to the record of hash ``hashes[key]``."""
        from sqlalchemy import bindparam, case, update

        table = ledger_table()
        rows = [{"k": key, "h": value, "now": now()} for key, value in hashes.items()]
        state = case((table.c.state == ACCEPTED, ACCEPTED), else_=SYNCED)  # accepted, not yet tagged, stays so
        query = (
            update(table)
            .where(table.c.destination == destination, table.c.object_key == bindparam("k"))
            .values(state=state, synced_hash=bindparam("h"), refusals=0, reason=None, updated_at=bindparam("now"))
        )
        with self.db.engine.begin() as conn:
            for i in range(0, len(rows), CHUNK):
                conn.execute(query, rows[i : i + CHUNK])

    def record_baseline(self, destination: str, rows: Iterable[tuple[str, str, str | None, str]]) -> None:
        """
        Record ``(key, container, remote_id, hash)`` of objects synced before the ledger kept them (an upgrade, a
        lost ledger): what HrFlow holds now is taken as what the destination holds. Known rows are kept. The id
        comes from the object's ``ats_id`` tag, which anyone can edit: it is a hint (updates use it; removal and
        erasure never act on it).
        """
        from sqlalchemy import func

        table = ledger_table()
        values = [
            {
                "destination": destination,
                "object_key": key,
                "container": container,
                "state": SYNCED,
                "remote_id": remote_id,
                "attempts": 1,
                "synced_hash": value,
                "updated_at": now(),
                "origin": HINT,
            }
            for key, container, remote_id, value in rows
        ]
        self.db.upsert(
            table,
            values,
            ["destination", "object_key"],
            lambda stmt: {
                "synced_hash": func.coalesce(table.c.synced_hash, stmt.excluded.synced_hash),
                "remote_id": func.coalesce(table.c.remote_id, stmt.excluded.remote_id),
                "updated_at": stmt.excluded.updated_at,
            },
        )

    def record_removed(self, destination: str, keys: Iterable[str], how: str, *, tombstone: bool = False) -> None:
        """
        Record that the destination no longer holds ``keys`` (``how``: "delete", "archive", "gone" for a 404...).
        ``tombstone`` (an erasure): keep only the key, the date and the destination id, no record hash.
        """
        blank = {"record_hash": None, "synced_hash": None, "sent_hash": None, "group_key": None} if tombstone else {}
        self.set(destination, keys, state=REMOVED, reason=how[:80], refusals=0, **blank)

    def tombstone(self, destination: str, items: Iterable[tuple[str, str]], how: str) -> None:
        """
        Keep only a tombstone of ``(key, container)`` items (an erasure): the key, the date, the destination id
        removed (``remote_id`` kept), no record hash; the sync never creates them again while the row is there.
        """
        table = ledger_table()
        rows = [
            {
                "destination": destination,
                "object_key": key,
                "container": container,
                "state": REMOVED,
                "attempts": 1,
                "refusals": 0,
                "reason": how[:80],
                "updated_at": now(),
            }
            for key, container in items
        ]
        blank = {"record_hash": None, "synced_hash": None, "sent_hash": None, "group_key": None, "refused_run": None}
        self.db.upsert(
            table,
            rows,
            ["destination", "object_key"],
            lambda stmt: {
                "state": REMOVED,
                "reason": stmt.excluded.reason,
                "refusals": 0,
                **blank,
                "updated_at": stmt.excluded.updated_at,
            },
        )

    def forget(self, destination: str, keys: Iterable[str]) -> None:
        """Drop the rows of ``keys`` (an operator's choice: a later run creates the object again if it is pending)."""
        from sqlalchemy import delete

        table, keys = ledger_table(), list(keys)
        with self.db.engine.begin() as conn:
            for i in range(0, len(keys), CHUNK):
                conn.execute(
                    delete(table).where(table.c.destination == destination, table.c.object_key.in_(keys[i : i + CHUNK]))
                )

    def set(self, destination: str, keys: Iterable[str], **values: Any) -> None:
        """Set ``values`` on the rows of ``keys``."""
        from sqlalchemy import update

        table, keys = ledger_table(), list(keys)
        with self.db.engine.begin() as conn:
            for i in range(0, len(keys), CHUNK):
                conn.execute(
                    update(table)
                    .where(table.c.destination == destination, table.c.object_key.in_(keys[i : i + CHUNK]))
                    .values(**values, updated_at=now())
                )
