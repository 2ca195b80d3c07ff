"""
The webhook's inbox: a bulk delivery is recorded durably, answered at once, and its runs started by a drain.

HrFlow sends arrays of events, and a bulk import sends big ones. Starting a DAG run takes some 15 ms, so a
delivery of 1,000 new profiles would wait 15 s for its answer and invite HrFlow's redeliveries. Deliveries of
more than ``[hrflow] webhook_sync_events`` (20) events are therefore written to table ``hrflow_webhook_inbox``
(the ledger's database: connection ``hrflow_ledger``) in one statement, one row per run id (the run id is
derived from the profile, so a redelivery adds nothing), and answered ``queued``. A drain thread in the
api-server starts their runs and marks each row started; it starts with the api-server (the mounted app's
lifespan), so rows left by an api-server that stopped are drained as soon as one starts again. Rows hold the run
id and the run's conf: keys only, never candidate data.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from hrflow_airflow.ledger import LedgerHook

log = logging.getLogger(__name__)

TABLE = "hrflow_webhook_inbox"
DRAIN_CHUNK = 200


class Inbox:
    """Record deliveries' runs to start, and start them."""

    def __init__(self, ledger: LedgerHook | None = None) -> None:
        self.ledger = ledger or LedgerHook()

    @cached_property
    def table(self) -> Any:
        from sqlalchemy import Column, String, Text

        return self.ledger.side_table(
            TABLE,
            Column("run_id", String(250), primary_key=True),
            Column("conf", Text, nullable=False),
            Column("received_at", String(32), nullable=False, index=True),
            Column("started_at", String(32)),
            Column("status", String(16)),  # what starting it answered: triggered / duplicate
        )

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

    def drain(self, trigger: Callable[[str, dict[str, Any]], str], limit: int = DRAIN_CHUNK) -> int:
        """Start up to ``limit`` recorded runs, oldest first; return how many were started or found started."""
        from sqlalchemy import select, update

        with self.ledger.engine.connect() as conn:
            pending = conn.execute(
                select(self.table.c.run_id, self.table.c.conf)
                .where(self.table.c.started_at.is_(None))
                .order_by(self.table.c.received_at)
                .limit(limit)
            ).all()
        for run_id, conf in pending:
            status = trigger(run_id, json.loads(conf))  # one run per run id: a second start is "duplicate"
            with self.ledger.engine.begin() as conn:
                conn.execute(
                    update(self.table).where(self.table.c.run_id == run_id).values(started_at=_now(), status=status)
                )
        return len(pending)

    def pending(self) -> int:
        """Return how many recorded runs are not started yet."""
        from sqlalchemy import func, select

        with self.ledger.engine.connect() as conn:
            return conn.scalar(select(func.count()).where(self.table.c.started_at.is_(None)))


class Drainer:
    """A daemon thread that starts the inbox's runs whenever woken, and once a minute anyway."""

    def __init__(
        self, make_inbox: Callable[[], Inbox], trigger: Callable[[str, dict[str, Any]], str], every: float = 60.0
    ) -> None:
        self.make_inbox, self.trigger, self.every = make_inbox, trigger, every
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
                while self.inbox.drain(self.trigger):
                    pass
            except Exception:  # the database or the DAG is not ready: the rows wait for the next round
                log.exception("HrFlow webhook inbox: could not start the recorded runs; retrying")
            self.wake.wait(self.every)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
