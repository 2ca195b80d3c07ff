"""The vendor emulators hold their documented limits across the whole answer time, as the vendors do."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from sandbox.smartrecruiters import SMARTRECRUITERS_TOKEN


def _post(url: str, i: int) -> int:
    body = {"firstName": "Ada", "lastName": f"N{i}", "email": f"ada{i}@example.com"}
    return requests.post(url, json=body, headers={"X-SmartToken": SMARTRECRUITERS_TOKEN}, timeout=10).status_code


def test_smartrecruiters_counts_a_request_in_flight_for_its_whole_answer_time(sandbox):
    """Nine POSTs at once, each answered in 0.6 s: the documented 8 concurrent pass, the ninth gets a 429."""
    sandbox.state.latency["ats"] = 0.6
    url = f"{sandbox.url}/smartrecruiters/candidates"
    with ThreadPoolExecutor(9) as pool:
        statuses = sorted(pool.map(lambda i: _post(url, i), range(9)))
    account = sandbox.state.vendors.smartrecruiters
    assert statuses == [201] * 8 + [429]
    assert account.max_in_flight == 8 and account.refused_for_rate == 1 and account.creates == 8


def test_smartrecruiters_serves_one_candidate_search_at_a_time(sandbox):
    sandbox.state.latency["ats"] = 0.6
    url = f"{sandbox.url}/smartrecruiters/candidates?q=ada"
    headers = {"X-SmartToken": SMARTRECRUITERS_TOKEN}
    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(lambda _: requests.get(url, headers=headers, timeout=10).status_code, range(2)))
    assert statuses == [200, 429]
