"""
Turns: one run at a time writes a destination's objects of one kind.

Runs of one DAG can overlap: Airflow counts a backfill's runs apart from the DAG's ``max_active_runs``, and an
``airflow dags test`` can run beside the scheduler. Two such runs find the same unsynced objects. The ledger keeps
the second from posting what the first got *accepted*, but not what the first has in flight: both would send it,
and an endpoint that ignores ``Idempotency-Key`` (or a per-object API, whose lookup lags behind its writes) would
hold it twice.

So a task that writes holds the turn of its ``(destination, kind)`` while it reads the ledger and sends
(:meth:`Turns.hold`): a row per holding task in ``hrflow_sync_turn``, touched every :data:`HEARTBEAT` seconds by a
thread and deleted when the task is done. The tasks of one run share the turn; a task of another run waits
(:class:`~hrflow_airflow.errors.NotYourTurnError`, which the task turns into an Airflow reschedule) until no row of
another run was touched within :data:`STALE_AFTER` seconds. A killed task leaves its row behind; it goes stale,
and the next run takes over (and re-sends what it left in flight under the same key, as a retry would).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from hrflow_airflow.errors import NotYourTurnError
from hrflow_airflow.ledger.schema import TURNS, table

if TYPE_CHECKING:
    from hrflow_airflow.ledger.db import LedgerHook

log = logging.getLogger(__name__)
HEARTBEAT = 5.0  # seconds between two touches of a holding task's row
STALE_AFTER = 60.0  # a row untouched this long is a killed task's: its run no longer holds the turn
WAIT = 5.0  # seconds a task waits (rescheduled) before it asks for the turn again


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


class Turns:
    """The turns of the ledger database ``db``: which run writes which ``(destination, kind)`` now."""

    def __init__(self, db: LedgerHook, *, heartbeat: float = HEARTBEAT, stale_after: float = STALE_AFTER) -> None:
        self.db, self.heartbeat, self.stale_after = db, heartbeat, stale_after

    def holder(self, name: str, run_id: str) -> str | None:
        """Return the other run holding turn ``name`` (a row touched within ``stale_after``), or None."""
        from sqlalchemy import select

        turns = table(TURNS)
        fresh = _stamp(datetime.now(timezone.utc) - timedelta(seconds=self.stale_after))
        query = select(turns.c.run_id).where(
            turns.c.name == name, turns.c.run_id != run_id, turns.c.touched_at >= fresh
        )
        with self.db.engine.connect() as conn:
            return conn.execute(query.limit(1)).scalar_one_or_none()

    @contextmanager
    def hold(self, name: str, run_id: str) -> Iterator[None]:
        """
        Hold turn ``name`` for run ``run_id`` while the block runs; raise :class:`NotYourTurnError` (nothing
        read or sent yet) while another run holds it.
        """
        from sqlalchemy import delete, insert

        turns, holding = table(TURNS), uuid.uuid4().hex
        with self.db.exclusive(f"turn:{name}"):  # two runs asking at once: one gets it
            if (other := self.holder(name, run_id)) is not None:
                log.info("Run %s is writing %s: waiting %g s for its turn (nothing sent yet)", other, name, WAIT)
                raise NotYourTurnError(name, other, WAIT)
            with self.db.engine.begin() as conn:
                now = _stamp(datetime.now(timezone.utc))
                conn.execute(insert(turns).values(name=name, holding=holding, run_id=run_id, touched_at=now))
        done = threading.Event()
        beat = threading.Thread(target=self._beat, args=(holding, done), name="turn-heartbeat", daemon=True)
        beat.start()
        try:
            yield
        finally:
            done.set()
            beat.join()
            with self.db.engine.begin() as conn:
                conn.execute(delete(turns).where(turns.c.holding == holding))

    def _beat(self, holding: str, done: threading.Event) -> None:
        """Touch row ``holding`` every ``heartbeat`` seconds until ``done``: the run still holds its turn."""
        from sqlalchemy import update

        turns = table(TURNS)
        while not done.wait(self.heartbeat):
            try:
                with self.db.engine.begin() as conn:
                    now = _stamp(datetime.now(timezone.utc))
                    conn.execute(update(turns).where(turns.c.holding == holding).values(touched_at=now))
            except Exception:  # a busy database: the next beat tries again, well within stale_after
                log.warning("Could not touch the sync turn %s; trying again", holding, exc_info=True)
