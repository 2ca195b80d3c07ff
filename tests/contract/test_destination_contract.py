"""
The destination contract: ONE suite every destination runs against its sandbox emulator, over HTTP.

Each entry in :data:`EMULATORS` says how to reach one destination and how to read what its emulator holds. A
vendor's entry is built from its sandbox registry entry (``sandbox/registry.py``: connection, create path,
credential, record fields, routes, a record of its own for a person), so adding an ATS adds nothing here
(docs/destinations.md, "Add an ATS"). The JSON endpoint has its own entry; it runs as most real receivers
behave, ignoring ``Idempotency-Key``, except where its wire format requires the replay.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.hooks.http import RetryPolicy
from hrflow_airflow.ledger import Ledger
from sandbox.faults import Fault
from sandbox.objects import ATS_API_KEY
from sandbox.registry import VENDORS, Vendor


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
    # where each operation goes: (method, sandbox path prefix, body marker or None) for faults to match
    update_route: tuple[str, str, str | None] = ("PATCH", "/", None)
    remove_route: tuple[str, str, str | None] = ("DELETE", "/", None)
    lookup_route: tuple[str, str, str | None] | None = ("GET", "/", None)  # None: no lookup (the JSON endpoint)
    # gives the account a record of its own for a person (first, last, email) before the sync: returns its id
    stranger: Callable[..., str] | None = None

    def account(self, state) -> Any:
        """Return the vendor account the emulator keeps (None: the JSON endpoint's receiver)."""
        return getattr(state.vendors, self.name, None) if self.name != "json" else None


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


def vendor_entry(vendor: Vendor) -> Emulator:
    """Return the contract entry of one sandbox vendor: its parameters come from the sandbox registry."""
    return Emulator(
        vendor.name,
        vendor.demo_connection,  # the connection of its short demo: an OAuth token where the vendor has one
        vendor.create_path,
        vendor.secret,
        vendor.fields,
        "email",
        vendor_held(vendor.name),
        lambda state: sum(getattr(state.vendors, vendor.name).updates.values()),
        removal=vendor.removal,
        unsupported=vendor.unsupported,
        update_route=vendor.update_route,
        remove_route=vendor.remove_route,
        lookup_route=vendor.lookup_route,
        stranger=vendor.stranger,
    )


JSON_ENDPOINT = Emulator(
    "json",
    lambda url: {
        "conn_type": "hrflow_ats",
        "host": f"{url}/ats/profiles",
        "password": ATS_API_KEY,
        "extra": {"timeout": 5},
    },
    "/ats/profiles",
    ATS_API_KEY,
    lambda i: {"first_name": f"F{i}", "last_name": f"L{i}", "email": f"c{i}@example.com"},
    "email",
    json_held,
    lambda state: sum(state.ats_area("profiles").updates.values()),
    key_replayed=True,
    unsupported=None,
    update_route=("POST", "/ats/profiles", '"upsert"'),
    remove_route=("POST", "/ats/profiles", '"delete"'),
    lookup_route=None,
)
EMULATORS = [JSON_ENDPOINT, *(vendor_entry(vendor) for vendor in VENDORS)]


@pytest.fixture(params=EMULATORS, ids=lambda e: e.name)
def ats(request, sandbox, monkeypatch, tmp_path):
    """The destination under contract, on ``ats_default``, with a ledger of this test's own."""
    emulator: Emulator = request.param
    sandbox.state.honour_idempotency = False
    monkeypatch.setenv(
        "AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")})
    )
    monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps(emulator.connection(sandbox.url)))
    ok, message = destination().client.test_connection()  # a token an earlier test's account left is renewed here
    assert ok, message
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


def sends(state, method: str, prefix: str) -> list[float]:
    """Return when the emulator received each ``method`` request under ``prefix`` (its request log)."""
    return [at for at, line in list(state.request_log) if line.startswith(f"{method} {prefix}")]


def emails_now(emulator: Emulator, state) -> dict[str, int]:
    """Return the emails the destination holds now, with how many records hold each (updates applied)."""
    if emulator.name == "json":
        return dict(Counter(str(r.get("email")) for r in state.ats_area("profiles").current.values()))
    return emulator.held(state)


@pytest.mark.parametrize("retry_after", [0.2, None], ids=["with-retry-after", "without-retry-after"])
def test_429_is_waited_for_and_sent_once(ats, sandbox, retry_after):
    sandbox.state.faults.append(Fault(path=ats.create_path, method="POST", status=429, retry_after=retry_after))
    items, records = batch(ats, range(1))
    result = deliver(items, records)
    assert result["accepted"] == [["k0", "src"]]
    assert ats.held(sandbox.state) == {"c0@example.com": 1}
    creates = sends(sandbox.state, "POST", ats.create_path)
    assert len(creates) == 2  # the 429 (never processed), then the one create
    if retry_after is not None:  # the retry came after the announced wait, by the emulator's own clock
        assert creates[1] - creates[0] >= retry_after


