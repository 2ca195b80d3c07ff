"""Recruitee's whole candidate against its emulator: default offers or the jobs applied to, placements once."""

from __future__ import annotations

import json

import pytest

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.hooks.http import RetryPolicy
from hrflow_airflow.ledger import Ledger
from sandbox.recruitee import COMPANY_ID, connection
from sandbox.state import Fault


@pytest.fixture
def recruitee(sandbox, monkeypatch, tmp_path):
    """Return a function pointing ats_default at the Recruitee emulator (with ``extra``), returning the destination."""
    ledger = {"conn_type": "sqlite", "host": str(tmp_path / "ledger.db")}
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps(ledger))

    def configure(**extra):
        monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps(connection(sandbox.url, **extra)))
        destination = destination_for("ats_default", "profile")
        destination.client.retry = RetryPolicy(attempts=3, backoff=0.01)
        return destination

    return configure


def record(i: int, jobs: tuple[str, ...] = ()) -> dict:
    applications = [{"board_key": "b", "job_reference": job, "ats_job_id": job} for job in jobs]
    return {"hrflow_key": f"k{i}", "name": f"F{i} L{i}", "email": f"c{i}@example.com", "resume": None,
            "applications": applications}  # fmt: skip


def deliver(destination, records: list[dict]) -> dict:
    items = [[r["hrflow_key"], "src"] for r in records]
    return destination.deliver(plural="profiles", index=0, items=items, records=records, ledger=Ledger())


def test_the_default_offers_take_a_profile_without_an_application_and_only_it(recruitee, sandbox):
    sandbox.state.vendors.recruitee.jobs.add("777")
    result = deliver(recruitee(offers="777"), [record(0), record(1, ("job-2",))])
    assert sorted(k for k, _ in result["accepted"]) == ["k0", "k1"]
    assert sandbox.state.vendors.recruitee.jobs_by_email() == {"c0@example.com": ["777"], "c1@example.com": ["job-2"]}


def test_a_placement_whose_answer_was_lost_is_adopted_from_the_candidate(recruitee, sandbox):
    path = f"/recruitee/c/{COMPANY_ID}/placements"
    sandbox.state.faults.append(Fault(path=path, method="POST", lose_response=True))
    destination = recruitee()
    deliver(destination, [record(0, ("job-1",))])
    deliver(destination, [record(0, ("job-1",))])  # a later run: the placement is listed, not made again
    account = sandbox.state.vendors.recruitee
    assert account.jobs_by_email() == {"c0@example.com": ["job-1"]}
    assert account.requests["POST /placements"] == 1


def test_the_cv_url_rides_in_the_create_and_an_update(recruitee, sandbox):
    client = recruitee().client
    resume = {"url": f"{sandbox.url}/files/k0/original-v1.pdf", "file_name": "cv.pdf", "fingerprint": "a@1"}
    _, payload = client.create_call({**record(0), "resume": resume})
    assert payload["candidate"]["remote_cv_url"] == resume["url"]
    assert client.update_request("1", client.body({**record(0), "resume": resume}))[2]["candidate"]["remote_cv_url"]
