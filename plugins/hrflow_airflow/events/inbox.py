"""
The webhook's inbox: every delivery is recorded durably, answered at once, and what it starts is started by a drain.

Starting a DAG run takes some 15 ms, and HrFlow sends arrays of events (a bulk import sends big ones): a
delivery that started its runs before answering would make its sender wait, and invite redeliveries. So each
delivery is written to table ``hrflow_webhook_inbox`` (the ledger's database: connection ``hrflow_ledger``) in
one statement and answered ``queued``. Two kinds of rows:

* an SMS run: one row per run id (the run id is derived from the profile, so a redelivery adds nothing);
* a sync announcement (``conf["sync"]``: kind, container, key and the keyed hash of its mapped record,
  :mod:`hrflow_airflow.events.realtime`), deleted once handled.

A drain thread in the api-server handles the announcements of a round together (one ledger read, at most one
asset event per sync DAG), then starts the SMS runs and marks each row started. It starts with the api-server
(the mounted app's lifespan), so rows left by an api-server that stopped are drained as soon as one starts again.
Rows hold keys, hashes and the run's conf: never candidate data.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from hrflow_airflow.ledger import LedgerHook
from hrflow_airflow.ledger.schema import INBOX, table

log = logging.getLogger(__name__)

DRAIN_CHUNK = 200
SYNC_PREFIX = "sync:"  # the run id of a sync announcement (hrflow_airflow.events.realtime.Announced.row)
STALE = timedelta(hours=1)  # an announcement that could not be handled this long is dropped: the hourly run has it


class Inbox:
    """Record deliveries' runs to start, and start them."""

    def __init__(self, ledger: LedgerHook | None = None) -> None:
        self.ledger = ledger or LedgerHook()

    @cached_property
    def table(self) -> Any:
        """Return the inbox table (created with the ledger's engine)."""
        return table(INBOX)

    def record(self, runs: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, str]:
        """Record runs to start, in one statement; return ``queued`` or ``duplicate`` per run id."""
        from sqlalchemy import select

        rows = {run_id: json.dumps(conf, separators=(",", ":")) for run_id, conf in runs}
        if not rows:
            return {}
        now = _now()
        with self.ledger.engine.begin() as conn:
            known = set(conn.scalars(select(self.table.c.run_id).where(self.table.c.run_id.in_(list(rows)))))
            fresh = [{"run_id": r, "conf": c, "received_at": now} for r, c in rows.items() if r not in known]
            if fresh:
                stmt = self.ledger.insert(self.table).values(fresh)
                conn.execute(stmt.on_conflict_do_nothing(index_elements=["run_id"]))
        return {run_id: "duplicate" if run_id in known else "queued" for run_id in rows}

    def drain(
        self,
        trigger: Callable[[str, dict[str, Any]], str],
        start_syncs: Callable[[list[dict[str, Any]]], Any] | None = None,
        limit: int = DRAIN_CHUNK,
    ) -> int:
        """
        Handle up to ``limit`` sync announcements together (``start_syncs``), then up to ``limit`` SMS runs
        (``trigger``), oldest first; return how many rows were handled. Announcements that cannot be handled now
        (the database, a DAG not parsed yet) wait for the next round, an hour at most (the hourly run reads their
        objects anyway); they never hold up an SMS.
        """
        from sqlalchemy import update

        handled = self.drain_syncs(start_syncs, limit)
        for run_id, conf in self.oldest(sync=False, limit=limit):
            status = trigger(run_id, conf)  # one run per run id: a second start is "duplicate"
            with self.ledger.engine.begin() as conn:
                conn.execute(
                    update(self.table).where(self.table.c.run_id == run_id).values(started_at=_now(), status=status)
                )
            handled += 1
        return handled

    def drain_syncs(self, start_syncs: Callable[[list[dict[str, Any]]], Any] | None, limit: int) -> int:
        """Hand the oldest announcements to ``start_syncs`` and delete them; return how many were handled."""
        from sqlalchemy import delete

        syncs = self.oldest(sync=True, limit=limit)
        if not syncs:
            return 0
        try:
            if start_syncs is not None:
                start_syncs([conf for _, conf in syncs])
        except Exception:
            log.exception("HrFlow webhook inbox: could not start the sync for %s announced object(s)", len(syncs))
            stale = (datetime.now(timezone.utc) - STALE).isoformat(timespec="milliseconds")
            where = self.table.c.run_id.like(SYNC_PREFIX + "%"), self.table.c.received_at < stale
            with self.ledger.engine.begin() as conn:
                if dropped := conn.execute(delete(self.table).where(*where)).rowcount:
                    log.warning("HrFlow webhook inbox: %s announcement(s) older than %s dropped", dropped, STALE)
            return 0
        with self.ledger.engine.begin() as conn:
            conn.execute(delete(self.table).where(self.table.c.run_id.in_([run_id for run_id, _ in syncs])))
        return len(syncs)

    def oldest(self, *, sync: bool, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """Return the oldest unstarted rows of one kind: sync announcements or SMS runs."""
        from sqlalchemy import not_, select

        announcement = self.table.c.run_id.like(SYNC_PREFIX + "%")
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(
                select(self.table.c.run_id, self.table.c.conf)
                .where(self.table.c.started_at.is_(None), announcement if sync else not_(announcement))
                .order_by(self.table.c.received_at)
                .limit(limit)
            ).all()
        return [(run_id, json.loads(conf)) for run_id, conf in rows]

    def pending(self) -> int:
        """Return how many recorded runs are not started yet."""
        from sqlalchemy import func, select

        with self.ledger.engine.connect() as conn:
            return conn.scalar(select(func.count()).where(self.table.c.started_at.is_(None)))


class Drainer:
    """A daemon thread that drains the inbox whenever woken, and once a minute anyway."""

    def __init__(
        self,
        make_inbox: Callable[[], Inbox],
        trigger: Callable[[str, dict[str, Any]], str],
        start_syncs: Callable[[list[dict[str, Any]]], Any] | None = None,
        every: float = 60.0,
    ) -> None:
        self.make_inbox, self.trigger, self.start_syncs, self.every = make_inbox, trigger, start_syncs, every
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    @cached_property
    def inbox(self) -> Inbox:
        """Return the inbox, built on first use (no database work when the app is created)."""
        return self.make_inbox()

    def kick(self) -> None:
        """Start the thread if it is not running, and wake it."""
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.run, name="hrflow-webhook-drain", daemon=True)
                self.thread.start()
        self.wake.set()

    def run(self) -> None:
        while True:
            self.wake.clear()
            try:
                while self.inbox.drain(self.trigger, self.start_syncs):
                    pass
            except Exception:  # the database or the DAG is not ready: the rows wait for the next round
                log.exception("HrFlow webhook inbox: could not start the recorded runs; retrying")
            self.wake.wait(self.every)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
