"""
`python -m bench.ui_queries [--n 1000000] [--backends sqlite,postgresql]`: the HrFlow page's views on a big ledger.

Fills a scratch ledger with ``--n`` rows (two destinations, 25 sources and boards, 93% synced and the rest refused,
quarantined, removed, outcome unknown or accepted; 5% linked; ten refusal reasons) and 90 days of hourly run
history for both sync DAGs, then times each view's queries and rendering (:mod:`hrflow_airflow.ui`): the overview
(counts, refusals by reason, last runs, updates, run history page 1), a deep run history page, a page of
quarantined keys (first, and keyset-deep), and one key's profile. Each is run 5 times: median and worst.

Baseline: the same views on the same ledger without the page's indexes (``ix_hrflow_ledger_*``) and without the
counts each run takes at its end (the overview counts live), both dropped after the first measurement. The run's
own cost of counting its destination (the ``summary`` task, :func:`hrflow_airflow.ledger.counts.take`) is printed
too. The budget is 500 ms per view. SQLite is a file in a temporary folder; PostgreSQL is a
scratch database on 127.0.0.1:5432 (trust auth), VACUUM ANALYZEd after the load as autovacuum would.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.common import machine, save

ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DB = "hrflow_ui_bench"
STATES = [("synced", 93), ("refused", 2), ("quarantined", 1), ("removed", 2), ("unknown", 1), ("accepted", 1)]
REASONS = [f"ATS HTTP 422: field 'f{i}' is invalid: <redacted>" for i in range(10)]
PROFILES, JOBS = "hrflow_profiles_to_ats", "hrflow_jobs_to_ats"
BUDGET_MS = 500


def key_of(i: int) -> str:
    return hashlib.sha1(f"object {i}".encode()).hexdigest()


def row_of(i: int, now: str) -> dict:
    destination, sources = ("ats_default", 20) if i % 5 else ("ats_jobs_default", 5)
    state = STATES[-1][0]
    slot = (i * 7919) % 100
    for name, share in STATES:
        if slot < share:
            state = name
            break
        slot -= share
    return {
        "destination": destination,
        "object_key": key_of(i),
        "container": hashlib.sha1(f"c{i % sources}".encode()).hexdigest(),
        "state": state,
        "remote_id": f"ats-{i}",
        "attempts": 1,
        "updated_at": now,
        "refusals": 1 if state in ("refused", "quarantined") else 0,
        "reason": REASONS[i % 10] if state in ("refused", "quarantined") else None,
        "origin": "linked" if i % 20 == 0 else "created",
    }


def load(n: int) -> None:
    """Fill the ledger of connection ``hrflow_ledger`` with ``n`` rows and 90 days of run history."""
    from hrflow_airflow.ledger import LedgerHook
    from hrflow_airflow.ledger.history import FAILURES, RUNS
    from hrflow_airflow.ledger.runs import run_rows
    from hrflow_airflow.ledger.schema import ledger_table, metadata

    db, now = LedgerHook(), datetime.now(timezone.utc).isoformat(timespec="seconds")
    with db.engine.begin() as conn:
        for first in range(0, n, 5000):
            conn.execute(ledger_table().insert(), [row_of(i, now) for i in range(first, min(n, first + 5000))])
    start = datetime.now(timezone.utc) - timedelta(days=89)
    containers = {c: {"found": 10, "posted": 9, "tagged": 9, "skipped": 0, "failed": 1} for c in "abcdefghij"}
    summary = {"found": 100, "posted": 90, "tagged": 90, "failed": 10, "by_container": containers}
    runs, failures = [], []
    for hour in range(90 * 24):
        ended = (start + timedelta(hours=hour)).isoformat(timespec="seconds")
        for dag_id in (PROFILES, JOBS):
            base = {
                "dag_id": dag_id,
                "run_id": f"scheduled__{hour}",
                "destination": "ats_default",
                "started_at": ended,
                "ended_at": ended,
                "duration_s": 60.0,
                "state": "failed",
            }
            runs += run_rows(summary, base)
            failures.append(
                {
                    **{k: base[k] for k in ("dag_id", "run_id", "ended_at")},
                    "object_key": key_of(hour),
                    "container": "a",
                    "reason": REASONS[0],
                }
            )
    with db.engine.begin() as conn:
        for name, rows in ((RUNS, runs), (FAILURES, failures)):
            for first in range(0, len(rows), 5000):
                conn.execute(metadata().tables[name].insert(), rows[first : first + 5000])


def views() -> dict[str, Callable[[], object]]:
    """Return each view of the page as a call of its queries and its rendering."""
    from hrflow_airflow.ledger import LedgerHook
    from hrflow_airflow.ui import pages, queries

    db, dags = LedgerHook(), {PROFILES: "ats_default", JOBS: "ats_jobs_default"}
    container = hashlib.sha1(b"c1").hexdigest()
    deep = queries.keys_in_state(db, "ats_default", container, "quarantined", "", 2000)
    after = deep[-1]["object_key"] if deep else ""
    return {
        "overview": lambda: (
            pages.counts_table(queries.counts(db, dags), queries.updated_since(db, dags, "2000-01-01"), 30),
            queries.last_runs(db, dags),
            pages.history_table(queries.run_history(db, dags, 0), "", 0, True),
        ),
        "run history, page 80": lambda: queries.run_history(db, dags, 80),
        "quarantined keys, page 1": lambda: queries.keys_in_state(db, "ats_default", container, "quarantined"),
        "quarantined keys, past 2,000": lambda: queries.keys_in_state(
            db, "ats_default", container, "quarantined", after
        ),
        "profile by key": lambda: queries.profile(db, key_of(123_457), dags, dags),
    }


def timed(view: Callable[[], object]) -> tuple[float, float]:
    """Return the median and worst of 5 runs of ``view``, in ms (after one warm-up run)."""
    view()
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        view()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs), max(runs)


def measure(backend: str) -> dict[str, tuple[float, float, float]]:
    """Return per view: median and worst with the page's indexes, and the median without them (baseline)."""
    from hrflow_airflow.ledger import LedgerHook
    from hrflow_airflow.ledger.history import LEDGER_INDEXES

    with_indexes = {name: timed(view) for name, view in views().items()}
    engine = LedgerHook().engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM hrflow_ledger_counts"))  # the overview counts live
        for name in LEDGER_INDEXES:
            conn.execute(text(f"DROP INDEX {name}"))
        if backend == "postgresql":
            conn.execute(text("ANALYZE hrflow_sync_ledger"))
    baseline = {name: timed(view)[0] for name, view in views().items()}
    return {name: (*with_indexes[name], baseline[name]) for name in with_indexes}


