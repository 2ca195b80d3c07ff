"""What the Greenhouse, Lever and Teamtailor clients do beyond the contract suite, against their emulators."""

from __future__ import annotations

import json
import logging

import pytest

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.destinations.base import AtsAuthError
from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.hooks.http import RetryPolicy
from hrflow_airflow.ledger import Ledger
from sandbox import greenhouse, lever, teamtailor


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


def deliver(destination, records: list[dict]) -> dict:
    items = [[r["hrflow_key"], "src"] for r in records]
    return destination.deliver(plural="profiles", index=0, items=items, records=records, ledger=Ledger())


def gh(i: int) -> dict:
    return {"hrflow_key": f"k{i}", "first_name": f"F{i}", "last_name": f"L{i}", "email": f"c{i}@example.com"}


def test_greenhouse_replaces_a_revoked_token_once_and_never_logs_it(configure, sandbox, caplog):
    destination = configure(greenhouse.connection(sandbox.url))
    with caplog.at_level(logging.DEBUG):
        assert len(deliver(destination, [gh(0), gh(1)])["accepted"]) == 2
        vendor = sandbox.state.vendors.greenhouse
        tokens = list(vendor.tokens)  # (a token an earlier test of this process cached was refused)
        refused, fetched = vendor.requests["401"], vendor.requests["POST /token"]
        vendor.tokens.clear()  # revoked (or expired early): the next call answers 401
        assert len(deliver(destination, [gh(2), gh(3)])["accepted"]) == 2
    # each thread in flight (2) may meet the revoked token; one new token serves them all
    assert vendor.creates == 4 and 1 <= vendor.requests["401"] - refused <= 2
    assert vendor.requests["POST /token"] - fetched == 1
    assert not any(token in caplog.text for token in tokens)
    assert greenhouse.CLIENT_SECRET not in caplog.text
    [candidate] = vendor.by_email("c0@example.com")
    assert candidate["email_addresses"] == [{"value": "c0@example.com", "type": "personal"}]


def test_greenhouse_without_a_user_id_names_the_extra(configure, sandbox):
    conn = greenhouse.connection(sandbox.url)
    del conn["extra"]["user_id"]
    with pytest.raises(BadConfigError, match="extra user_id"):
        deliver(configure(conn), [gh(0)])
    assert sandbox.state.vendors.greenhouse.creates == 0


def test_greenhouse_refused_client_credentials_fail_naming_the_connection(configure, sandbox):
    conn = {**greenhouse.connection(sandbox.url), "password": "wrong"}
    ok, message = configure(conn).client.test_connection()
    assert not ok and "refused the credentials (HTTP 401" in message and "'ats_default'" in message


def test_lever_needs_perform_as_and_updates_the_contact(configure, sandbox):
    conn = lever.connection(sandbox.url)
    del conn["extra"]["perform_as"]
    record = {"hrflow_key": "k0", "name": "Zoë Moreau", "email": "c0@example.com", "phone": "+33612345678"}
    with pytest.raises(BadConfigError, match="extra perform_as"):
        deliver(configure(conn), [record])
    destination = configure(lever.connection(sandbox.url))
    result = deliver(destination, [record])
    remote = result["remote_ids"]["k0"]
    opportunity, contact = remote.removeprefix("lever:").split("/")
    assert sandbox.state.vendors.lever.candidates[opportunity]["sources"] == ["HrFlow.ai"]
    destination.update_batch(
        plural="profiles",
        index=0,
        items=[["k0", "src"]],
        records=[{**record, "phone": "+33700000000"}],
        remote_ids={"k0": remote},
        bases={"k0": "h"},
    )
    assert sandbox.state.vendors.lever.contacts[contact]["phones"] == [{"value": "+33700000000", "type": "mobile"}]
    assert sandbox.state.vendors.lever.creates == 1


def test_teamtailor_adopts_a_candidate_the_company_already_had_instead_of_failing(configure, sandbox):
    destination = configure(teamtailor.connection(sandbox.url))
    existing = {"hrflow_key": "other", "first-name": "A", "last-name": "B", "email": "c0@example.com"}
    deliver(destination, [existing])  # created outside this profile's sync (e.g. by a recruiter)
    [remote] = list(sandbox.state.vendors.teamtailor.candidates)
    record = {"hrflow_key": "k0", "first-name": "F", "last-name": "L", "email": "c0@example.com"}
    result = deliver(destination, [record])  # 422 "has already been taken": looked up and adopted, no merge
    assert result["rejected"] == [] and result["remote_ids"] == {"k0": f"teamtailor:{remote}"}
    assert sandbox.state.vendors.teamtailor.creates == 1
    assert sandbox.state.vendors.teamtailor.candidates[remote]["attributes"]["first-name"] == "A"  # not merged


def test_teamtailor_refused_api_version_names_the_extra(configure, sandbox):
    destination = configure(teamtailor.connection(sandbox.url, api_version="19990101"))
    record = {"hrflow_key": "k0", "first-name": "F", "last-name": "L", "email": "c0@example.com"}
    with pytest.raises(BadConfigError, match="X-Api-Version '19990101' \\(HTTP 406\\); set extra api_version"):
        deliver(destination, [record])


def test_a_greenhouse_credential_without_a_scope_stops_naming_the_scope(configure, sandbox):
    destination = configure(greenhouse.connection(sandbox.url))
    sandbox.state.vendors.greenhouse.scopes.discard("harvest:candidates:create")
    with pytest.raises(AtsAuthError, match=r"lacks the scope harvest:candidates:create; add it to the API credential"):
        deliver(destination, [gh(0)])
    assert sandbox.state.vendors.greenhouse.creates == 0


def test_teamtailor_creates_a_profile_without_an_email_as_sourced(configure, sandbox):
    destination = configure(teamtailor.connection(sandbox.url))
    record = {"hrflow_key": "k0", "first-name": "Zoë", "last-name": "Moreau"}
    result = deliver(destination, [record])
    assert result["accepted"] == [["k0", "src"]]
    [candidate] = sandbox.state.vendors.teamtailor.candidates.values()
    assert candidate["attributes"]["sourced"] is True and candidate["attributes"]["tags"] == ["hrflow-key:k0"]
    session = destination.client.session
    assert session.headers["Accept"] == session.headers["Content-Type"] == "application/vnd.api+json"
