"""
What the HrFlow page reads from the ledger's database: counts, run history, keys by state, one key's story.

Every query runs on an index (:mod:`hrflow_airflow.ledger.history`): the counts are those each run took at its
end (:mod:`hrflow_airflow.ledger.counts`), a key reads ``ix_hrflow_ledger_key``, keys by state
``ix_hrflow_ledger_state``; lists are pages of at most :data:`PAGE` rows, keyset-paged where they can be long.
Rows carry keys, counts, ids, times and redacted reasons: the ledger holds no candidate data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hrflow_airflow.ledger import counts as ledger_counts
from hrflow_airflow.ledger.history import ACTIONS, FAILURES, RUNS, WHOLE_RUN
from hrflow_airflow.ledger.schema import ledger_table, metadata
from hrflow_airflow.ledger.states import LINKED

if TYPE_CHECKING:
    from hrflow_airflow.ledger.db import LedgerHook

PAGE = 50
REASONS_SHOWN = 20  # distinct refusal reasons per destination and source


@dataclass
class Counts:
    """One destination and source: objects per ledger state, linked records, refusals by reason."""

    destination: str
    container: str
    taken_at: str | None = None  # when the last run counted them; None: counted now
    states: dict[str, int] = field(default_factory=dict)
    linked: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def owner(destination: str, conn_ids: dict[str, str]) -> str | None:
    """Return the sync DAG whose ATS connection writes ``destination`` (``<conn>`` or ``<conn>/<vendor>``)."""
    for dag_id, conn_id in conn_ids.items():
        if destination == conn_id or destination.startswith(f"{conn_id}/"):
            return dag_id
    return None


def counts(db: LedgerHook, conn_ids: dict[str, str]) -> list[Counts]:
    """
    Return the counts of every destination the DAGs of ``conn_ids`` (dag id -> connection id) write: as the last
    run of each counted them (``taken_at``), or counted now where no run has yet.
    """
    counted, taken = ledger_counts.snapshot(db)
    if not counted:
        counted = ledger_counts.measure(db)
    found: dict[tuple[str, str], Counts] = {}
    for (destination, container, name), n in counted.items():
        if not owner(destination, conn_ids):
            continue
        row = found.setdefault((destination, container), Counts(destination, container, taken.get(destination)))
        if name == LINKED:
            row.linked = n
        elif name.startswith(ledger_counts.REASON):
            row.reasons[name.removeprefix(ledger_counts.REASON)] = n
        else:
            row.states[name] = n
    for row in found.values():
        row.reasons = dict(sorted(row.reasons.items(), key=lambda kv: -kv[1])[:REASONS_SHOWN])
    return sorted(found.values(), key=lambda c: (c.destination, c.container))


def table(name: str) -> Any:
    return metadata().tables[name]


def run_history(db: LedgerHook, dag_ids: Iterable[str], page: int = 0, per_page: int = PAGE) -> list[dict[str, Any]]:
    """Return one page of runs of ``dag_ids`` (their totals), newest first."""
    from sqlalchemy import select

    runs = table(RUNS)
    query = (
        select(runs)
        .where(runs.c.dag_id.in_(sorted(dag_ids)), runs.c.container == WHOLE_RUN)
        .order_by(runs.c.ended_at.desc(), runs.c.run_id.desc())
        .limit(per_page)
        .offset(max(0, page) * per_page)
    )
    with db.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def last_runs(db: LedgerHook, dag_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Return each DAG's last recorded run: its totals, and ``per_container`` counts (what was pending)."""
    from sqlalchemy import select

    runs, last = table(RUNS), {}
    with db.engine.connect() as conn:
        for dag_id in sorted(dag_ids):
            newest = (
                select(runs)
                .where(runs.c.dag_id == dag_id, runs.c.container == WHOLE_RUN)
                .order_by(runs.c.ended_at.desc())
                .limit(1)
            )
            row = conn.execute(newest).first()
            if row is None:
                continue
            per = select(runs).where(runs.c.dag_id == dag_id, runs.c.run_id == row.run_id, runs.c.container != "")
            last[dag_id] = {**row._mapping, "per_container": {r.container: dict(r._mapping) for r in conn.execute(per)}}
    return last


def updated_since(db: LedgerHook, dag_ids: Iterable[str], since: str) -> dict[str, int]:
    """Return the updates each DAG's runs since ``since`` recorded (the ledger keeps no per-object update mark)."""
    from sqlalchemy import func, select

    runs = table(RUNS)
    query = (
        select(runs.c.destination, func.sum(runs.c.updated))
        .where(runs.c.dag_id.in_(sorted(dag_ids)), runs.c.container == WHOLE_RUN, runs.c.ended_at >= since)
        .group_by(runs.c.destination)
    )
    with db.engine.connect() as conn:
        return {destination: int(n or 0) for destination, n in conn.execute(query)}


def keys_in_state(
    db: LedgerHook, destination: str, container: str, state: str, after: str = "", per_page: int = PAGE
) -> list[dict[str, Any]]:
    """Return the next page of keys in ``state`` at ``destination`` for one source, by key, after ``after``."""
    from sqlalchemy import select

    t = ledger_table()
    query = (
        select(t.c.object_key, t.c.remote_id, t.c.refusals, t.c.reason, t.c.updated_at)
        .where(t.c.destination == destination, t.c.state == state, t.c.container == container)
        .where(t.c.object_key > after)
        .order_by(t.c.object_key)
        .limit(per_page)
    )
    with db.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def profile(db: LedgerHook, key: str, conn_ids: dict[str, str], dag_ids: Iterable[str]) -> dict[str, Any]:
    """Return what is known of one key: its ledger rows, the runs that failed it, the actions taken on it."""
    from sqlalchemy import select

    t, failures, actions = ledger_table(), table(FAILURES), table(ACTIONS)
    with db.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(t).where(t.c.object_key == key))]
        attempts = conn.execute(
            select(failures.c.dag_id, failures.c.run_id, failures.c.container, failures.c.reason, failures.c.ended_at)
            .where(failures.c.object_key == key, failures.c.dag_id.in_(sorted(dag_ids)))
            .order_by(failures.c.ended_at.desc())
            .limit(10)
        )
        attempts = [dict(r._mapping) for r in attempts]
        done = conn.execute(select(actions).where(actions.c.object_key == key).order_by(actions.c.id.desc()).limit(10))
        done = [dict(r._mapping) for r in done]
    rows = [{**r, "dag_id": owner(r["destination"], conn_ids)} for r in rows if owner(r["destination"], conn_ids)]
    visible = {r["destination"] for r in rows}
    return {"key": key, "rows": rows, "attempts": attempts, "actions": [a for a in done if a["destination"] in visible]}
