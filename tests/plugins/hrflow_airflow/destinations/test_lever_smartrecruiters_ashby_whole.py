"""
The whole candidate in Lever, SmartRecruiters and Ashby beyond the contract suite, against their emulators: a CV
upload whose answer is lost is adopted by its name (one file), Lever deletes the CV it sent, Ashby's storage never
sees the API key, Ashby's custom fields are listed and set, the candidate's page where the vendor documents one.
"""

from __future__ import annotations

import json

import pytest
import requests

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.hooks.http import RetryPolicy
from hrflow_airflow.ledger import Ledger
from sandbox import ashby, lever, smartrecruiters
from sandbox.ashby_whole import STORAGE
from sandbox.files import MARKER
from sandbox.state import Fault


@pytest.fixture
def configure(sandbox, monkeypatch, tmp_path):
    """Point ats_default at one emulator's connection; the ledger lives in a file of this test's own."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")})
    )

    def configure(conn: dict):
        monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps(conn))
        destination = destination_for("ats_default", "profile")
        destination.client.retry = RetryPolicy(attempts=4, backoff=0.01)
        return destination

    return configure


def record(sandbox, i: int, **fields) -> dict:
    resume = {
        "url": f"{sandbox.url}/files/k{i}/original-v1.pdf", "file_name": "cv-original.pdf",
        "content_type": "application/pdf", "size": 3000, "fingerprint": f"alt-k{i}@2026-01-01T00:00:00+0000",
    }  # fmt: skip
    return {"hrflow_key": f"k{i}", "email": f"c{i}@example.com", "resume": resume, "applications": [], **fields}


def deliver(destination, records: list[dict]) -> dict:
    items = [[r["hrflow_key"], "src"] for r in records]
    return destination.deliver(plural="profiles", index=0, items=items, records=records, ledger=Ledger())


@pytest.mark.parametrize(
    ("vendor", "path", "fields"),
    [
        (lever, "/lever/v1/opportunities/", {"name": "F0 L0"}),
        (smartrecruiters, "/smartrecruiters/candidates/", {"firstName": "F0", "lastName": "L0"}),
        (ashby, "/ashby/candidate.uploadResume", {"name": "F0 L0"}),
    ],
    ids=["lever", "smartrecruiters", "ashby"],
)
def test_a_cv_upload_whose_answer_is_lost_is_adopted_by_its_name(configure, sandbox, vendor, path, fields):
    destination = configure(vendor.VENDOR.connection(sandbox.url))
    sandbox.state.faults.append(Fault(path=path, method="POST", lose_response=True))  # the upload's answer
    result = deliver(destination, [record(sandbox, 0, **fields)])
    assert [key for key, _ in result["accepted"]] == ["k0"] and not result.get("cv_isolated")
    account = getattr(sandbox.state.vendors, vendor.VENDOR.name)
    assert sandbox.state.faults_by_kind["lost_answer"] == 1
    assert account.cvs_by_email() == {"c0@example.com": 1}  # landed once, adopted: not sent again
    deliver(destination, [record(sandbox, 0, **fields)])
    assert account.cvs_by_email() == {"c0@example.com": 1}


def test_lever_deletes_the_cv_it_sent_and_links_the_opportunity(configure, sandbox):
    destination = configure(lever.connection(sandbox.url))
    result = deliver(destination, [record(sandbox, 0, name="F0 L0")])
    remote = result["remote_ids"]["k0"].removeprefix("lever:")
    opportunity = remote.partition("/")[0]
    [file] = sandbox.state.vendors.lever.files[opportunity]
    client = destination.client
    method, path = client.cv_delete_request(remote, file["id"])
    client.request(method, path)
    assert sandbox.state.vendors.lever.files[opportunity] == []
    assert client.cv_deletable and client.record_url(f"lever:{remote}") == (
        f"https://hire.lever.co/candidates/{opportunity}"
    )


def test_ashby_storage_gets_the_bytes_and_never_the_api_key(configure, sandbox):
    destination = configure(ashby.connection(sandbox.url))
    deliver(destination, [record(sandbox, 0, name="F0 L0")])
    account = sandbox.state.vendors.ashby
    [(candidate, [file])] = account.files.items()
    assert MARKER + b"k0" in file["data"] and file["name"].startswith("cv-original-hrflow-")
    assert account.candidates[candidate]["resumeFileHandle"]["name"] == file["name"]
    assert account.requests["POST /file.createFileUploadHandle"] == 1
    assert sum(n for call, n in sandbox.state.calls.items() if call.startswith(f"POST {STORAGE}/")) == 1
    assert requests.post(f"{sandbox.url}{STORAGE}/unknown-handle", data=b"x", timeout=5).status_code == 403


def test_ashby_custom_fields_are_listed_and_set_after_the_create_and_each_update(configure, sandbox):
    destination = configure(ashby.connection(sandbox.url))
    client = destination.client
    listed = client.request("GET", client.custom_fields_request()).json()
    assert client.custom_field_names(listed) == {"salary_expectation", "hrflow_score"}
    wanted = record(sandbox, 0, name="F0 L0", **{"custom:salary_expectation": "60k", "custom:hrflow_score": 87})
    remote = deliver(destination, [wanted])["remote_ids"]["k0"].removeprefix("ashby:")
    account = sandbox.state.vendors.ashby
    assert account.custom_values[remote] == {"salary_expectation": "60k", "hrflow_score": 87}
    client.update(f"ashby:{remote}", {**wanted, "custom:hrflow_score": 91})
    assert account.custom_values[remote]["hrflow_score"] == 91
