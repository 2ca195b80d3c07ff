"""Workable's whole candidate against its emulator: where a candidate goes without a job, custom attributes."""

from __future__ import annotations

import json
import logging

import pytest

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.hooks.http import RetryPolicy
from hrflow_airflow.ledger import Ledger
from sandbox.workable import WORKABLE_JOB, workable_connection


@pytest.fixture
def workable(sandbox, monkeypatch, tmp_path):
    """Return a function pointing ats_default at the Workable emulator (with ``extra``), returning the destination."""
    ledger = {"conn_type": "sqlite", "host": str(tmp_path / "ledger.db")}
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps(ledger))

    def configure(**extra):
        monkeypatch.setenv(
            "AIRFLOW_CONN_ATS_DEFAULT", json.dumps(workable_connection(sandbox.url, oauth=True, **extra))
        )
        destination = destination_for("ats_default", "profile")
        destination.client.retry = RetryPolicy(attempts=3, backoff=0.01)
        return destination

    return configure


def record(i: int, jobs: tuple[str, ...] = (), **fields) -> dict:
    applications = [{"board_key": "b", "job_reference": job, "ats_job_id": job} for job in jobs]
    return {"hrflow_key": f"k{i}", "firstname": f"F{i}", "lastname": f"L{i}", "email": f"c{i}@example.com",
            "resume": None, "applications": applications, **fields}  # fmt: skip


def deliver(destination, records: list[dict]) -> dict:
    items = [[r["hrflow_key"], "src"] for r in records]
    return destination.deliver(plural="profiles", index=0, items=items, records=records, ledger=Ledger())


def test_a_profile_without_a_job_follows_the_connections_job_and_an_unknown_job_falls_back_to_it(workable, sandbox):
    result = deliver(workable(job_shortcode=WORKABLE_JOB), [record(0), record(1, ("job-404",)), record(2, ("job-2",))])
    assert sorted(k for k, _ in result["accepted"]) == ["k0", "k1", "k2"] and result["unknown_jobs"] == ["job-404"]
    account = sandbox.state.vendors.workable
    jobs = {c["email"]: (c["job"] or {}).get("shortcode") for c in account.candidates.values()}
    assert jobs == {"c0@example.com": WORKABLE_JOB, "c1@example.com": WORKABLE_JOB, "c2@example.com": "job-2"}


def test_the_cv_url_rides_in_the_create_and_the_candidate_record(workable, sandbox):
    resume = {"url": f"{sandbox.url}/files/k0/original-v1.pdf", "file_name": "cv.pdf", "fingerprint": "a@1"}
    client = workable().client
    _, payload = client.create_call(record(0, resume=resume))
    assert payload["candidate"]["resume_url"] == resume["url"] and "resume" not in payload["candidate"]
    method, _, patch = client.update_request("x1", client.body(record(0, resume=resume)))
    assert method == "PATCH" and patch["candidate"]["resume_url"] == resume["url"]


def test_custom_attributes_are_listed_and_set_after_the_create_and_each_update(workable, sandbox):
    destination = workable()
    client = destination.client
    listed = client.custom_field_names(client.request("GET", client.custom_fields_request()).json())
    assert listed == {"salary_expectation", "hrflow_score"}
    first = record(0, **{"custom:salary_expectation": "55k", "custom:hrflow_score": 0.82})
    remote = deliver(destination, [first])["remote_ids"]["k0"]
    account = sandbox.state.vendors.workable
    candidate_id = remote.split(":", 1)[1]
    assert account.custom_values[candidate_id] == {"salary_expectation": "55k", "hrflow_score": "0.82"}
    client.update(remote, {**first, "custom:hrflow_score": 0.9})
    assert account.custom_values[candidate_id]["hrflow_score"] == "0.9"
    ((_, _, checkbox),) = client.custom_requests(candidate_id, {"consent": True})
    assert checkbox == {"custom_attribute_key": "consent", "checked": True}  # a boolean attribute is "checked"


def test_a_custom_attribute_workable_refuses_leaves_the_candidate_created(workable, sandbox, caplog):
    caplog.set_level(logging.WARNING)
    bad = record(0, **{"custom:hrflow_score": "high", "custom:unknown_key": "x"})
    result = deliver(workable(), [bad])
    assert [k for k, _ in result["accepted"]] == ["k0"]
    assert sandbox.state.vendors.workable.custom_values == {}
    warnings = [r.getMessage() for r in caplog.records if "custom field value" in r.getMessage()]
    assert len(warnings) == 2 and any("422" in w for w in warnings) and any("404" in w for w in warnings)
    assert not any("high" in w for w in warnings)  # the value is never logged
