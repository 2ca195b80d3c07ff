"""Teamtailor's whole candidate against its emulator: applications after a lost answer, custom field values."""

from __future__ import annotations

import json

import pytest

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.errors import RefusedError
from hrflow_airflow.hooks.http import RetryPolicy
from hrflow_airflow.ledger import Ledger
from sandbox.state import Fault
from sandbox.teamtailor import connection


@pytest.fixture
def teamtailor(sandbox, monkeypatch, tmp_path):
    """Point ats_default at the Teamtailor emulator; return its destination (a ledger of the test's own)."""
    ledger = {"conn_type": "sqlite", "host": str(tmp_path / "ledger.db")}
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps(ledger))
    monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps(connection(sandbox.url)))
    destination = destination_for("ats_default", "profile")
    destination.client.retry = RetryPolicy(attempts=3, backoff=0.01)
    return destination


def record(i: int, jobs: tuple[str, ...] = (), **fields) -> dict:
    applications = [{"board_key": "b", "job_reference": job, "ats_job_id": job} for job in jobs]
    return {"hrflow_key": f"k{i}", "first-name": f"F{i}", "last-name": f"L{i}", "email": f"c{i}@example.com",
            "resume": None, "applications": applications, **fields}  # fmt: skip


def deliver(destination, records: list[dict]) -> dict:
    items = [[r["hrflow_key"], "src"] for r in records]
    return destination.deliver(plural="profiles", index=0, items=items, records=records, ledger=Ledger())


def test_an_application_whose_answer_was_lost_is_adopted_from_the_candidates_list(teamtailor, sandbox):
    sandbox.state.faults.append(Fault(path="/teamtailor/v1/job-applications", method="POST", lose_response=True))
    result = deliver(teamtailor, [record(0, ("job-1", "job-2"))])
    assert [k for k, _ in result["accepted"]] == ["k0"]
    assert sandbox.state.vendors.teamtailor.jobs_by_email() == {"c0@example.com": ["job-1", "job-2"]}
    deliver(teamtailor, [record(0, ("job-1", "job-2"))])  # a later run: adopted, not applied again
    assert sandbox.state.vendors.teamtailor.jobs_by_email() == {"c0@example.com": ["job-1", "job-2"]}
    assert sandbox.state.vendors.teamtailor.requests["POST /v1/job-applications"] == 2


def test_a_job_the_company_lacks_is_told_from_other_refusals(teamtailor, sandbox):
    client = teamtailor.client
    remote = deliver(teamtailor, [record(0)])["remote_ids"]["k0"].split(":", 1)[1]
    method, path, payload = client.apply_request(remote, "job-404")
    with pytest.raises(RefusedError) as refused:
        client.request(method, path, json=payload, safe_to_repeat=False)
    assert refused.value.status == 422 and client.unknown_job(refused.value)
    client.request(*client.apply_request(remote, "job-1")[:2], json=client.apply_request(remote, "job-1")[2])
    with pytest.raises(RefusedError) as twice:  # a second application to one job: refused, but the job exists
        client.request(*client.apply_request(remote, "job-1")[:2], json=client.apply_request(remote, "job-1")[2])
    assert twice.value.status == 422 and not client.unknown_job(twice.value)


def test_custom_field_values_are_created_with_the_candidate_and_changed_in_place_by_an_update(teamtailor, sandbox):
    client = teamtailor.client
    assert client.custom_field_names(client.request("GET", client.custom_fields_request()).json()) == {
        "salary_expectation",
        "hrflow_score",
    }
    first = record(0, **{"custom:salary_expectation": "55k", "custom:hrflow_score": 82})
    remote = deliver(teamtailor, [first])["remote_ids"]["k0"]
    account = sandbox.state.vendors.teamtailor
    candidate = remote.split(":", 1)[1]
    assert account.custom_values[candidate] == {"salary_expectation": "55k", "hrflow_score": 82}
    client.update(remote, {**first, "custom:hrflow_score": 90})
    assert account.custom_values[candidate] == {"salary_expectation": "55k", "hrflow_score": 90}
    assert account.requests["POST /v1/custom-field-values"] == 2  # the update changed them in place
    assert account.requests["PATCH /v1/custom-field-values/" + f"{candidate}-2"] == 1
