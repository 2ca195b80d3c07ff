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

A burst shares SMS runs: a round gathers for ``[hrflow] sms_batch_seconds`` once a burst is under way, then claims
the waiting profiles in groups of up to ``[hrflow] sms_batch_size``, each group one run whose task texts each of
them once (a task process per SMS cost a 2-core machine 62 s for 180 profiles). A group is claimed in one
statement (``batch_id``, only on rows no drain claimed), so a profile joins one run, even with several
api-servers; a group of one keeps the profile's own run id. A drain that stops after claiming leaves the rows
claimed: the next round starts the same run id with the same members, which Airflow answers ``duplicate`` if the
run exists.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from hrflow_airflow.ledger import LedgerHook
from hrflow_airflow.ledger.schema import INBOX, table

log = logging.getLogger(__name__)

DRAIN_CHUNK = 200
BATCH_PREFIX = "hrflow_webhook_batch__"  # the run id of a group of several profiles (one profile: its own run id)
SYNC_PREFIX = "sync:"  # the run id of a sync announcement (hrflow_airflow.events.realtime.Announced.row)
STALE = timedelta(hours=1)  # an announcement that could not be handled this long is dropped: the hourly run has it
WRITES = threading.Lock()  # one SQLite writer per process at a time: its busy handler polls, in up to 100 ms naps
Member = tuple[str, dict[str, Any]]  # an SMS row: its run id (the profile's) and its conf


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
        with self.writing(), self.ledger.engine.begin() as conn:
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
        batch: int = 1,
    ) -> int:
        """
        Handle up to ``limit`` sync announcements together (``start_syncs``), then up to ``limit`` SMS rows, oldest
        first, in runs of up to ``batch`` profiles (``trigger``); return how many rows were handled. Announcements
        that cannot be handled now (the database, a DAG not parsed yet) wait for the next round, an hour at most
        (the hourly run reads their objects anyway); they never hold up an SMS.
        """
        handled = self.drain_syncs(start_syncs, limit)
        for run_id, members in self.claimed(limit) + self.claim(limit, batch):
            status = trigger(run_id, batch_conf(members))  # one run per run id: a second start is "duplicate"
            self.mark_started([member for member, _ in members], status)
            handled += len(members)
        return handled

    def claim(self, limit: int, batch: int) -> list[tuple[str, list[Member]]]:
        """Claim the oldest unclaimed SMS rows in groups of up to ``batch``; return each group's run id and rows."""
        from sqlalchemy import update

        rows = self.oldest(sync=False, limit=limit)
        groups = []
        for at in range(0, len(rows), max(1, batch)):
            group = [run_id for run_id, _ in rows[at : at + max(1, batch)]]
            batch_id = group[0] if len(group) == 1 else BATCH_PREFIX + secrets.token_hex(16)
            column = self.table.c
            unclaimed = column.run_id.in_(group), column.batch_id.is_(None), column.started_at.is_(None)
            with self.writing(), self.ledger.engine.begin() as conn:
                conn.execute(update(self.table).where(*unclaimed).values(batch_id=batch_id))
            if members := self.members(batch_id):  # another drain may have claimed some (or all) of them first
                groups.append((batch_id, members))
        return groups

    def claimed(self, limit: int) -> list[tuple[str, list[Member]]]:
        """Return the groups a drain claimed but did not start (it stopped): the same run ids, the same rows."""
        from sqlalchemy import func, select

        column = self.table.c
        with self.ledger.engine.connect() as conn:
            ids = conn.scalars(
                select(column.batch_id)
                .where(column.batch_id.is_not(None), column.started_at.is_(None))
                .group_by(column.batch_id)
                .order_by(func.min(column.received_at))
                .limit(limit)
            ).all()
        return [(batch_id, self.members(batch_id)) for batch_id in ids]

    def members(self, batch_id: str) -> list[Member]:
        """Return the rows claimed for ``batch_id`` that are not started, oldest first."""
        from sqlalchemy import select

        column = self.table.c
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(
                select(column.run_id, column.conf)
                .where(column.batch_id == batch_id, column.started_at.is_(None))
                .order_by(column.received_at, column.run_id)
            ).all()
        return [(run_id, json.loads(conf)) for run_id, conf in rows]

    def mark_started(self, run_ids: list[str], status: str) -> None:
        """Mark rows started, with what starting their run answered (``triggered`` / ``duplicate``)."""
        from sqlalchemy import update

        with self.writing(), self.ledger.engine.begin() as conn:
            conn.execute(
                update(self.table).where(self.table.c.run_id.in_(run_ids)).values(started_at=_now(), status=status)
            )

    def writing(self) -> Any:
        """Return the process's write lock on SQLite (a waiter then wakes when the writer is done), else nothing."""
        return WRITES if self.ledger.engine.dialect.name == "sqlite" else nullcontext()

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
            with self.writing(), self.ledger.engine.begin() as conn:
                if dropped := conn.execute(delete(self.table).where(*where)).rowcount:
                    log.warning("HrFlow webhook inbox: %s announcement(s) older than %s dropped", dropped, STALE)
            return 0
        with self.writing(), self.ledger.engine.begin() as conn:
            conn.execute(delete(self.table).where(self.table.c.run_id.in_([run_id for run_id, _ in syncs])))
        return len(syncs)

    def oldest(self, *, sync: bool, limit: int) -> list[tuple[str, dict[str, Any]]]:
        """Return the oldest unstarted rows of one kind: sync announcements, or SMS rows no drain claimed."""
        from sqlalchemy import and_, not_, select

        announcement = self.table.c.run_id.like(SYNC_PREFIX + "%")
        kind = announcement if sync else and_(not_(announcement), self.table.c.batch_id.is_(None))
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(
                select(self.table.c.run_id, self.table.c.conf)
                .where(self.table.c.started_at.is_(None), kind)
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
    """
    A daemon thread that drains the inbox whenever woken, and once a minute anyway. When deliveries arrived while a
    round ran (a burst), the next round first waits ``gather`` seconds, so that their deliveries share runs of up
    to ``batch`` profiles; a delivery to an idle drain is started at once.
    """

    def __init__(
        self,
        make_inbox: Callable[[], Inbox],
        trigger: Callable[[str, dict[str, Any]], str],
        start_syncs: Callable[[list[dict[str, Any]]], Any] | None = None,
        every: float = 60.0,
        gather: float = 0.0,
        batch: int = 1,
    ) -> None:
        self.make_inbox, self.trigger, self.start_syncs, self.every = make_inbox, trigger, start_syncs, every
        self.gather, self.batch = gather, batch
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
        burst = False
        while True:
            self.wake.clear()
            if burst and self.gather > 0:
                time.sleep(self.gather)  # the next seconds' deliveries join this round's runs
            try:
                while self.inbox.drain(self.trigger, self.start_syncs, batch=self.batch) >= DRAIN_CHUNK:
                    pass  # a full chunk: more rows wait; what arrives meanwhile wakes the next round
            except Exception:  # the database or the DAG is not ready: the rows wait for the next round
                log.exception("HrFlow webhook inbox: could not start the recorded runs; retrying")
            burst = self.wake.is_set()  # deliveries arrived while this round ran
            self.wake.wait(self.every)


def members_of(run_id: str, conf: dict[str, Any]) -> list[Member]:
    """Return the profiles an SMS run carries: its ``batch`` (run id and conf of each), or itself."""
    batch = conf.get("batch")
    if not batch:
        return [(run_id, conf)]
    return [(member["id"], {k: v for k, v in member.items() if k != "id"}) for member in batch]


def batch_conf(members: list[Member]) -> dict[str, Any]:
    """
    Return the conf of the run carrying ``members``: one profile's own conf; for several, the first's (the DAG's
    params) and ``batch``, each member's run id and conf (keys only), in the order they arrived.
    """
    (_, first), *others = members
    return {**first, "batch": [{"id": run_id, **conf} for run_id, conf in members]} if others else first


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