def test_a_lost_answer_behind_a_lagging_search_is_unknown_until_a_settled_lookup(ats, sandbox, monkeypatch):
    """
    The vendor's search shows a new record only after a lag: a lookup right after the lost answer finds nothing.
    "Not found" then is not "not created": the object stays outcome unknown (the batch does not fail), nothing is
    created again in that run or the next, and a lookup after the lag adopts the record our create made.
    """
    account = ats.account(sandbox.state)
    if account is None:
        pytest.skip("the JSON endpoint has no lookup: a lost answer is resent under its Idempotency-Key")
    monkeypatch.setenv("AIRFLOW__HRFLOW__LOOKUP_SETTLE_SECONDS", "30")  # the vendor's lag is shorter
    account.lookup_lag = 0.5
    sandbox.state.faults.append(Fault(path=ats.create_path, method="POST", lose_response=True, match_key="c0@"))
    items, records = batch(ats, range(2))
    first = deliver(items, records)
    assert [k for k, _ in first["accepted"]] == ["k1"] and first["rejected"] == first["failed"] == []
    assert [f["key"] for f in first["unknown"]] == ["k0"]
    assert Ledger().deliveries.lookup(destination().ledger_key, ["k0"])["k0"].state == "unknown"
    again = deliver(items[:1], records[:1])  # a retry at once: still hidden, not settled, not created again
    assert [f["key"] for f in again["unknown"]] == ["k0"] and account.creates == 2
    deadline = time.monotonic() + 10
    while not all(account.searchable(i) for i in list(account.candidates)) and time.monotonic() < deadline:
        time.sleep(0.05)  # wait for the condition: the index shows the record
    settled = deliver(items[:1], records[:1])
    assert [k for k, _ in settled["accepted"]] == ["k0"] and settled.get("unknown", []) == []
    assert ats.held(sandbox.state) == {"c0@example.com": 1, "c1@example.com": 1} and account.creates == 2


def test_nothing_found_after_the_settle_time_is_created_again_once(ats, sandbox, monkeypatch):
    """A create whose answer was a 5xx and that was not applied: unknown, then created once settled."""
    if ats.account(sandbox.state) is None:
        pytest.skip("the JSON endpoint has no lookup")
    monkeypatch.setenv("AIRFLOW__HRFLOW__LOOKUP_SETTLE_SECONDS", "0.3")
    sandbox.state.faults.append(Fault(path=ats.create_path, method="POST", status=502))
    items, records = batch(ats, range(1))
    first = deliver(items, records)
    assert [f["key"] for f in first["unknown"]] == ["k0"] and ats.held(sandbox.state) == {}
    time.sleep(0.35)  # past the settle time (a condition on our own clock, not a timing assertion)
    second = deliver(items, records)
    assert [k for k, _ in second["accepted"]] == ["k0"]
    assert ats.held(sandbox.state) == {"c0@example.com": 1}


def test_a_5xx_after_the_ats_applied_the_write_makes_no_second_candidate(ats, sandbox):
    lost_answers_need(ats, sandbox)
    sandbox.state.faults.append(Fault(path=ats.create_path, method="POST", applied_status=502))
    items, records = batch(ats, range(2))
    result = deliver(items, records)
    assert sorted(k for k, _ in result["accepted"]) == ["k0", "k1"]
    assert ats.held(sandbox.state) == {"c0@example.com": 1, "c1@example.com": 1}


FAULTS = {
    "lost-answer": {"lose_response": True},
    "429": {"status": 429, "retry_after": 0.05},
    "503": {"status": 503, "retry_after": 0},
    "applied-502": {"applied_status": 502},
}


def fault_on(route: tuple[str, str, str | None], kind: str) -> Fault:
    method, path, marker = route
    return Fault(path=path, method=method, match_key=marker, **FAULTS[kind])


@pytest.mark.parametrize("kind", list(FAULTS))
def test_an_update_through_a_fault_applies_the_new_values_once(ats, sandbox, kind):
    items, records = batch(ats, range(2))
    remote = deliver(items, records)["remote_ids"] or {k: "" for k, _ in items}
    sandbox.state.faults.append(fault_on(ats.update_route, kind))
    changed = batch(ats, range(2), k1={ats.bad_email: "new1@example.com"})[1]
    updated = destination().update_batch(
        plural="profiles", index=0, items=items[1:], records=changed[1:], remote_ids=remote, bases={"k1": "h"}
    )
    assert updated["accepted"] == [["k1", "src"]] and updated["rejected"] == []
    assert sandbox.state.faults[-1].times == 0  # the fault was met
    assert emails_now(ats, sandbox.state) == {"c0@example.com": 1, "new1@example.com": 1}  # new value, no new record