def connect(backend: str, folder: Path) -> None:
    """Point connection ``hrflow_ledger`` at a new, empty scratch database of ``backend``."""
    if backend == "sqlite":
        conn = {"conn_type": "sqlite", "host": str(folder / "ledger.db")}
    else:
        admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
            c.execute(text(f"CREATE DATABASE {DB}"))
        conn = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": DB}
    os.environ["AIRFLOW_CONN_HRFLOW_LEDGER"] = json.dumps(conn)


def run(backend: str, n: int, folder: Path) -> list[str]:
    connect(backend, folder)
    started = time.perf_counter()
    load(n)
    if backend == "postgresql":
        with create_engine(ADMIN.rsplit("/", 1)[0] + f"/{DB}", isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(text("VACUUM ANALYZE"))
    loaded = time.perf_counter() - started
    from hrflow_airflow.ledger import LedgerHook, counts

    took = {}
    for destination in ("ats_default", "ats_jobs_default"):  # what each run's summary task does at its end
        began = time.perf_counter()
        counts.take(LedgerHook(), destination)
        took[destination] = (time.perf_counter() - began) * 1000
    lines = [f"## {backend}: {n:,} ledger rows, 8,640 runs (loaded in {loaded:.0f} s)", ""]
    lines.append(f"{'view':32} {'median ms':>10} {'worst ms':>10} {'baseline ms':>12} {'budget':>8}")
    for name, (median, worst, baseline) in measure(backend).items():
        verdict = "ok" if worst < BUDGET_MS else "OVER"
        lines.append(f"{name:32} {median:10.1f} {worst:10.1f} {baseline:12.1f} {verdict:>8}")
    lines.append(
        f"{'summary task: count ats_default':32} {took['ats_default']:10.1f}   ({n * 4 // 5:,} rows; once per run)"
    )
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    lines = [
        f"# HrFlow page: each view on a {args.n:,}-row ledger ({time.strftime('%Y-%m-%d')})",
        f"machine: {machine()}",
        "baseline: the same views without the page's ledger indexes and counts snapshot (counted live)",
        "",
    ]
    with tempfile.TemporaryDirectory(prefix="hrflow-ui-bench-") as folder:
        for backend in args.backends.split(","):
            lines += run(backend, args.n, Path(folder))
    save("ui_queries" if args.n == 1_000_000 else f"ui_queries_{args.n}", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
