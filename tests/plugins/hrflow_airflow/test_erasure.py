"""
An erasure and the CV (issue 47): where the ATS can delete a file (Lever's files endpoint) the CV is deleted and
reported; where the record can only be archived and its files stay (Workable), the report says the file remains.
"""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowFailException

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.erasure import erase, erase_request
from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.ledger import Ledger
from sandbox import lever, workable
from sandbox.workable import WORKABLE_MEMBER


def created_with_cv(sandbox, monkeypatch, tmp_path, connection: dict) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l")}))
    monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps(connection))
    url = f"{sandbox.url}/files/k0/original-v1.pdf"
    resume = {"url": url, "file_name": "cv.pdf", "content_type": "application/pdf", "size": 3000, "fingerprint": "a@1"}
    record = {"hrflow_key": "k0", "email": "c0@example.com", "resume": resume, "applications": []}
    record.update({"name": "F0 L0"} if connection["conn_type"] == "lever" else {"firstname": "F0", "lastname": "L0"})
    result = destination_for("ats_default", "profile").deliver(
        plural="profiles", index=0, items=[["k0", "src"]], records=[record], ledger=Ledger()
    )
    assert result["accepted"] == [["k0", "src"]] and result["cvs"] == 1


def test_an_erasure_deletes_the_cv_where_the_ats_deletes_files(sandbox, monkeypatch, tmp_path):
    created_with_cv(sandbox, monkeypatch, tmp_path, lever.connection(sandbox.url))
    account = sandbox.state.vendors.lever
    assert sum(len(files) for files in account.files.values()) == 1
    report = erase("src", ["k0"])
    assert report["cv_deleted"] == ["k0"] and report["cv_remains"] == [] and report["removed"] == ["k0"]
    assert sum(len(files) for files in account.files.values()) == 0
    assert Ledger().parts.of("ats_default/lever", ["k0"]) == {}  # nothing of it kept


def test_an_erasure_that_can_only_archive_says_the_file_remains(sandbox, monkeypatch, tmp_path):
    connection = workable.workable_connection(sandbox.url, member_id=WORKABLE_MEMBER)
    created_with_cv(sandbox, monkeypatch, tmp_path, connection)
    report = erase("src", ["k0"])
    assert report["removed"] == ["k0"] and report["cv_deleted"] == [] and report["cv_remains"] == ["k0"]
    assert sum(len(files) for files in sandbox.state.vendors.workable.files.values()) == 1  # archived with it


def created_on_two_jobs(sandbox, monkeypatch, tmp_path, connection: dict) -> None:
    """Create k0 applied to two jobs: a vendor making one record per job holds two records, each with its CV."""
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l")}))
    monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps(connection))
    url = f"{sandbox.url}/files/k0/original-v1.pdf"
    resume = {"url": url, "file_name": "cv.pdf", "content_type": "application/pdf", "size": 3000, "fingerprint": "a@1"}
    jobs = [{"board_key": "b", "job_reference": job, "ats_job_id": job} for job in ("job-1", "job-2")]
    record = {"hrflow_key": "k0", "email": "c0@example.com", "resume": resume, "applications": jobs}
    record.update({"name": "F0 L0"} if connection["conn_type"] == "lever" else {"firstname": "F0", "lastname": "L0"})
    result = destination_for("ats_default", "profile").deliver(
        plural="profiles", index=0, items=[["k0", "src"]], records=[record], ledger=Ledger()
    )
    assert result["accepted"] == [["k0", "src"]]


def per_job_keys(ledger_key: str) -> list[str]:
    """Return the ledger's keys of k0's own records on its other jobs (``<key>~<hash>``)."""
    from sqlalchemy import select

    from hrflow_airflow.ledger.schema import ledger_table

    table = ledger_table()
    query = select(table.c.object_key).where(table.c.destination == ledger_key, table.c.object_key.like("k0~%"))
    with Ledger().db.engine.connect() as conn:
        return [key for (key,) in conn.execute(query)]


def test_an_erasure_deletes_the_cv_of_each_per_job_record_and_keeps_only_tombstones(sandbox, monkeypatch, tmp_path):
    created_on_two_jobs(sandbox, monkeypatch, tmp_path, lever.connection(sandbox.url))
    account, ledger_key = sandbox.state.vendors.lever, "ats_default/lever"
    assert len(account.candidates) == 2 and sum(len(files) for files in account.files.values()) == 2
    (sub,) = per_job_keys(ledger_key)
    report = erase("src", ["k0"])
    assert report["removed"] == ["k0"] and report["cv_deleted"] == ["k0"] and report["cv_remains"] == []
    assert set(account.removed) == set(account.candidates)  # both opportunities archived
    assert sum(len(files) for files in account.files.values()) == 0  # both CV files deleted
    assert Ledger().parts.of(ledger_key, ["k0", sub]) == {}  # nothing of either record kept
    entries = Ledger().deliveries.lookup(ledger_key, ["k0", sub])
    assert {key: (e.state, e.reason, e.record_hash) for key, e in entries.items()} == {
        "k0": ("removed", "erased", None),
        sub: ("removed", "erased", None),
    }


def test_an_erasure_that_can_only_archive_says_the_per_job_records_files_remain(sandbox, monkeypatch, tmp_path):
    connection = workable.workable_connection(sandbox.url, member_id=WORKABLE_MEMBER)
    created_on_two_jobs(sandbox, monkeypatch, tmp_path, connection)
    account, ledger_key = sandbox.state.vendors.workable, "ats_default/workable"
    assert len(account.candidates) == 2
    (sub,) = per_job_keys(ledger_key)
    report = erase("src", ["k0"])
    assert report["removed"] == ["k0"] and report["cv_deleted"] == [] and report["cv_remains"] == ["k0"]
    assert set(account.removed) == set(account.candidates)
    assert Ledger().parts.of(ledger_key, ["k0", sub]) == {}
    assert Ledger().deliveries.lookup(ledger_key, [sub])[sub].reason == "erased"


def test_per_job_finds_each_records_own_key_by_its_exact_prefix(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l")}))
    ledger = Ledger()
    ledger.deliveries.tombstone("d", [("k_1~aa", "src"), ("kx1~bb", "src"), ("k_10~cc", "src")], "erased")
    ledger.parts.record("d", "k_1~dd", "cv", "sent")  # a record with parts only
    ledger.parts.record("other", "k_1~ee", "cv", "sent")  # another destination's
    assert ledger.parts.per_job("d", ["k_1", "k2"]) == {"k_1": ["k_1~aa", "k_1~dd"]}  # '_' is no wildcard


def test_a_bad_request_fails_the_task_through_fails_fast_naming_the_field():
    """``@fails_fast`` is the one conversion of a BadConfigError into AirflowFailException: the message kept."""
    with pytest.raises(AirflowFailException) as failed:
        erase_request.function(params={"source_key": "src", "profile_keys": ["jane@example.com"]})
    assert isinstance(failed.value.__cause__, BadConfigError)  # converted by fails_fast, from the error itself
    assert str(failed.value) == (
        "Bad configuration: profile_keys[0] is not an HrFlow key (keys only: no names or emails)"
    )
    assert "jane" not in str(failed.value)
