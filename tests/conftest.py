"""Shared fixtures: one sandbox for every end-to-end test, one SQLite Airflow home, and a DAG runner."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Airflow code imported by unit tests reads its config at import time: give this process a throwaway home.
_HOME = tempfile.mkdtemp(prefix="hrflow-airflow-pytest-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
# the Fernet key every deployment sets: it seals candidate data and the ledger's record-hash key
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", "9fYt0Q4nB1sWq2bHc7yZxY0r8vVZ6P3kJ5lM4nO1p2A=")

from sandbox.airflow_home import airflow_env, dags_test, forget_runs, init_home  # noqa: E402 (after the home is set)
from sandbox.server import SandboxServer  # noqa: E402


def pytest_collection_modifyitems(config, items):
    """Mark the top-level files' tests ``stack``: they start real Airflow services and run after the rest, a file per
    worker (``make test``: ``-n 2 --dist loadfile``; each file's stack has its own home, ports and databases)."""
    here = Path(__file__).parent
    for item in items:
        if item.path.parent == here:
            item.add_marker(pytest.mark.stack)


@pytest.fixture(scope="session")
def sandbox_server():
    server = SandboxServer().start_in_thread()
    yield server
    server.shutdown()


@pytest.fixture
def sandbox(sandbox_server, monkeypatch):
    """The sandbox, emptied, with its connections set in this process's environment too."""
    sandbox_server.state.reset()
    for name, value in sandbox_server.airflow_env().items():
        monkeypatch.setenv(name, value)
    yield sandbox_server
    sandbox_server.state.reset()


# PostgreSQL and Redis on loopback, for the CeleryExecutor and compose-configuration stacks
PG, REDIS = ("127.0.0.1", 5432), ("127.0.0.1", 6379)


def _reachable(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=2).close()
        return True
    except OSError:
        return False


def services_required() -> str | None:
    """Return why a missing service must fail the test (``CI=true``/``1``, ``REQUIRE_SERVICES=1``), else None."""
    if os.environ.get("REQUIRE_SERVICES", "").strip() == "1":
        return "REQUIRE_SERVICES=1"
    if os.environ.get("CI", "").strip().lower() in ("true", "1"):
        return f"CI={os.environ['CI'].strip()}"
    return None


def service_missing(what: str, why: str = "unreachable") -> None:
    """Skip the test that needs ``what`` (e.g. "PostgreSQL on 127.0.0.1:5432"); fail it where services are required."""
    required = services_required()
    if required:
        pytest.fail(f"{required}, but this test needs {what}: {why}", pytrace=False)
    pytest.skip(f"needs {what}: {why}")


@pytest.fixture(scope="session")
def live_services() -> None:
    """Skip (or fail, under CI=true or REQUIRE_SERVICES=1) when PostgreSQL or Redis is unreachable."""
    missing = [
        f"{name} on {host}:{port}"
        for name, (host, port) in (("PostgreSQL", PG), ("Redis", REDIS))
        if not _reachable((host, port))
    ]
    if missing:
        service_missing(" and ".join(missing))


@pytest.fixture(scope="session")
def _session_airflow_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("airflow_home")
    init_home(airflow_env(home))
    return home


@pytest.fixture
def airflow_home(_session_airflow_home) -> Path:
    """
    One SQLite Airflow home for the session; each test starts without another test's batch files and sync ledger:
    the sandbox was reset, so a listing another test left unfinished is not this test's to resume, and what the
    ledger says of objects with the same keys (tests reuse source keys) describes another test's ATS.
    """
    forget_runs(_session_airflow_home)
    return _session_airflow_home


@pytest.fixture
def ledger_path(monkeypatch, tmp_path) -> Path:
    """A sync ledger (and message record) of this test's own, in a SQLite file: connection ``hrflow_ledger``."""
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path


@dataclass
class DagRunResult:
    returncode: int
    output: str  # CLI stdout/stderr, which include every task's log lines
    summary: dict[str, Any] | None
    run_id: str | None

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0


def _latest_run(home: Path, dag_id: str) -> tuple[str | None, dict | None]:
    with sqlite3.connect(home / "airflow.db") as db:
        row = db.execute("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)).fetchone()
        if not row:
            return None, None
        value = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = 'summary' AND key = 'summary'",
            (dag_id, row[0]),
        ).fetchone()
    summary = json.loads(value[0]) if value else None
    if isinstance(summary, str):  # a large summary lives in object storage; the DB holds its path
        summary = json.loads(Path(summary.removeprefix("file://")).read_text())
    return row[0], summary


@pytest.fixture
def run_dag(airflow_home, sandbox):
    """Run ``airflow dags test`` against the sandbox; return code, all output and the run summary."""

    def run(
        dag_id: str,
        conf: dict | None = None,
        variables: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
    ) -> DagRunResult:
        # a task's Airflow retry after 0.1 s, not [hrflow] task_retry_delay_seconds' 15 (a test may set its own)
        extra = {"AIRFLOW__HRFLOW__TASK_RETRY_DELAY_SECONDS": "0.1", **sandbox.airflow_env()}
        for name, value in (variables or {}).items():
            extra[f"AIRFLOW_VAR_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
        extra.update(env or {})
        proc = dags_test(airflow_env(airflow_home, extra), dag_id, json.dumps(conf) if conf else None, warm=True)
        run_id, summary = _latest_run(airflow_home, dag_id)
        # `airflow dags test` prints every task's log, so this is everything the run logged
        return DagRunResult(proc.returncode, proc.stdout + proc.stderr, summary, run_id)

    return run


@pytest.fixture(scope="module")
def postgres_db(live_services):
    """Create a fresh PostgreSQL database (metadata, ledger) for one test module; drop it afterwards. Its name."""
    import uuid

    import psycopg2

    name = f"hrflow_airflow_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host=PG[0], port=PG[1], user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    yield name
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.fixture(scope="session")
def _smtp_receiver():
    from sandbox.smtp import SmtpReceiver

    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp_server(_smtp_receiver):
    """A local SMTP server (aiosmtpd) keeping the messages it accepts, emptied for each test."""
    _smtp_receiver.reset()
    yield _smtp_receiver
    _smtp_receiver.reset()
