"""What the Greenhouse client does for the whole candidate beyond the contract suite, against its emulator."""

from __future__ import annotations

import json

import pytest

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.destinations.base import AtsAuthError
from hrflow_airflow.destinations.whole import cv_file_name
from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.hooks.http import RetryPolicy
from hrflow_airflow.ledger import Ledger
from sandbox import greenhouse
from sandbox.files import MARKER
from sandbox.state import Fault


@pytest.fixture
def destination(sandbox, monkeypatch, tmp_path):
    """``ats_default`` pointed at the Greenhouse emulator; the ledger in a file of this test's own."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")})
    )
    monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps(greenhouse.connection(sandbox.url)))
    made = destination_for("ats_default", "profile")
    made.client.retry = RetryPolicy(attempts=4, backoff=0.01)
    return made


def deliver(destination, records: list[dict]) -> dict:
    items = [[r["hrflow_key"], "src"] for r in records]
    return destination.deliver(plural="profiles", index=0, items=items, records=records, ledger=Ledger())


def record(sandbox, i: int, jobs: tuple[str, ...] = (), **fields) -> dict:
    """Return profile ``i``'s record with its CV on the sandbox's file storage and its applications to ``jobs``."""
    key = f"k{i}"
    resume = {
        "url": f"{sandbox.url}/files/{key}/original-v1.pdf", "file_name": "cv-original.pdf",
        "content_type": "application/pdf", "size": 3000, "fingerprint": f"alt{i}@2026-01-01",
    }  # fmt: skip
    applications = [{"board_key": "b", "job_reference": job, "ats_job_id": job} for job in jobs]
    return {
        "hrflow_key": key, "first_name": f"F{i}", "last_name": f"L{i}", "email": f"c{i}@example.com",
        "resume": resume, "applications": applications, **fields,
    }  # fmt: skip


def test_the_cv_goes_by_url_on_the_prospect_application_the_create_made(destination, sandbox):
    vendor = sandbox.state.vendors.greenhouse
    result = deliver(destination, [record(sandbox, 0)])
    [candidate] = vendor.by_email("c0@example.com")
    cid = str(candidate["id"])
    [application] = [a for a in vendor.applications.values() if str(a["candidate_id"]) == cid]
    assert application["prospect"] is True and application["job_id"] is None  # no job: the talent pool
    [file] = vendor.files[cid]
    assert file["application_id"] == application["id"] and file["type"] == "resume"
    assert file["url"] == f"{sandbox.url}/files/k0/original-v1.pdf"  # HrFlow's public_url: Greenhouse fetched it
    assert file["name"] == cv_file_name("k0", record(sandbox, 0)["resume"]) and MARKER in file["data"]
    assert result["cvs"] == 1 and vendor.requests["GET /v3/applications"] == 0  # the create's answer sufficed


def test_each_job_is_an_application_and_an_unknown_job_is_counted(destination, sandbox):
    vendor = sandbox.state.vendors.greenhouse
    result = deliver(destination, [record(sandbox, 0, ("job-1", "job-2", "job-9"))])
    assert result["accepted"] == [["k0", "src"]] and result["unknown_jobs"] == ["job-9"]
    assert vendor.jobs_by_email() == {"c0@example.com": ["job-1", "job-2"]}
    # a second run applies to nothing again and sends the CV no more
    again = deliver(destination, [record(sandbox, 0, ("job-1", "job-2", "job-9"))])
    assert again.get("applications", 0) == 0 and again.get("cvs", 0) == 0
    assert vendor.requests["POST /v3/applications"] == 3 and vendor.requests["POST /v3/attachments"] == 1


def test_a_cv_upload_whose_answer_was_lost_is_adopted_from_the_attachment_list(destination, sandbox):
    vendor = sandbox.state.vendors.greenhouse
    destination.client.find("nobody@example.com")  # a valid token first (a 401 would spend the fault)
    sandbox.state.faults.append(Fault(path="/greenhouse/v3/attachments", method="POST", lose_response=True))
    result = deliver(destination, [record(sandbox, 0)])
    assert result["accepted"] == [["k0", "src"]] and result["cvs"] == 1
    assert vendor.cvs_by_email() == {"c0@example.com": 1}  # listed by its name: adopted, not sent twice
    assert vendor.requests["GET /v3/attachments"] == 1


def test_an_unreachable_cv_is_isolated_and_the_candidate_stays(destination, sandbox):
    vendor = sandbox.state.vendors.greenhouse
    sandbox.state.cv_files.missing.add("k0")
    result = deliver(destination, [record(sandbox, 0, ("job-1",))])
    assert result["accepted"] == [["k0", "src"]] and vendor.jobs_by_email() == {"c0@example.com": ["job-1"]}
    assert vendor.requests["POST /v3/attachments"] == 0 and vendor.files == {}
    [isolated] = result["cv_isolated"]
    assert isolated["key"] == "k0" and "404" in isolated["reason"]


def test_custom_fields_go_by_name_key_and_an_unknown_target_is_named(destination, sandbox):
    vendor = sandbox.state.vendors.greenhouse
    destination.check_field_map({"custom:salary_expectation": "info.x", "first_name": "info.first_name"})
    with pytest.raises(BadConfigError, match=r"'custom:shoe_size' targets custom field 'shoe_size'"):
        destination.check_field_map({"custom:shoe_size": "info.x"})
    deliver(destination, [record(sandbox, 0, **{"custom:salary_expectation": "60k", "custom:hrflow_score": 0.9})])
    [candidate] = vendor.by_email("c0@example.com")
    assert vendor.custom_values[str(candidate["id"])] == {"salary_expectation": "60k", "hrflow_score": 0.9}


def test_a_credential_without_the_attachments_scope_stops_naming_it(destination, sandbox):
    sandbox.state.vendors.greenhouse.scopes.discard("harvest:attachments:create")
    with pytest.raises(AtsAuthError, match=r"lacks the scope harvest:attachments:create"):
        deliver(destination, [record(sandbox, 0)])


def test_the_candidate_page_is_greenhouse_s_people_url(destination):
    assert destination.client.record_url("greenhouse:4000001") == "https://app.greenhouse.io/people/4000001"


def test_after_a_lost_create_answer_the_cv_goes_on_the_application_listed(destination, sandbox):
    vendor = sandbox.state.vendors.greenhouse
    destination.client.find("nobody@example.com")  # a valid token first (a 401 would spend the fault)
    sandbox.state.faults.append(Fault(path="/greenhouse/v3/candidates", method="POST", lose_response=True))
    result = deliver(destination, [record(sandbox, 0)])
    assert result["accepted"] == [["k0", "src"]] and vendor.creates == 1  # adopted, not created twice
    [candidate] = vendor.by_email("c0@example.com")
    [application] = [a for a in vendor.applications.values() if a["candidate_id"] == candidate["id"]]
    [file] = vendor.files[str(candidate["id"])]
    assert file["application_id"] == application["id"] and vendor.requests["GET /v3/applications"] == 1
