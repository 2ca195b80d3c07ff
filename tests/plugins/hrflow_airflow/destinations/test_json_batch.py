"""The JSON batch destination against the sandbox's ATS receiver: what a retry finds in the task state store."""

from __future__ import annotations

import json

import pytest

from hrflow_airflow.destinations.json_batch import JsonBatchDestination
from hrflow_airflow.destinations.json_wire import named_refusals
from hrflow_airflow.hooks.api_key import AtsHook
from hrflow_airflow.ledger import Ledger


class Store(dict):
    """The task state store's two calls."""

    def set(self, key, value):
        self[key] = json.loads(json.dumps(value))


@pytest.fixture
def ledger(sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv(
        "AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "ledger.db")})
    )
    return Ledger()


def batch(n: int) -> tuple[list[list[str]], list[dict]]:
    items = [[f"k{i}", "src"] for i in range(n)]
    return items, [
        {"hrflow_key": key, "first_name": f"F{i}", "email": f"c{i}@example.com"} for i, (key, _) in enumerate(items)
    ]


def test_a_retry_after_the_answer_posts_nothing_and_the_stored_answer_stays_small(sandbox, ledger):
    items, records = batch(5000)
    store = Store()
    first = JsonBatchDestination(AtsHook(ats_conn_id="ats_default")).deliver(
        plural="profiles", index=0, items=items, records=records, ledger=ledger, store=store
    )
    assert len(first["accepted"]) == 5000 and sandbox.state.ats_area("profiles").requests == 1
    [value] = store.values()
    assert len(json.dumps(value)) < 100  # Airflow caps a stored value at 64 KB: 5,000 keys would not fit
    ledger.deliveries.forget(
        "ats_default", [key for key, _ in items[:10]]
    )  # whatever the ledger says, the store answers
    again = JsonBatchDestination(AtsHook(ats_conn_id="ats_default")).deliver(
        plural="profiles", index=0, items=items, records=records, ledger=ledger, store=store
    )
    assert again["accepted"] == first["accepted"] and sandbox.state.ats_area("profiles").requests == 1
    assert set(ledger.deliveries.lookup("ats_default", [items[0][0]])) == {items[0][0]}


def test_a_retry_after_a_refusal_reports_the_same_reason_without_posting(sandbox, ledger):
    items, records = batch(3)
    sandbox.state.ats_reject_keys["k1"] = "email is not valid"
    store = Store()
    first = JsonBatchDestination(AtsHook(ats_conn_id="ats_default")).deliver(
        plural="profiles", index=0, items=items, records=records, ledger=ledger, store=store
    )
    again = JsonBatchDestination(AtsHook(ats_conn_id="ats_default")).deliver(
        plural="profiles", index=0, items=items, records=records, ledger=ledger, store=store
    )
    assert again["rejected"] == first["rejected"] and [f["key"] for f in first["rejected"]] == ["k1"]
    assert sorted(again["accepted"]) == sorted(first["accepted"]) == [["k0", "src"], ["k2", "src"]]
    assert "email is not valid" in first["rejected"][0]["reason"]
    # the refused batch (named k1) and the batch without it; the retry posts nothing
    assert sandbox.state.ats_area("profiles").requests == 2
    assert dict(sandbox.state.ats_area("profiles").applied) == {"k0": 1, "k2": 1}


@pytest.mark.parametrize("named", [True, False])
def test_one_refused_record_among_many_is_isolated_and_the_rest_accepted(sandbox, ledger, named):
    """Named in the 4xx body: left out at once. Not named: the batch is halved until it stands alone."""
    sandbox.state.ats_name_refusals = named
    items, records = batch(64)
    sandbox.state.ats_reject_keys["k37"] = "phone is invalid"
    result = JsonBatchDestination(AtsHook(ats_conn_id="ats_default")).deliver(
        plural="profiles", index=0, items=items, records=records, ledger=ledger
    )
    assert [f["key"] for f in result["rejected"]] == ["k37"] and "ATS HTTP 422" in result["rejected"][0]["reason"]
    assert len(result["accepted"]) == 63
    area = sandbox.state.ats_area("profiles")
    assert set(area.applied) == {key for key, _ in items} - {"k37"} and max(area.applied.values()) == 1
    # named: the refused batch, then the rest; bisected: at most 2*log2(64) + 1 requests
    assert area.requests == 2 if named else area.requests <= 13


def test_refusals_named_in_an_answer_are_read_by_key():
    body = {"errors": [{"hrflow_key": "a", "message": "bad email"}, {"hrflow_key": "z", "code": "X"}, "junk"]}
    assert named_refusals(body, ["a", "b"]) == {"a": "bad email"}
    assert named_refusals({"errors": "nope"}, ["a"]) == {} and named_refusals(None, ["a"]) == {}
