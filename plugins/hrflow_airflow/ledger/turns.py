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
(:class:`~hrflow_airflow.errors.NotYourTurnError`, which the task turns into an Airflow reschedule, :func:`wait`)
until no row of another run was touched within :data:`STALE_AFTER` seconds. A killed task leaves its row behind;
it goes stale, and the next run takes over (and re-sends what it left in flight under the same key, as a retry
would). Times are the workers' clocks: they must agree within a minute or so (NTP), as Airflow's own heartbeats
need too.
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
# a row untouched this long is a killed task's: its run no longer holds the turn (well past SQLite's 60 s busy wait)
STALE_AFTER = 180.0
FIRST_WAIT, LONGEST_WAIT = 5.0, 60.0  # a waiting task asks again after 5 s, then 10, 20, 40, 60, 60...


def wait(reschedules: int) -> float:
    """Return how long a task refused the turn ``reschedules`` times already waits before it asks again."""
    return min(LONGEST_WAIT, FIRST_WAIT * 2 ** min(reschedules, 8))


def _stamp(at: datetime) -> str:
    """Return ``at`` as the turn table stores times: fixed-width ISO 8601, so strings compare as times do."""
    return at.isoformat(timespec="milliseconds")


def _fresh_since(seconds: float) -> str:
    """Return the oldest ``touched_at`` that still counts as held."""
    return _stamp(datetime.now(timezone.utc) - timedelta(seconds=seconds))


class Turns:
    """The turns of the ledger database ``db``: which run writes which ``(destination, kind)`` now."""

    def __init__(self, db: LedgerHook, *, heartbeat: float = HEARTBEAT, stale_after: float = STALE_AFTER) -> None:
        self.db, self.heartbeat, self.stale_after = db, heartbeat, stale_after

    def holder(self, name: str, run_id: str) -> str | None:
        """Return the other run holding turn ``name`` (a row touched within ``stale_after``), or None."""
        from sqlalchemy import select

        turns = table(TURNS)
        fresh = _fresh_since(self.stale_after)
        query = select(turns.c.run_id).where(
            turns.c.name == name, turns.c.run_id != run_id, turns.c.touched_at >= fresh
        )
        with self.db.engine.connect() as conn:
            return conn.execute(query.limit(1)).scalar_one_or_none()

    @contextmanager
    def hold(self, name: str, run_id: str) -> Iterator[None]:
        """
        Hold turn ``name`` for run ``run_id`` while the block runs; raise :class:`NotYourTurnError` (nothing
        sent) while another run holds it. The rows killed tasks left for ``name`` are deleted on the way.
        """
        from sqlalchemy import delete, insert

        turns, holding = table(TURNS), uuid.uuid4().hex
        with self.db.exclusive(f"turn:{name}"):  # two runs asking at once: one gets it
            if (other := self.holder(name, run_id)) is not None:
                raise NotYourTurnError(name, other, wait(0))  # the task sets how long from its reschedules
            with self.db.engine.begin() as conn:
                stale = (turns.c.name == name, turns.c.touched_at < _fresh_since(self.stale_after))
                conn.execute(delete(turns).where(*stale))
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
            try:
                with self.db.engine.begin() as conn:
                    conn.execute(delete(turns).where(turns.c.holding == holding))
            except Exception:  # what the block did stands; the row goes stale and the next asker deletes it
                log.warning("Could not give the sync turn %s back; it lapses by itself", name, exc_info=True)

    def _beat(self, holding: str, done: threading.Event) -> None:
        """Touch row ``holding`` every ``heartbeat`` seconds until ``done``, while it still counts as held."""
        from sqlalchemy import update

        turns = table(TURNS)
        while not done.wait(self.heartbeat):
            try:
                with self.db.engine.begin() as conn:
                    now = _stamp(datetime.now(timezone.utc))
                    fresh = (turns.c.holding == holding, turns.c.touched_at >= _fresh_since(self.stale_after))
                    touched = conn.execute(update(turns).where(*fresh).values(touched_at=now)).rowcount
            except Exception:  # a busy database: the next beat tries again
                log.warning("Could not touch the sync turn %s; trying again", holding, exc_info=True)
                continue
            if not touched:  # lapsed (the database was unreachable that long): never revived under another run
                log.error("The sync turn %s lapsed while its task still ran; another run may write beside it", holding)
                return
