"""
Run history and the action log of the HrFlow page, in the ledger's database (tables: :mod:`.history`).

The sync's ``summary`` task records each run (:meth:`RunHistory.record`): its totals, its counts per source or
board, and the keys it failed with their redacted reasons. Its ``refused`` and ``quarantined`` count every record
the destination refused in that run, and every record that run quarantined, as the ledger's rows say (the
summary's own ``refused`` and ``quarantined`` are only the records refused again and those held back). Each sync
DAG's success and failure callback then records the state Airflow gave the run (:meth:`RunHistory.settle`): a run
that ended before its summary (a failed ``search``) gets a row too, without counts. Rows older than
``[hrflow] history_days`` are pruned then, and when the page records an action (:meth:`ActionLog.record`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from hrflow_airflow.ledger.db import now
from hrflow_airflow.ledger.history import ACTIONS, FAILURES, RUN_COUNTS, RUNS, WHOLE_RUN
from hrflow_airflow.ledger.schema import ledger_table, metadata
from hrflow_airflow.ledger.states import QUARANTINED, REFUSED

if TYPE_CHECKING:
    from hrflow_airflow.ledger.db import LedgerHook

FAILURES_PER_RUN = 500  # keys a run's history keeps with their reasons (the summary keeps the first ones too)


def table(name: str) -> Any:
    return metadata().tables[name]


def cutoff(days: float) -> str:
    """Return the ISO time before which history is pruned."""
    return (datetime.now(timezone.utc) - timedelta(days=days)).isoformat(timespec="seconds")


def refusals_in_run(conn: Any, destination: str, run_id: str) -> dict[str, tuple[int, int]]:
    """
    Return, per source or board, the records ``run_id`` got refused at ``destination`` and those it quarantined.

    A refusal marks the ledger row with its run (``refused_run``); the rows still refused or quarantined with this
    run's mark are this run's refusals (read on ``ix_hrflow_ledger_state``: refused and quarantined rows only).
    """
    from sqlalchemy import func, select

    t = ledger_table()
    query = (
        select(t.c.container, t.c.state, func.count())
        .where(t.c.destination == destination, t.c.state.in_([REFUSED, QUARANTINED]), t.c.refused_run == run_id)
        .group_by(t.c.container, t.c.state)
    )
    found: dict[str, tuple[int, int]] = {}
    for container, state, n in conn.execute(query):
        refused, quarantined = found.get(container, (0, 0))
        found[container] = (refused + n, quarantined + (n if state == QUARANTINED else 0))
    return found


def run_rows(
    summary: Mapping[str, Any], base: dict[str, Any], refusals: Mapping[str, tuple[int, int]] | None = None
) -> list[dict[str, Any]]:
    """
    Return a run's history rows: its totals (container ``""``), then one per source or board. ``refusals`` gives
    per container the records refused in the run and those it quarantined (:func:`refusals_in_run`).
    """
    refusals = refusals or {}
    removal = summary.get("removal") or {}
    totals = {
        "found": summary.get("found", 0),
        "created": summary.get("posted", 0),
        "updated": summary.get("updated", 0),
        "removed": len(removal.get("removed") or ()),
        "refused": sum(refused for refused, _ in refusals.values()),
        "quarantined": sum(quarantined for _, quarantined in refusals.values()),
        "unknown": summary.get("unknown", 0),
        "failed": summary.get("failed", 0),
        "pending": max(0, summary.get("found", 0) - summary.get("tagged", 0) - summary.get("skipped", 0)),
    }
    rows = [{**base, "container": WHOLE_RUN, **totals}]
    for container, counts in (summary.get("by_container") or {}).items():
        found, done = counts.get("found", 0), counts.get("tagged", 0) + counts.get("skipped", 0)
        refused, quarantined = refusals.get(container, (0, 0))
        per = dict.fromkeys(RUN_COUNTS, 0) | {
            "found": found,
            "created": counts.get("posted", 0),
            "refused": refused,
            "quarantined": quarantined,
            "failed": counts.get("failed", 0),
            "pending": max(0, found - done),
        }
        rows.append({**base, "container": container, **per})
    return rows


class RunHistory:
    """Each sync run's counts, and the keys it failed, in the ledger database ``db``."""

    def __init__(self, db: LedgerHook) -> None:
        self.db = db

    def record(
        self,
        summary: Mapping[str, Any],
        *,
        dag_id: str,
        run_id: str,
        destination: str,
        started_at: datetime | None,
        failures: Iterable[tuple[str, str | None, str]],
        keep_days: float,
    ) -> None:
        """
        Record one run (again, if its summary task runs twice), then prune what is older than ``keep_days``. Its
        state is the summary's verdict until the DAG's callback records Airflow's (:meth:`settle`).
        """
        from sqlalchemy import delete

        failed = summary.get("failed") or summary.get("stale_unknown")
        base = run_base(dag_id, run_id, destination, started_at, "failed" if failed else "success")
        keys = [
            {
                "dag_id": dag_id,
                "run_id": run_id,
                "object_key": key,
                "container": container,
                "reason": reason[:300],
                "ended_at": base["ended_at"],
            }
            for key, container, reason in failures
        ][:FAILURES_PER_RUN]
        runs, failures_table = table(RUNS), table(FAILURES)
        with self.db.engine.begin() as conn:
            history = run_rows(summary, base, refusals_in_run(conn, destination, run_id))
            for name, rows in ((runs, history), (failures_table, keys)):
                conn.execute(delete(name).where(name.c.dag_id == dag_id, name.c.run_id == run_id))
                if rows:
                    conn.execute(name.insert(), rows)
        prune(self.db, keep_days)

    def settle(
        self, *, dag_id: str, run_id: str, destination: str, state: str, started_at: datetime | None, keep_days: float
    ) -> bool:
        """
        Record the state Airflow gave a finished run: on its rows, or, for a run that ended before its summary
        recorded it, as a totals row without counts. Return True when that row was added.
        """
        from sqlalchemy import update

        runs = table(RUNS)
        with self.db.engine.begin() as conn:
            ours = (runs.c.dag_id == dag_id, runs.c.run_id == run_id)
            if conn.execute(update(runs).where(*ours).values(state=state)).rowcount:
                return False
            row = run_base(dag_id, run_id, destination, started_at, state)
            conn.execute(runs.insert(), [{**row, "container": WHOLE_RUN, **dict.fromkeys(RUN_COUNTS, 0)}])
        prune(self.db, keep_days)
        return True


