"""After sync and SMS runs, successful and failed, Airflow holds no plaintext candidate data anywhere."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sandbox.airflow_home import airflow_env, dags_test, init_home
from sandbox.objects import make_key

SOURCE = make_key("source", "at-rest")


def _forms(value: str) -> set[bytes]:
    """Return ``value`` as it could sit in a file: UTF-8, JSON-escaped (ASCII and not), doubly JSON-encoded."""
    forms = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        json.dumps(json.dumps(value))[3:-3],
    }
    return {f.encode("utf-8") for f in forms if f}


def _candidate_values(sandbox, keys: list[str]) -> dict[bytes, str]:
    needles: dict[bytes, str] = {}
    for key in keys:
        info = sandbox.state.get("profile", SOURCE, key)["info"]
        values = [
            info["email"],
            info["phone"],
            info["first_name"],
            info["last_name"],
            info["full_name"],
            info["summary"],
        ]
        values += [info["date_birth"]] if info.get("date_birth") else []
        for value in filter(None, values):
            for form in _forms(value):
                needles[form] = f"{key}: {value!r}"
    return needles


def _scan(home: Path, needles: dict[bytes, str]) -> list[str]:
    found = []
    files = [home / "airflow.db", *sorted((home / "xcom").rglob("*")), *sorted((home / "logs").rglob("*"))]
    for path in files:
        if not path.is_file():
            continue
        data = path.read_bytes()
        found += [f"{path.relative_to(home)}: {what}" for needle, what in needles.items() if needle in data]
    return found


@pytest.mark.e2e
def test_no_plaintext_candidate_data_after_successful_and_failed_runs(sandbox, tmp_path):
    home = tmp_path / "home"
    env = airflow_env(home, sandbox.airflow_env())
    init_home(env)
    state = sandbox.state
    keys = state.seed("profile", SOURCE, 9, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    state.update("profile", SOURCE, keys[0], lambda o: o["info"].update(date_birth="1987-04-12T00:00:00+0000"))
    conf = {"source_keys": [SOURCE], "batch_size": 3}

    ok = dags_test(env, "hrflow_profiles_to_ats", json.dumps(conf), warm=True)
    assert ok.returncode == 0, ok.stdout[-3000:]
    # a successful run keeps no candidate data, not even sealed: XCom rows, offloaded files and batch files go
    sealed_files = [p for p in (home / "xcom").rglob("*") if p.is_file() and b"gAAAAA" in p.read_bytes()]
    with sqlite3.connect(home / "airflow.db") as db:
        sealed_rows = db.execute(
            "SELECT task_id, map_index, key FROM xcom WHERE CAST(value AS TEXT) LIKE '%gAAAAA%'"
        ).fetchall()
    assert sealed_files == [] and sealed_rows == []
    # a run that fails after posting: the ATS accepts the batches, HrFlow refuses to tag one profile
    more = state.seed("profile", SOURCE, 4, start=9, created_at="2026-03-02T00:00:00+00:00", spread_seconds=60)
    from sandbox.state import Fault

    state.faults.append(Fault(path="/v1/profile/indexing", method="PUT", status=400, times=1, match_key=more[0]))
    failed = dags_test(env, "hrflow_profiles_to_ats", json.dumps(conf), warm=True)
    assert failed.returncode != 0
    assert set(state.ats_area("profiles").applied) == set(keys + more)
    sms = dags_test(
        env,
        "hrflow_profile_sms",
        json.dumps(
            {"type": "profile.storing.success", "origin": "api", "profile": {"key": keys[1], "source": {"key": SOURCE}}}
        ),
        warm=True,
    )
    assert sms.returncode == 0, sms.stdout[-3000:]
    assert len(state.sms.bodies) == 1

    leaks = _scan(home, _candidate_values(sandbox, keys + more))

    assert leaks == []
    # the failed run's candidate data is kept for "clear failed tasks", sealed: Fernet tokens are there
    stored = b"".join(p.read_bytes() for p in [home / "airflow.db", *(home / "xcom").rglob("*")] if p.is_file())
    # a Fernet token's version byte, base64; batch files hold their tokens a line each ("sealed_lines")
    assert (b'"sealed"' in stored or b'"sealed_lines"' in stored) and b"gAAAAA" in stored
