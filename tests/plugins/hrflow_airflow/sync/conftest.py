"""What the step functions need outside Airflow: a Fernet key to seal with, and a ledger of their own."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet


@pytest.fixture
def fernet(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())


@pytest.fixture
def ledger_db(sandbox, monkeypatch, tmp_path):
    """A SQLite sync ledger in this test's own directory (after the sandbox fixture sets its connections)."""
    path = tmp_path / "ledger.db"
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    return path
