"""
The destination contract: ONE suite every destination runs against its sandbox emulator, over HTTP.

Each entry in :data:`EMULATORS` says how to reach one destination and how to read what its emulator holds. Adding
an ATS means adding its adapter, its emulator and one entry here (docs/destinations.md, "Add an ATS"). The JSON
endpoint runs as most real receivers behave: it ignores ``Idempotency-Key``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.hooks.http import RetryPolicy
from hrflow_airflow.ledger import Ledger
from sandbox import greenhouse, lever, teamtailor
from sandbox.objects import ATS_API_KEY
from sandbox.state import Fault
from sandbox.vendors import (
    SMARTRECRUITERS_TOKEN,
    WORKABLE_OAUTH_TOKEN,
    smartrecruiters_connection,
    workable_connection,
)


@dataclass(frozen=True)
class Emulator:
    """One destination under contract: its connection, its create path, its record fields and what it holds."""

    name: str
    connection: Callable[[str], dict[str, Any]]
    create_path: str  # sandbox path prefix of a create
    secret: str  # the credential that must never be logged
    fields: Callable[[int], dict[str, Any]]  # a valid record of profile i (without hrflow_key)
    bad_email: str  # the record field an emulator refuses when it holds no email
    held: Callable[[Any], dict[str, int]]  # emulator state -> {email: candidates with it}
    updated: Callable[[Any], int]  # emulator state -> updates applied
    # the JSON wire format's own contract: a lost answer is sent again under the same Idempotency-Key, which
    # the endpoint must replay (docs/destinations.md); vendor APIs have no key: the ledger and a lookup do it
    key_replayed: bool = False
    removal: str = "delete"  # the removal its API documents ("archive" where it has no delete)
    unsupported: str | None = "archive"  # the one it lacks (None: it has both)


def json_held(state) -> dict[str, int]:
    area = state.ats_area("profiles")
    emails: dict[str, int] = {}
    for body in area.bodies:
        for r in body.get("profiles", []):
            emails[r["email"]] = emails.get(r["email"], 0) + 1
    return emails


def vendor_held(name: str) -> Callable[[Any], dict[str, int]]:
    def held(state) -> dict[str, int]:
        emails: dict[str, int] = {}
        account = getattr(state.vendors, name)
        for candidate in account.candidates.values():
            email = account.email(candidate)
            emails[email] = emails.get(email, 0) + 1
        return emails

    return held


EMULATORS = [
    Emulator(
        "json",
        lambda url: {
            "conn_type": "hrflow_ats",
            "host": f"{url}/ats/profiles",
            "password": ATS_API_KEY,
            "extra": {"timeout": 5},
        },  # fmt: skip
        "/ats/profiles",
        ATS_API_KEY,
        lambda i: {"first_name": f"F{i}", "last_name": f"L{i}", "email": f"c{i}@example.com"},
        "email",
        json_held,
        lambda state: sum(state.ats_area("profiles").updates.values()),
        key_replayed=True,
        unsupported=None,
    ),
    Emulator(
        "smartrecruiters",
        smartrecruiters_connection,
        "/smartrecruiters/candidates",
        SMARTRECRUITERS_TOKEN,
        lambda i: {"firstName": f"F{i}", "lastName": f"L{i}", "email": f"c{i}@example.com"},
        "email",
        vendor_held("smartrecruiters"),
        lambda state: sum(state.vendors.smartrecruiters.updates.values()),
    ),
    Emulator(
        "workable",
        lambda url: workable_connection(url, oauth=True, member_id="13e0eb0e"),
        "/workable/spi/v3/talent_pool/candidates",
        WORKABLE_OAUTH_TOKEN,
        lambda i: {"firstname": f"F{i}", "lastname": f"L{i}", "email": f"c{i}@example.com"},
        "email",
        vendor_held("workable"),
        lambda state: sum(state.vendors.workable.updates.values()),
        removal="archive",
        unsupported="delete",
    ),
    Emulator(
        "greenhouse",
        greenhouse.connection,
        "/greenhouse/v3/candidates",
        greenhouse.CLIENT_SECRET,
        lambda i: {"first_name": f"F{i}", "last_name": f"L{i}", "email": f"c{i}@example.com"},
        "email",
        vendor_held("greenhouse"),
        lambda state: sum(state.vendors.greenhouse.updates.values()),
    ),
    Emulator(
        "lever",
        lever.connection,
        "/lever/v1/opportunities",
        lever.API_KEY,
        lambda i: {"name": f"F{i} L{i}", "email": f"c{i}@example.com"},
        "email",
        vendor_held("lever"),
        lambda state: sum(state.vendors.lever.updates.values()),
        removal="archive",
        unsupported="delete",
    ),
    Emulator(
        "teamtailor",
        teamtailor.connection,
        "/teamtailor/v1/candidates",
        teamtailor.API_KEY,
        lambda i: {"first-name": f"F{i}", "last-name": f"L{i}", "email": f"c{i}@example.com"},
        "email",
        vendor_held("teamtailor"),
        lambda state: sum(state.vendors.teamtailor.updates.values()),
    ),
]


@pytest.fixture(params=EMULATORS, ids=lambda e: e.name)
def ats(request, sandbox, monkeypatch, tmp_path):
    """The destination under contract, on ``ats_default``, with a ledger of this test's own."""
    emulator: Emulator = request.param
    sandbox.state.honour_idempotency = False
    monkeypatch.setenv(
        "AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")})
    )
    monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps(emulator.connection(sandbox.url)))
    return emulator


