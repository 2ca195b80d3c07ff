"""The ledger tests' ledgers: PostgreSQL, and each database the package supports."""

from __future__ import annotations

import json
import uuid

import pytest

from hrflow_airflow.ledger import Ledger
from tests.conftest import PG, service_missing


@pytest.fixture
def postgres_ledger(monkeypatch):
    """
    A sync ledger in a scratch PostgreSQL database (127.0.0.1:5432, trust), as docker-compose.yaml sets it up.
    Without that PostgreSQL the test skips, and fails under CI=true or REQUIRE_SERVICES=1 (tests.conftest).
    """
    import sqlalchemy

    admin = sqlalchemy.create_engine(
        f"postgresql+psycopg2://postgres@{PG[0]}:{PG[1]}/postgres", isolation_level="AUTOCOMMIT"
    )
    name = f"hrflow_ledger_test_{uuid.uuid4().hex[:8]}"
    unusable = None
    try:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    except sqlalchemy.exc.OperationalError as exc:
        unusable = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
    if unusable:  # outside the except: the failure names what is missing, without the chained traceback
        admin.dispose()
        service_missing(f"PostgreSQL on {PG[0]}:{PG[1]} (user postgres, trust auth)", unusable)
    conn_ = {"conn_type": "postgres", "host": PG[0], "port": PG[1], "login": "postgres", "schema": name}
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps(conn_))
    ledger = Ledger()
    yield ledger
    ledger.db.engine.dispose()
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_ledger(request):
    """A ledger on each database the package supports."""
    if request.param == "sqlite":
        request.getfixturevalue("ledger_path")
        return Ledger()
    return request.getfixturevalue("postgres_ledger")
