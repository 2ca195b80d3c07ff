"""
An erasure and the CV (issue 47): where the ATS can delete a file (Lever's files endpoint) the CV is deleted and
reported; where the record can only be archived and its files stay (Workable), the report says the file remains.
"""

from __future__ import annotations

import json

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.erasure import erase
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
