"""
An erasure request end to end (`airflow dags test hrflow_erasure`, SmartRecruiters' emulator): each profile's
candidate is deleted, Airflow's copies (the sealed batch files a failed run kept) are forgotten, no name or email
is left in the Airflow home, and a later full sweep never creates the candidates again.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sandbox.objects import make_key
from sandbox.smartrecruiters import smartrecruiters_connection
from sandbox.state import Fault


def files_holding(root, needles: list[str]) -> list[str]:
    """Return the files under ``root`` whose bytes contain one of ``needles``."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(needle.encode() in data for needle in needles):
                found.append(str(path.relative_to(root)))
    return found


def erasure_report(home: Path, run_id: str) -> dict[str, list[str]]:
    """Return the report the ``erase`` task of run ``run_id`` returned: its XCom, from the home's metadata DB."""
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute(
            "SELECT value FROM xcom WHERE dag_id = 'hrflow_erasure' AND run_id = ? AND task_id = 'erase' "
            "AND key = 'return_value'",
            (run_id,),
        ).fetchall()
    assert len(rows) == 1, f"run {run_id} has {len(rows)} 'erase' return value(s)"
    report = json.loads(rows[0][0])
    if isinstance(report, str):  # a large value lives in object storage; the DB holds its path
        report = json.loads(Path(report.removeprefix("file://")).read_text())
    return report


def sms_rows(home: Path, source: str, keys: list[str]) -> dict[str, tuple[bool, bool]]:
    """Return, per profile key, whether the home's ledger holds its SMS inbox row and its message row."""
    from sqlalchemy import select

    from hrflow_airflow.events.inbox import Inbox
    from hrflow_airflow.events.outbox import MessageRecords
    from hrflow_airflow.events.planning import run_id_for
    from hrflow_airflow.events.sms import DAG_ID, sms_idempotency_key

    inbox, messages = Inbox(), MessageRecords("sms")
    found = {}
    with inbox.ledger.engine.connect() as conn:
        for key in keys:
            run_id = run_id_for(source, key)
            in_inbox = conn.scalar(select(inbox.table.c.run_id).where(inbox.table.c.run_id == run_id)) is not None
            found[key] = (in_inbox, messages.get(sms_idempotency_key(DAG_ID, run_id)) is not None)
    inbox.ledger.engine.dispose()  # no connection of this process outlives the test (the file is deleted next)
    return found


def record_sms_path(source: str, keys: list[str]) -> None:
    """Record, as the webhook and an SMS run do, each profile's inbox row (its SMS run) and its message row."""
    from hrflow_airflow.events.inbox import Inbox
    from hrflow_airflow.events.outbox import MessageRecords
    from hrflow_airflow.events.planning import run_id_for
    from hrflow_airflow.events.sms import DAG_ID, event_conf, sms_idempotency_key

    inbox, messages = Inbox(), MessageRecords("sms")
    # an engine this process cached for this path (an earlier test) holds connections to the deleted file
    inbox.ledger.engine.dispose()
    event = {"type": "profile.parsing.success", "origin": "api"}
    runs = [(run_id_for(source, key), event_conf(event, source, key)) for key in keys]
    assert set(inbox.record(runs).values()) == {"queued"}
    for run_id, _ in runs:
        messages.set(sms_idempotency_key(DAG_ID, run_id), {"sent": "2026-03-01T00:00:00+00:00"})
    inbox.ledger.engine.dispose()


def test_an_erasure_request_deletes_forgets_and_leaves_a_tombstone(
    run_dag, sandbox, airflow_home, request, monkeypatch
):
    state = sandbox.state
    source = make_key("source", "erasure", request.node.name)
    keys = state.seed("profile", source, 6, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    env = {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(smartrecruiters_connection(sandbox.url))}
    state.faults.append(
        Fault(path="/v1/profile/indexing", method="PUT", status=400, times=10, match_key=keys[5], reason="refused")
    )
    sync = {"source_keys": [source], "full_sweep": True}
    first = run_dag("hrflow_profiles_to_ats", sync, env=env)  # fails on one tag: keeps its sealed batch files
    assert not first.succeeded and first.summary["tagged"] == 5
    account = state.vendors.smartrecruiters
    erased = keys[:3]
    people = [state.get("profile", source, k)["info"] for k in erased]
    batches = airflow_home / "xcom" / "hrflow_batches"
    assert files_holding(batches, erased)  # the failed run's sealed batch files carry them
    # the SMS path's rows, in the ledger the runs use (the home's): each new profile's inbox row and message row
    ledger = {"conn_type": "sqlite", "host": str(airflow_home / "hrflow_ledger.db")}
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps(ledger))
    kept = keys[3:5]  # synced, not erased
    record_sms_path(source, [*erased, *kept])
    assert sms_rows(airflow_home, source, [*erased, *kept]) == {k: (True, True) for k in [*erased, *kept]}

    unknown = make_key("never", "synced")
    result = run_dag("hrflow_erasure", {"source_key": source, "profile_keys": [*erased, unknown]}, env=env)
    assert result.succeeded, result.output[-3000:]
    assert sorted(account.removed) == sorted(
        next(t["value"] for t in state.get("profile", source, k)["tags"] if t["name"] == "ats_id").split(":", 1)[1]
        for k in erased
    )
    assert len(account.candidates) == 3
    report = erasure_report(airflow_home, result.run_id)
    assert sorted(report["removed"]) == sorted(erased)  # each synced profile's candidate deleted
    assert report["not_found"] == [unknown]  # never synced: nothing in the ATS to delete
    assert report["not_supported"] == [] and report["failed"] == []  # SmartRecruiters deletes
    assert report.get("left_in_place", []) == []  # every erased candidate was created by the sync
    # SmartRecruiters deletes the candidate: its CV goes with it (nothing deleted on its own, nothing remains)
    assert report["cv_deleted"] == [] and report["cv_remains"] == []
    outcomes = {"removed", "not_found", "not_supported", "failed", "left_in_place", "cv_deleted", "cv_remains"}
    assert set(report) <= outcomes
    # the erased profiles' SMS rows are forgotten; the others' are untouched
    rows = sms_rows(airflow_home, source, [*erased, *kept])
    assert {k: rows[k] for k in erased} == {k: (False, False) for k in erased}
    assert {k: rows[k] for k in kept} == {k: (True, True) for k in kept}
    assert files_holding(batches, erased) == []  # forgotten (XComs of earlier runs hold their keys, no data)
    needles = [p["email"] for p in people] + [p["phone"] for p in people]
    assert files_holding(airflow_home, needles) == [] and not any(n in result.output for n in needles)

    state.faults.clear()  # a re-import: the first erased profile loses its sync tag in HrFlow
    state.update("profile", source, erased[0], lambda p: p.update(tags=[]))
    again = run_dag("hrflow_profiles_to_ats", sync, env=env)
    assert again.succeeded, again.output[-3000:]
    assert account.creates == 6 and len(account.candidates) == 3  # nothing created again
    assert any(f["key"] == erased[0] and "erased" in f["reason"] for f in again.summary["quarantined_keys"])
