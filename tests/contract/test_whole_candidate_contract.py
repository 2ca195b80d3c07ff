"""
The whole candidate's contract: every destination gets each candidate's CV once, and each application once, in
process against its sandbox emulator over HTTP (the same entries as tests/contract/test_destination_contract.py).

What a destination holds is read from its emulator: the CV files (or URLs) and the jobs applied to, per email,
over every record of that email (a vendor that makes one record per job holds several).
"""

from __future__ import annotations

from typing import Any

import pytest

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.hooks.http import RetryPolicy
from hrflow_airflow.ledger import Ledger
from sandbox.files import MARKER
from tests.contract.test_destination_contract import Emulator, ats, batch, removed_at

__all__ = ["ats"]  # the main contract's fixture: each destination, with a ledger of the test's own


def destination():
    dest = destination_for("ats_default", "profile")
    if hasattr(dest, "client"):
        dest.client.retry = RetryPolicy(backoff=0.01, max_delay=1.0)
    return dest


def cv(sandbox, key: str, version: int = 1) -> dict[str, Any]:
    """Return the ``resume`` part of a record whose file the sandbox serves."""
    return {
        "url": f"{sandbox.url}/files/{key}/original-v{version}.pdf",
        "file_name": "cv-original.pdf",
        "content_type": "application/pdf",
        "size": 3000,
        "fingerprint": f"alt-{key}-{version}@2026-01-0{version}T00:00:00+0000",
    }


def applied(*references: str) -> list[dict[str, str]]:
    return [{"board_key": "board", "job_reference": ref, "ats_job_id": ref} for ref in references]


def whole(ats: Emulator, sandbox, indexes: range, jobs: dict[str, list[str]] | None = None, version: int = 1):
    """Return a batch whose records carry their CV and their jobs (``jobs``: key -> references)."""
    changes = {
        f"k{i}": {"resume": cv(sandbox, f"k{i}", version), "applications": applied(*(jobs or {}).get(f"k{i}", []))}
        for i in indexes
    }
    return batch(ats, indexes, **changes)


def deliver(items, records) -> dict:
    return destination().deliver(plural="profiles", index=0, items=items, records=records, ledger=Ledger())


def update(items, records, remote_ids) -> dict:
    bases = {key: "h" for key, _ in items}
    return destination().update_batch(
        plural="profiles", index=0, items=items, records=records, remote_ids=remote_ids, bases=bases
    )


def held_cvs(ats: Emulator, state) -> dict[str, int]:
    """Return how many CVs the destination holds per email (the JSON endpoint: records carrying one)."""
    if ats.name == "json":
        records = state.ats_area("profiles").current.values()
        return {str(r["email"]): 1 for r in records if r.get("resume")}
    return ats.account(state).cvs_by_email()


def held_jobs(ats: Emulator, state) -> dict[str, list[str]]:
    """Return the jobs applied to per email."""
    if ats.name == "json":
        records = state.ats_area("profiles").current.values()
        return {
            str(r["email"]): sorted(a["ats_job_id"] for a in r["applications"])
            for r in records
            if r.get("applications")
        }
    return ats.account(state).jobs_by_email()


def uploaded_bytes(ats: Emulator, state) -> list[bytes]:
    """Return the file bytes the destination received (empty where it takes URLs)."""
    if ats.name == "json":
        return []
    return [f["data"] for files in ats.account(state).files.values() for f in files if f.get("data")]


def test_each_candidate_gets_its_cv_once(ats, sandbox):
    items, records = whole(ats, sandbox, range(3))
    result = deliver(items, records)
    assert sorted(k for k, _ in result["accepted"]) == ["k0", "k1", "k2"] and not result.get("cv_isolated")
    assert held_cvs(ats, sandbox.state) == {f"c{i}@example.com": 1 for i in range(3)}
    for data in uploaded_bytes(ats, sandbox.state):  # the bytes, whole: the sandbox's file with its key
        assert MARKER in data and data.endswith(b"%%EOF\n")
    again = deliver(items, records)  # a retry, a later run: nothing sent again
    assert again["resumed"] == 3
    assert held_cvs(ats, sandbox.state) == {f"c{i}@example.com": 1 for i in range(3)}


