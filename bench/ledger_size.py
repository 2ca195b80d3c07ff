"""`python -m bench.ledger_size [--n 200000]`: how big the sync ledger gets in PostgreSQL per synced object.

Writes ``--n`` objects through the ledger's own calls (accepted with a remote id and a record hash, then marked
synced) into a scratch database on 127.0.0.1:5432 (trust auth), measures ``pg_total_relation_size`` as written
(the state updates leave old row versions until autovacuum) and after ``VACUUM FULL``, and extrapolates to a
million objects. The baseline is the ledger before change detection: it dropped each row once tagged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time

from sqlalchemy import create_engine, text

from bench.common import machine, save

ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DB = "hrflow_ledger_size_bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args(argv)
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DB}"))
    os.environ["AIRFLOW_CONN_HRFLOW_LEDGER"] = json.dumps(
        {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": DB}
    )
    from hrflow_airflow.ledger import Ledger

    ledger, started, chunk = Ledger(), time.perf_counter(), 20_000
    for first in range(0, args.n, chunk):
        keys = [hashlib.sha1(f"object {i}".encode()).hexdigest() for i in range(first, min(args.n, first + chunk))]
        ledger.deliveries.record_accepted(
            "ats_default",
            [(key, hashlib.sha1(b"source").hexdigest()) for key in keys],
            {key: f"smartrecruiters:{hashlib.md5(key.encode()).hexdigest()}" for key in keys},
            {key: hashlib.sha256(key.encode()).hexdigest() for key in keys},
        )
        ledger.deliveries.mark_synced("ats_default", keys)
    took = time.perf_counter() - started
    ledger.db.engine.dispose()
    scratch = create_engine(ADMIN.rsplit("/", 1)[0] + f"/{DB}", isolation_level="AUTOCOMMIT")
    with scratch.connect() as conn:
        written = conn.execute(text("SELECT pg_total_relation_size('hrflow_sync_ledger')")).scalar_one()
        conn.execute(text("VACUUM FULL hrflow_sync_ledger"))
        packed = conn.execute(text("SELECT pg_total_relation_size('hrflow_sync_ledger')")).scalar_one()
        table = conn.execute(text("SELECT pg_relation_size('hrflow_sync_ledger')")).scalar_one()
    scratch.dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
    n = args.n
    lines = [
        f"# Sync ledger size in PostgreSQL: {n} synced objects ({time.strftime('%Y-%m-%d')})",
        f"machine: {machine()}",
        "",
        f"{'':48} {'per object':>12} {'1M objects':>12} {'baseline':>10}",
        f"{'as written (before autovacuum), table + indexes':48} {written / n:10.0f} B "
        f"{written / n / 1.048576:9.0f} MB {'0':>10}",
        f"{'after VACUUM FULL, table + indexes':48} {packed / n:10.0f} B {packed / n / 1.048576:9.0f} MB {'0':>10}",
        f"{'  of which indexes (primary key, container)':48} {(packed - table) / n:10.0f} B",
        f"{'write time (accepted + synced), s':48} {took:12.1f}",
        "",
        "Baseline: before change detection the ledger dropped each row once the object was tagged (0 per synced",
        "object). Reads and writes go by primary key in chunks of 500 keys: no task loads the table.",
    ]
    save("ledger_size", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