def destination():
    dest = destination_for("ats_default", "profile")
    dest.client.retry = RetryPolicy(backoff=0.01, max_delay=1.0)
    return dest


def batch(emulator: Emulator, indexes: range, **changes: dict[str, Any]) -> tuple[list[list[str]], list[dict]]:
    items = [[f"k{i}", "src"] for i in indexes]
    records = [{"hrflow_key": f"k{i}", **emulator.fields(i), **changes.get(f"k{i}", {})} for i in indexes]
    return items, records


def deliver(items, records) -> dict:
    return destination().deliver(plural="profiles", index=0, items=items, records=records, ledger=Ledger())


def test_create(ats, sandbox):
    items, records = batch(ats, range(3))
    result = deliver(items, records)
    assert sorted(k for k, _ in result["accepted"]) == ["k0", "k1", "k2"] and result["rejected"] == []
    assert ats.held(sandbox.state) == {f"c{i}@example.com": 1 for i in range(3)}
    again = deliver(items, records)  # a retry or a later run: the ledger says they are there
    assert again["resumed"] == 3 and ats.held(sandbox.state) == {f"c{i}@example.com": 1 for i in range(3)}


def lost_answers_need(ats: Emulator, sandbox) -> None:
    """Let the JSON endpoint replay a repeated key, as its wire format requires; vendors get no help."""
    sandbox.state.honour_idempotency = ats.key_replayed


def test_a_lost_create_answer_is_adopted_without_a_second_candidate(ats, sandbox):
    lost_answers_need(ats, sandbox)
    sandbox.state.faults.append(Fault(path=ats.create_path, method="POST", lose_response=True))
    items, records = batch(ats, range(2))
    result = deliver(items, records)
    assert sorted(k for k, _ in result["accepted"]) == ["k0", "k1"]
    assert ats.held(sandbox.state) == {"c0@example.com": 1, "c1@example.com": 1}
    assert sandbox.state.ats_area("profiles").replays == (1 if ats.key_replayed else 0)


@pytest.mark.parametrize("retry_after", [0.2, None], ids=["with-retry-after", "without-retry-after"])
def test_429_is_waited_for_and_sent_once(ats, sandbox, retry_after):
    sandbox.state.faults.append(Fault(path=ats.create_path, method="POST", status=429, retry_after=retry_after))
    items, records = batch(ats, range(1))
    result = deliver(items, records)
    assert result["accepted"] == [["k0", "src"]]
    assert ats.held(sandbox.state) == {"c0@example.com": 1}