def test_an_unchanged_cv_is_not_sent_again_by_an_update_and_a_replaced_one_is_sent_once(ats, sandbox):
    items, records = whole(ats, sandbox, range(2))
    remote = deliver(items, records)["remote_ids"] or {k: "" for k, _ in items}
    phone = [{**record, "email": record["email"]} for record in records]  # the same CV
    assert update(items, phone, remote)["rejected"] == []
    assert held_cvs(ats, sandbox.state) == {"c0@example.com": 1, "c1@example.com": 1}
    replaced = whole(ats, sandbox, range(2), version=2)[1]
    assert update(items[:1], replaced[:1], remote)["rejected"] == []
    expected = (
        {"c0@example.com": 2, "c1@example.com": 1} if ats.name != "json" else {"c0@example.com": 1, "c1@example.com": 1}
    )
    assert held_cvs(ats, sandbox.state) == expected
    if ats.name == "json":
        assert sandbox.state.ats_area("profiles").current["k0"]["resume"]["url"].endswith("original-v2.pdf")
    update(items[:1], replaced[:1], remote)  # the same replaced file again: not sent again
    assert held_cvs(ats, sandbox.state) == expected


def test_an_unreachable_cv_is_isolated_and_the_candidate_created_then_sent_by_a_later_run(ats, sandbox):
    sandbox.state.cv_files.missing.add("k1")
    items, records = whole(ats, sandbox, range(2))
    result = deliver(items, records)
    assert sorted(k for k, _ in result["accepted"]) == ["k0", "k1"]
    isolated = result.get("cv_isolated") or []
    assert [f["key"] for f in isolated] == ["k1"] and "HTTP 404" in isolated[0]["reason"]
    assert held_cvs(ats, sandbox.state) == {"c0@example.com": 1}
    sandbox.state.cv_files.missing.clear()
    remote = result["remote_ids"] or {"k1": ""}
    again = update(items[1:], records[1:], remote)  # a later run: the CV follows (Parts.to_retry re-reads it)
    assert again["rejected"] == [] and not again.get("cv_isolated")
    assert held_cvs(ats, sandbox.state) == {"c0@example.com": 1, "c1@example.com": 1}


def test_a_cv_over_the_cap_is_refused_with_a_clear_reason(ats, sandbox):
    sandbox.state.cv_files.sizes["k0"] = 15_000_000
    items, records = whole(ats, sandbox, range(1))
    result = deliver(items, records)
    assert result["accepted"] == [["k0", "src"]]
    (isolated,) = result["cv_isolated"]
    assert "over the cap of 10 MB" in isolated["reason"] and "max_cv_mb" in isolated["reason"]
    assert held_cvs(ats, sandbox.state) == {}


def test_applications_land_on_their_jobs_once(ats, sandbox):
    jobs = {"k0": ["job-1"], "k1": ["job-1", "job-2"]}
    items, records = whole(ats, sandbox, range(3), jobs)
    result = deliver(items, records)
    assert sorted(k for k, _ in result["accepted"]) == ["k0", "k1", "k2"]
    expected = {"c0@example.com": ["job-1"], "c1@example.com": ["job-1", "job-2"]}
    assert held_jobs(ats, sandbox.state) == expected
    deliver(items, records)
    assert held_jobs(ats, sandbox.state) == expected


def test_an_application_tag_added_later_adds_that_application_once(ats, sandbox):
    items, records = whole(ats, sandbox, range(1), {"k0": ["job-1"]})
    remote = deliver(items, records)["remote_ids"] or {"k0": ""}
    later = whole(ats, sandbox, range(1), {"k0": ["job-1", "job-3"]})[1]
    assert update(items, later, remote)["rejected"] == []
    assert held_jobs(ats, sandbox.state) == {"c0@example.com": ["job-1", "job-3"]}
    update(items, later, remote)
    assert held_jobs(ats, sandbox.state) == {"c0@example.com": ["job-1", "job-3"]}


def test_a_job_the_ats_does_not_know_is_counted_and_the_candidate_created(ats, sandbox):
    if ats.name == "json":
        pytest.skip("the JSON endpoint takes the applications as they are: it has no job listing to check")
    items, records = whole(ats, sandbox, range(2), {"k0": ["job-404"], "k1": ["job-1"]})
    result = deliver(items, records)
    assert sorted(k for k, _ in result["accepted"]) == ["k0", "k1"]
    assert result["unknown_jobs"] == ["job-404"]
    assert held_jobs(ats, sandbox.state) == {"c1@example.com": ["job-1"]}
    assert set(ats.held(sandbox.state)) == {"c0@example.com", "c1@example.com"}


