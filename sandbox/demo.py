"""
`make demo`: a SQLite Airflow home in .airflow/, the sandbox, and one real hrflow_profiles_to_ats run.

`make demo ATS=<name>` sends the profiles to that ATS's emulator instead of the JSON endpoint (``ATS=json``, the
default): any emulator of ``sandbox/registry.py``, i.e. ashby, greenhouse, lever, recruitee, smartrecruiters,
teamtailor or workable.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from pathlib import Path

from sandbox.__main__ import DEMO_SOURCE
from sandbox.airflow_home import REPO, airflow_env, dags_test, init_home
from sandbox.registry import VENDORS
from sandbox.server import SandboxServer

HOME = REPO / ".airflow"
DEMO_BOARD = "demoboard"


def seed(server: SandboxServer) -> None:
    """
    Seed 40 unsynced profiles (some with null tags or sync=0), 25 of them applied to one of 3 jobs, and 2 already
    synced ones. Each carries its CV (the sandbox's file storage).
    """
    state = server.state
    keys = state.seed("profile", DEMO_SOURCE, 30, created_at="2026-01-01T00:00:00+00:00", spread_seconds=60)
    for i, key in enumerate(keys[:25]):  # HrFlow's convention: application_boardKey_jobReference
        tag = {"name": "application_boardKey_jobReference", "value": f"{DEMO_BOARD}_job-{i % 3 + 1}"}
        state.update("profile", DEMO_SOURCE, key, lambda p, t=tag: p.update(tags=[t]))
    state.seed(
        "profile",
        DEMO_SOURCE,
        10,
        start=30,
        tags=[{"name": "sync", "value": "0"}, {"name": "stage", "value": "new"}],
        created_at="2026-01-02T00:00:00+00:00",
        spread_seconds=60,
    )
    state.seed(
        "profile",
        DEMO_SOURCE,
        2,
        start=40,
        tags=[{"name": "sync", "value": "1"}],
        created_at="2026-01-03T00:00:00+00:00",
    )


# ATS= -> the sandbox connection of its emulator: each registry entry's demo settings
CONNECTIONS = {vendor.name: vendor.demo_connection for vendor in VENDORS}
DESTINATIONS = ("json", *CONNECTIONS)


def destination_env(server: SandboxServer, ats: str) -> dict[str, str]:
    """Return the ats_default connection for ``ats``: the JSON endpoint, or an ATS emulator of the sandbox."""
    if ats == "json":
        return {}
    if ats not in DESTINATIONS:
        raise SystemExit(f"ATS={ats!r}: choose one of {', '.join(DESTINATIONS)}")
    return {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(CONNECTIONS[ats](server.url))}


def main() -> int:
    ats = (os.environ.get("ATS") or "json").lower()
    server = SandboxServer().start_in_thread()
    seed(server)
    env = airflow_env(
        HOME,
        {
            **server.airflow_env(),
            "AIRFLOW_VAR_HRFLOW_SOURCE_KEYS": json.dumps([DEMO_SOURCE]),
            **destination_env(server, ats),
        },
    )
    print(f"Airflow home: {HOME} (SQLite); sandbox: {server.url}; destination: {ats}")
    init_home(env)
    # the sandbox starts empty each time: so does the sync ledger that remembers what its ATS accepted
    (HOME / "hrflow_ledger.db").unlink(missing_ok=True)
    print("Running: airflow dags test hrflow_profiles_to_ats ...", flush=True)
    started = time.monotonic()
    run = dags_test(env, "hrflow_profiles_to_ats")
    elapsed = time.monotonic() - started
    (HOME / "demo-run.log").write_text(run.stdout + run.stderr)
    state = server.state.snapshot()
    if ats != "json":
        account = getattr(server.state.vendors, ats)
        print(f"\nRun finished in {elapsed:.1f}s with exit code {run.returncode} (full log: {HOME / 'demo-run.log'})")
        print(
            f"\nCreated in {ats} (sandbox): {len(account.candidates)} candidates, one request each; "
            f"{len(account.duplicates())} duplicate(s); {account.refused_for_rate} request(s) refused for rate"
        )
        for candidate in list(account.candidates.values())[:5]:
            fields = candidate.get("attributes", candidate)  # Teamtailor's JSON:API resource keeps them apart
            print(f"  {candidate['id']}  fields: {sorted(k for k, v in fields.items() if v)}")
        tagged = [k for k in state["synced"]["profile"] if state["edits"].get(k)]
        print(f"\nTagged sync=1 and ats_id={ats}:<id> by this run: {len(tagged)} profiles")
        print(whole_candidate_line())
        server.shutdown()
        return run.returncode
    ats = server.state.ats_area("profiles")
    print(f"\nRun finished in {elapsed:.1f}s with exit code {run.returncode} (full log: {HOME / 'demo-run.log'})")
    print(
        f"\nReached the ATS: {len(ats.applied)} profiles in {len(ats.bodies)} request(s), "
        f"{len(state['ats'].get('profiles', {}).get('duplicates', []))} duplicate(s)"
    )
    for body in ats.bodies:
        for record in body["profiles"][:5]:
            print(f"  {record['hrflow_key']}  {record['first_name']} {record['last_name']}  fields: {sorted(record)}")
        if len(body["profiles"]) > 5:
            print(f"  ... and {len(body['profiles']) - 5} more")
    tagged = [k for k in state["synced"]["profile"] if state["edits"].get(k)]
    untouched = [k for k in state["synced"]["profile"] if not state["edits"].get(k)]
    print(f"\nTagged sync=1 by this run: {len(tagged)} profiles; already synced and left untouched: {len(untouched)}")
    print(f"HrFlow calls: {sum(v for k, v in state['calls'].items() if ' /v1/' in k)}")
    print(whole_candidate_line())
    server.shutdown()
    return run.returncode


def whole_candidate_line() -> str:
    """Return the run's last line: candidates, CVs and applications, from its summary (the ``summary`` XCom)."""
    with sqlite3.connect(HOME / "airflow.db") as db:
        row = db.execute(
            "SELECT value FROM xcom WHERE dag_id = 'hrflow_profiles_to_ats' AND task_id = 'summary' "
            "AND key = 'summary' ORDER BY dag_run_id DESC LIMIT 1"
        ).fetchone()
    summary = json.loads(row[0]) if row else None
    if isinstance(summary, str):  # a large value lives in the XCom object storage; the database holds its path
        summary = json.loads(Path(summary.removeprefix("file://")).read_text())
    if not summary:
        return "\nNo run summary: see the log"
    return (
        f"\n{summary['posted']} candidates, {summary.get('cvs', 0)} CVs, {summary.get('applications', 0)} applications "
        f"to {summary.get('jobs', 0)} jobs"
    )


if __name__ == "__main__":
    sys.exit(main())
