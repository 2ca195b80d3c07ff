"""The ledger's sealed record-hash key: made once, opened with any configured key, re-sealed after a rotation."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet, MultiFernet

from hrflow_airflow.ledger import LedgerHook
from hrflow_airflow.ledger.keys import keys_table, opens, stored_key
from hrflow_airflow.sealed import SealError, record_hash, record_hash_key, record_hashes


@pytest.fixture
def db(monkeypatch, tmp_path) -> LedgerHook:
    monkeypatch.setenv(
        "AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")})
    )
    return LedgerHook()


def sealed_token(db: LedgerHook) -> str:
    from sqlalchemy import select

    table = keys_table()
    with db.engine.connect() as conn:
        return conn.execute(select(table.c.sealed).where(table.c.name == "k")).scalar_one()


def test_a_key_is_made_once_and_survives_a_rotation(db):
    old, new = Fernet(Fernet.generate_key()), Fernet(Fernet.generate_key())
    made = []
    key = stored_key(db, "k", MultiFernet([old]), old, make=lambda: made.append(1) or b"secret-bytes")
    assert key == b"secret-bytes" and made == [1]
    assert b"secret-bytes" not in sealed_token(db).encode()  # stored sealed
    # during the rotation (new,old): the same key, now re-sealed under the new one
    assert stored_key(db, "k", MultiFernet([new, old]), new, make=lambda: b"other") == b"secret-bytes"
    assert opens(new, sealed_token(db)) and not opens(old, sealed_token(db))
    # the old key dropped: still the same key, nothing made again
    assert stored_key(db, "k", MultiFernet([new]), new, make=lambda: b"other") == b"secret-bytes"


def test_record_hashes_are_the_same_under_new_old_as_under_old(db, monkeypatch):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", old)
    before = record_hash({"hrflow_key": "k", "email": "a@example.com"})
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", f"{new},{old}")
    assert record_hash({"hrflow_key": "k", "email": "a@example.com"}) == before
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", new)
    record_hash_key(fresh=True)
    assert record_hash({"hrflow_key": "k", "email": "a@example.com"}) == before


def test_many_records_hash_as_each_alone(db, monkeypatch):
    """A batch's hashes, the key read once for them all, are each record's own: keyed, order-blind, distinct."""
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())
    record_hash_key(fresh=True)
    records = [{"hrflow_key": f"k{i}", "email": f"{i}@example.com"} for i in range(3)]
    assert record_hashes(records) == [record_hash(record) for record in records]
    assert record_hashes([{"email": "0@example.com", "hrflow_key": "k0"}]) == record_hashes(records[:1])
    assert len(set(record_hashes(records))) == 3 and record_hashes([]) == []
    # what ledgers already hold: HMAC-SHA256 of the record's canonical JSON under the record-hash key
    canonical = json.dumps(records[0], ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    assert record_hashes(records[:1]) == [hmac.new(record_hash_key(), canonical, hashlib.sha256).hexdigest()]


def test_an_unknown_fernet_key_fails_naming_the_setting(db, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())
    record_hash_key(fresh=True)
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "not-a-key")
    with pytest.raises(SealError, match=r"\[core\] fernet_key is not a valid Fernet key"):
        record_hash_key(fresh=True)


def test_reseal_cli_reseals_under_the_first_key(db, monkeypatch):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", old)
    record_hash_key(fresh=True)
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", f"{new},{old}")
    import os

    done = subprocess.run(
        [sys.executable, "-m", "hrflow_airflow.ledger.reseal"], env=dict(os.environ), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the old key may now be dropped" in done.stdout
    from sqlalchemy import select

    table = keys_table()
    with db.engine.connect() as conn:
        token = conn.execute(select(table.c.sealed).where(table.c.name == "record_hash")).scalar_one()
    assert opens(Fernet(new.encode()), token) and not opens(Fernet(old.encode()), token)