def test_a_5xx_after_the_ats_applied_the_write_makes_no_second_candidate(ats, sandbox):
    lost_answers_need(ats, sandbox)
    sandbox.state.faults.append(Fault(path=ats.create_path, method="POST", applied_status=502))
    items, records = batch(ats, range(2))
    result = deliver(items, records)
    assert sorted(k for k, _ in result["accepted"]) == ["k0", "k1"]
    assert ats.held(sandbox.state) == {"c0@example.com": 1, "c1@example.com": 1}


def test_one_refused_record_is_isolated(ats, sandbox):
    items, records = batch(ats, range(4), k2={ats.bad_email: "not-an-email"})
    result = deliver(items, records)
    assert sorted(k for k, _ in result["accepted"]) == ["k0", "k1", "k3"]
    assert [f["key"] for f in result["rejected"]] == ["k2"]
    assert ats.held(sandbox.state) == {f"c{i}@example.com": 1 for i in (0, 1, 3)}


def test_update(ats, sandbox):
    items, records = batch(ats, range(2))
    result = deliver(items, records)
    remote = result["remote_ids"] or {k: "" for k, _ in items}
    changed = batch(ats, range(2), k1={ats.bad_email: "new1@example.com"})[1]
    updated = destination().update_batch(
        plural="profiles", index=0, items=items[1:], records=changed[1:], remote_ids=remote, bases={"k1": "h"}
    )
    assert updated["accepted"] == [["k1", "src"]] and updated["rejected"] == []
    assert ats.updated(sandbox.state) == 1
    assert sum(ats.held(sandbox.state).values()) == 2  # an update creates nothing


def test_the_token_is_never_logged(ats, sandbox, caplog):
    sandbox.state.faults.append(Fault(path=ats.create_path, method="POST", status=503, times=2, retry_after=0))
    with caplog.at_level(logging.DEBUG):
        items, records = batch(ats, range(2))
        deliver(items, records)
        destination().client.test_connection()
    assert caplog.records and ats.secret not in caplog.text


def removed_at(state, emulator: Emulator) -> int:
    """Return how many candidates (JSON: records) the emulator archived or deleted."""
    if emulator.name == "json":
        return len(state.ats_area("profiles").removed_how)
    return len(getattr(state.vendors, emulator.name).removed)


def test_removal_once_again_is_done_and_a_missing_action_is_reported(ats, sandbox):
    items, records = batch(ats, range(3))
    remote = deliver(items, records)["remote_ids"]
    dest, ledger = destination(), Ledger()
    first = dest.remove(plural="profiles", items=items[:2], remote_ids=remote, mode=ats.removal, ledger=ledger)
    assert sorted(k for k, _, _ in first["removed"]) == ["k0", "k1"] and first["failed"] == first["unsupported"] == []
    assert removed_at(sandbox.state, ats) == 2
    assert {e.state for e in ledger.deliveries.lookup(dest.ledger_key, ["k0", "k1"]).values()} == {"removed"}
    again = dest.remove(plural="profiles", items=items[:2], remote_ids=remote, mode=ats.removal, ledger=ledger)
    assert again["failed"] == [] and len(again["removed"]) == 2  # a 404 (deleted already) is done, not failed
    if ats.removal == "delete" and ats.name != "json":
        assert {how for _, _, how in again["removed"]} == {"gone"}
    if ats.unsupported:
        other = dest.remove(plural="profiles", items=items[2:], remote_ids=remote, mode=ats.unsupported, ledger=ledger)
        assert other["removed"] == [] and [f["key"] for f in other["unsupported"]] == ["k2"]
        assert removed_at(sandbox.state, ats) == 2 and sum(ats.held(sandbox.state).values()) >= 1