@pytest.mark.parametrize("kind", list(FAULTS))
def test_a_removal_through_a_fault_is_done_once(ats, sandbox, kind):
    items, records = batch(ats, range(2))
    remote = deliver(items, records)["remote_ids"]
    sandbox.state.faults.append(fault_on(ats.remove_route, kind))
    dest, ledger = destination(), Ledger()
    result = dest.remove(plural="profiles", items=items[:1], remote_ids=remote, mode=ats.removal, ledger=ledger)
    assert [k for k, _, _ in result["removed"]] == ["k0"] and result["failed"] == []
    assert sandbox.state.faults[-1].times == 0
    assert removed_at(sandbox.state, ats) == 1  # k1 untouched


@pytest.mark.parametrize("kind", list(FAULTS))
def test_a_lookup_through_a_fault_still_adopts_only_our_record(ats, sandbox, kind):
    if ats.lookup_route is None:
        pytest.skip("the JSON endpoint has no lookup")
    sandbox.state.faults.append(Fault(path=ats.create_path, method="POST", lose_response=True))
    sandbox.state.faults.append(fault_on(ats.lookup_route, kind))
    items, records = batch(ats, range(2))
    result = deliver(items, records)
    assert sorted(k for k, _ in result["accepted"]) == ["k0", "k1"] and result.get("unknown", []) == []
    assert sandbox.state.faults[-1].times == 0
    assert ats.held(sandbox.state) == {"c0@example.com": 1, "c1@example.com": 1}


def test_an_account_that_already_holds_the_person_keeps_its_record(ats, sandbox):
    """
    The account already holds a record of its own for the person, listed first by a lookup. The create's answer is
    lost: only the record carrying our marker is adopted (or, where the ATS refuses a second record for one email,
    the person's record is *linked*, not ours). Removal acts only on ids the ledger recorded as our creates: a
    forged ``ats_id`` hint naming their record is ignored, and a linked record is left in place.
    """
    if ats.stranger is None:
        pytest.skip("the JSON endpoint keeps one batch per Idempotency-Key and has no lookup")
    account = ats.account(sandbox.state)
    theirs = ats.stranger(sandbox.state.vendors, "F0", "L0", "c0@example.com")
    sandbox.state.faults.append(Fault(path=ats.create_path, method="POST", lose_response=True, match_key="c0@"))
    items, records = batch(ats, range(2))
    result = deliver(items, records)
    assert sorted(k for k, _ in result["accepted"]) == ["k0", "k1"] and result.get("unknown", []) == []
    ours = result["remote_ids"]["k0"].removeprefix(f"{ats.name}:")
    entry = Ledger().deliveries.lookup(destination().ledger_key, ["k0"])["k0"]
    if result.get("linked"):  # the ATS holds one record per email: theirs, linked
        assert result["linked"] == ["k0"] and ours == theirs and entry.origin == "linked"
    else:
        assert ours.partition("/")[0] != theirs and entry.origin == "created"
    dest, ledger = destination(), Ledger()
    forged = {"k0": f"{ats.name}:{theirs}"}  # an ats_id tag anyone could have edited
    removed = dest.remove(plural="profiles", items=items[:1], remote_ids=forged, mode=ats.removal, ledger=ledger)
    assert theirs in account.candidates and theirs not in account.removed  # their record untouched
    if entry.origin == "linked":
        assert removed["removed"] == [] and [f["key"] for f in removed["not_ours"]] == ["k0"]
    else:
        assert [k for k, _, _ in removed["removed"]] == ["k0"] and ours.partition("/")[0] in account.removed


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
    assert emails_now(ats, sandbox.state) == {"c0@example.com": 1, "new1@example.com": 1}  # the values, not a count


def credential_forms(secret: str, login: str | None) -> set[str]:
    """Return every form a credential takes on the wire: raw, Basic (key as user, or login:secret), Bearer."""
    basics = {f"{secret}:", f"{login}:{secret}"} if login else {f"{secret}:"}
    encoded = {base64.b64encode(b.encode()).decode() for b in basics}
    return {secret, *encoded, *(f"Basic {e}" for e in encoded), f"Bearer {secret}", f"token={secret}"}


def test_the_credential_is_never_logged_in_any_form(ats, sandbox, caplog):
    sandbox.state.faults.append(Fault(path=ats.create_path, method="POST", status=503, times=2, retry_after=0))
    with caplog.at_level(logging.DEBUG):
        items, records = batch(ats, range(2))
        deliver(items, records)
        destination().client.test_connection()
    login = ats.connection(sandbox.url).get("login")
    leaked = [form for form in credential_forms(ats.secret, login) if form in caplog.text]
    assert caplog.records and leaked == []


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