def run_base(dag_id: str, run_id: str, destination: str, started_at: datetime | None, state: str) -> dict[str, Any]:
    """Return what every history row of one run holds: the run, its destination, its times and its state."""
    ended = datetime.now(timezone.utc)
    return {
        "dag_id": dag_id,
        "run_id": run_id,
        "destination": destination,
        "ended_at": now(),
        "started_at": started_at.isoformat(timespec="seconds") if started_at else None,
        "duration_s": (ended - started_at).total_seconds() if started_at else None,
        "state": state,
    }


class ActionLog:
    """What users did on the HrFlow page: who, when, what, to which key, and what came of it."""

    def __init__(self, db: LedgerHook) -> None:
        self.db = db

    def record(self, *, user: str, action: str, destination: str, key: str, outcome: str, keep_days: float) -> None:
        """Record one action, then prune what is older than ``keep_days``."""
        row = {
            "at": now(),
            "user": user[:250],
            "action": action,
            "destination": destination,
            "object_key": key,
            "outcome": outcome[:120],
        }
        with self.db.engine.begin() as conn:
            conn.execute(table(ACTIONS).insert(), [row])
        prune(self.db, keep_days)


def prune(db: LedgerHook, keep_days: float) -> int:
    """Delete run history, failures and actions older than ``keep_days``; return how many rows went."""
    from sqlalchemy import delete

    before, gone = cutoff(keep_days), 0
    with db.engine.begin() as conn:
        for name, column in ((RUNS, "ended_at"), (FAILURES, "ended_at"), (ACTIONS, "at")):
            gone += conn.execute(delete(table(name)).where(table(name).c[column] < before)).rowcount
    return gone