def test_custom_fields_are_filled_and_an_unknown_target_is_named_before_anything_is_sent(ats, sandbox):
    dest = destination()
    client = getattr(dest, "client", None)
    if ats.name != "json" and not getattr(client, "custom_fields", False):
        pytest.skip(f"{ats.name}: no custom fields documented for candidates")
    if ats.name != "json":
        with pytest.raises(BadConfigError, match="'custom:nope'.*'nope'"):
            dest.check_field_map({"email": "info.email", "custom:nope": "info.summary"})
        assert not sandbox.state.vendors.snapshot()[ats.name]["creates"]
    dest.check_field_map({"email": "info.email", "custom:salary_expectation": "info.summary"})
    items, records = batch(ats, range(1), k0={"custom:salary_expectation": "60k"})
    assert deliver(items, records)["accepted"] == [["k0", "src"]]
    if ats.name == "json":
        assert sandbox.state.ats_area("profiles").current["k0"]["custom:salary_expectation"] == "60k"
    else:
        values = list(ats.account(sandbox.state).custom_values.values())
        assert [v.get("salary_expectation") for v in values] == ["60k"]


def test_a_removed_application_tag_leaves_the_application_and_is_listed(ats, sandbox):
    items, records = whole(ats, sandbox, range(1), {"k0": ["job-1", "job-2"]})
    remote = deliver(items, records)["remote_ids"] or {"k0": ""}
    fewer = whole(ats, sandbox, range(1), {"k0": ["job-1"]})[1]
    result = update(items, fewer, remote)
    assert result["rejected"] == []
    if ats.name != "json":  # the endpoint gets the record as it is now: what it keeps is its own choice
        assert result["left_applications"] == [["k0", "job-2"]]
        assert held_jobs(ats, sandbox.state) == {"c0@example.com": ["job-1", "job-2"]}  # the recruiter decides
        assert update(items, fewer, remote).get("left_applications") == []  # listed once


def records_by_job(ats: Emulator, state) -> dict[str, str]:
    """Return the id of the record applied to each job (a vendor making one record per job: one job each)."""
    applied = ats.account(state).applied
    assert all(len(jobs) == 1 for jobs in applied.values())
    return {jobs[0]: record for record, jobs in applied.items()}


def test_each_per_job_record_is_updated_and_removed(ats, sandbox):
    """Where the vendor makes one record per job, updates and removal apply to each (issue 47, "One record per job")."""
    if ats.name == "json" or not destination().client.one_record_per_job:
        pytest.skip(f"{ats.name} takes every application on the candidate's one record")
    items, records = whole(ats, sandbox, range(1), {"k0": ["job-1", "job-2"]})
    remote = deliver(items, records)["remote_ids"]
    assert ats.held(sandbox.state) == {"c0@example.com": 2}  # two records, one per job
    per_job = records_by_job(ats, sandbox.state)
    assert sorted(per_job) == ["job-1", "job-2"] and len(set(per_job.values())) == 2
    edited = batch(ats, range(1), k0={ats.bad_email: "new0@example.com"})[1]
    edited[0].update({"resume": records[0]["resume"], "applications": records[0]["applications"]})
    assert update(items, edited, remote)["rejected"] == []
    account = ats.account(sandbox.state)
    assert {job: account.email(account.candidates[rid]) for job, rid in per_job.items()} == {
        "job-1": "new0@example.com",
        "job-2": "new0@example.com",
    }  # both records show the new value
    dest, ledger = destination(), Ledger()
    removed = dest.remove(plural="profiles", items=items, remote_ids=remote, mode=ats.removal, ledger=ledger)
    assert [k for k, _, _ in removed["removed"]] == ["k0"] and removed["failed"] == []
    assert account.removed == {rid: ats.removal for rid in per_job.values()}  # both records, and nothing else
    assert removed_at(sandbox.state, ats) == 2


def test_a_replaced_cv_reaches_each_per_job_record_once(ats, sandbox):
    """Where the vendor makes one record per job, each record holds the candidate's CV, a replaced one too, once."""
    if ats.name == "json" or not destination().client.one_record_per_job:
        pytest.skip(f"{ats.name} takes every application on the candidate's one record")
    items, records = whole(ats, sandbox, range(1), {"k0": ["job-1", "job-2"]})
    remote = deliver(items, records)["remote_ids"]
    per_job = records_by_job(ats, sandbox.state)
    files = ats.account(sandbox.state).files
    assert {job: len(files.get(rid, [])) for job, rid in per_job.items()} == {"job-1": 1, "job-2": 1}
    replaced = whole(ats, sandbox, range(1), {"k0": ["job-1", "job-2"]}, version=2)[1]
    for _ in range(2):  # the same replaced file again: not sent again
        assert update(items, replaced, remote)["rejected"] == []
        assert {job: len(files.get(rid, [])) for job, rid in per_job.items()} == {"job-1": 2, "job-2": 2}
