"""
A record the destination refuses, over repeated real runs (`airflow dags test`): isolated in its batch,
failing (paging) only when something is new, quarantined after `max_refusals`, released by an edit.
"""

from __future__ import annotations

import json

import pytest

from sandbox.objects import make_key
from sandbox.smartrecruiters import smartrecruiters_connection

DAG_ID = "hrflow_profiles_to_ats"


@pytest.fixture(params=["json", "smartrecruiters"])
def destination(request, sandbox) -> dict[str, str]:
    """The ATS connection: the generic JSON endpoint, or SmartRecruiters (one create per candidate)."""
    if request.param == "json":
        return {}
    return {"AIRFLOW_CONN_ATS_DEFAULT": json.dumps(smartrecruiters_connection(sandbox.url))}


def test_one_refused_record_is_isolated_quarantined_then_released_by_an_edit(run_dag, sandbox, destination, request):
    state = sandbox.state
    source = make_key("source", "refusals", request.node.name)
    keys = state.seed("profile", source, 60, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    bad = keys[17]
    state.update("profile", source, bad, lambda p: p["info"].update(email="not-an-email"))
    env = {**destination, "AIRFLOW__HRFLOW__MAX_REFUSALS": "3"}

    def run():
        result = run_dag(DAG_ID, {"source_keys": [source], "full_sweep": False}, env=env)
        assert result.summary is not None, result.output[-3000:]
        return result

    first = run()  # new: the refusal fails the run (and pages), the 59 others are synced
    assert not first.succeeded
    assert first.summary["tagged"] == 59 and [f["key"] for f in first.summary["failed_keys"]] == [bad]
    assert state.snapshot()["synced"]["profile"] == sorted(set(keys) - {bad})
    assert "not-an-email" not in first.output and "not-an-email" not in json.dumps(first.summary)

    second = run()  # known: retried, refused again, reported; the run succeeds (no page)
    assert second.succeeded, second.output[-3000:]
    assert second.summary["failed"] == 0 and second.summary["refused"] == 1
    assert [f["key"] for f in second.summary["refused_keys"]] == [bad]

    third = run()  # the third refusal of the same record: quarantined, one more page
    assert not third.succeeded
    assert "quarantined after 3 refusals" in third.summary["failed_keys"][0]["reason"]

    sent = state.calls.copy()
    fourth = run()  # quarantined: not sent, reported, the run succeeds
    assert fourth.succeeded, fourth.output[-3000:]
    assert fourth.summary["quarantined"] == 1 and fourth.summary["quarantined_keys"][0]["key"] == bad
    assert {c: n for c, n in state.calls.items() if "ats" in c or "candidates" in c} == {
        c: n for c, n in sent.items() if "ats" in c or "candidates" in c
    }

    state.update("profile", source, bad, lambda p: p["info"].update(email="fixed@example.com"))
    fifth = run()  # its record changed: sent again, accepted, tagged
    assert fifth.succeeded, fifth.output[-3000:]
    assert fifth.summary["tagged"] == 1 and fifth.summary["quarantined"] == 0
    assert state.snapshot()["synced"]["profile"] == sorted(keys)
