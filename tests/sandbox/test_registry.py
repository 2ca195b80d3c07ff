"""The sandbox's vendor registry routes every ATS emulator, keeps its account and connects the demo to it."""

from __future__ import annotations

import pytest
import requests

from hrflow_airflow.destinations import ADAPTERS, JSON_BATCH
from sandbox.demo import CONNECTIONS, DESTINATIONS
from sandbox.registry import VENDORS
from sandbox.server import ROUTES, VENDOR_PREFIXES, route


def test_every_vendor_adapter_has_an_emulator_and_every_emulator_an_adapter():
    vendor_types = {conn_type for conn_type, (engine, _) in ADAPTERS.items() if engine != JSON_BATCH}
    assert {vendor.name for vendor in VENDORS} == vendor_types


def test_the_routes_the_accounts_and_the_demo_come_from_the_registry(sandbox):
    prefixes = [prefix for prefix, _, _ in ROUTES]
    for vendor in VENDORS:
        assert all(f"{p}/" in prefixes and f"{p}/" in VENDOR_PREFIXES for p in vendor.prefixes), vendor.name
        assert route(vendor.create_path)[0] == "ats"
        assert getattr(sandbox.state.vendors, vendor.name).name == vendor.name
        conn = vendor.connection(sandbox.url)
        assert conn["conn_type"] == vendor.name and conn["password"] == vendor.secret
        assert vendor.create_path.startswith(vendor.prefix + "/")
    assert set(sandbox.state.vendors.snapshot()) == {vendor.name for vendor in VENDORS}
    assert set(CONNECTIONS) == {vendor.name for vendor in VENDORS} and DESTINATIONS[0] == "json"


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_each_emulator_answers_its_create_path_itself(sandbox, vendor):
    """Without a credential the vendor's own emulator refuses (401/400), not the server's 'no route' 404."""
    answer = requests.post(f"{sandbox.url}{vendor.create_path}", json={}, timeout=10)
    assert answer.status_code in (400, 401, 403), (answer.status_code, answer.text)
    assert "no route" not in answer.text
