"""
HrFlow's webhook starts the sync (a real api-server, scheduler, dag-processor and LocalExecutor): 20 deliveries
bring 20 new profiles to the ATS once each, in at most three runs; the sandbox HrFlow announces each of our
tagging PUTs with ``profile.storing.update``, as HrFlow does, and none starts a run; an edit announced by its
webhook reaches the ATS in one run; then, with every delivery answered and nothing waiting in the inbox or the
scheduler's asset queue, no run starts and nothing is sent (conditions on that path, not a quiet minute).
"""

from __future__ import annotations

import pytest

from sandbox import realtime
from sandbox.airflow_home import AirflowStack
from sandbox.objects import make_key

SOURCE = make_key("source", "realtime")


@pytest.fixture(scope="module")
def stack(sandbox_server, tmp_path_factory):
    stack = AirflowStack(tmp_path_factory.mktemp("realtime_home"), extra_env=realtime.stack_env(sandbox_server, SOURCE))
    stack.start(wait_for_dags=(realtime.SYNC_DAG, "hrflow_profile_sms"))
    # the SMS runs of the 20 new profiles are tests/test_airflow_stack.py's subject: here the sync has the cores
    stack.api("PATCH", "/api/v2/dags/hrflow_profile_sms", json={"is_paused": True}).raise_for_status()
    yield stack
    stack.stop()


def asset_runs(stack: AirflowStack) -> list[dict]:
    return [r for r in realtime.runs(stack) if r["run_type"] == "asset_triggered"]


def test_the_webhook_starts_the_sync_and_our_own_writes_start_nothing(stack, sandbox):
    sandbox.state.honour_idempotency = False  # as most real ATSs: "once" must not lean on Idempotency-Key
    arrivals = realtime.Arrivals(sandbox)
    realtime.start(sandbox, stack)
    before = len(realtime.runs(stack))

    burst = realtime.burst(sandbox, stack, SOURCE, count=20, within=2.0)

    assert arrivals.wait_for(burst["keys"], timeout=240), "not every announced profile reached the ATS"
    realtime.settle(stack, sandbox)
    area = sandbox.state.ats_area(realtime.AREA)
    assert {key: area.applied[key] for key in burst["keys"]} == dict.fromkeys(burst["keys"], 1)
    assert sorted(sandbox.state.snapshot()["synced"]["profile"]) == sorted(burst["keys"])  # tagged sync=1
    made = realtime.runs(stack)[before:]
    assert 1 <= len(made) <= 3 and all(r["run_type"] == "asset_triggered" for r in made), made
    assert all(r["state"] == "success" for r in made)
    sent = sandbox.state.webhook.summary()  # HrFlow's update webhook for each of our tagging PUTs
    assert sent["by_type"].get("profile.storing.update", 0) >= 20 and sent["ok"] == sent["sent"], sent

    edited, before_edit = burst["keys"][3], len(realtime.runs(stack))
    realtime.edit(sandbox, stack, SOURCE, edited)
    assert realtime.wait_for_update(sandbox, edited, timeout=240), "the edit did not reach the ATS"
    realtime.settle(stack, sandbox)
    assert area.updates[edited] == 1 and area.current[edited]["email"].startswith("edited.")
    assert sum(area.applied[key] for key in burst["keys"]) == 20  # nothing created again
    # the edit made one run; that run's tagging PUT was announced too, and started nothing (the timetable may
    # run once if the hour turned meanwhile: it would find nothing)
    since_edit = [r["run_type"] for r in realtime.runs(stack)[before_edit:] if r["run_type"] != "scheduled"]
    assert since_edit == ["asset_triggered"], since_edit

    # quiet: every delivery answered, no announcement in the inbox, no asset event queued, no run busy (settle's
    # conditions): nothing is on its way to start a run, so none starts and nothing more is sent
    runs, ats_requests, sent = len(realtime.runs(stack)), area.requests, sandbox.state.webhook.summary()["sent"]
    realtime.settle(stack, sandbox)
    later = realtime.runs(stack)[runs:]
    assert [r for r in later if r["run_type"] != "scheduled"] == []
    assert area.requests == ats_requests and sandbox.state.webhook.summary()["sent"] == sent


def test_a_bulk_delivery_is_answered_at_once_and_drains_into_runs_that_coalesce(stack, sandbox):
    """One delivery of 200 new profiles (a bulk import): answered at once, 200 in the ATS once each, one or two runs."""
    import json

    import requests

    from hrflow_airflow.events.signing import SIGNATURE_HEADER, sign
    from sandbox.objects import WEBHOOK_SECRET

    sandbox.state.honour_idempotency = False
    arrivals = realtime.Arrivals(sandbox)
    realtime.start(sandbox, stack)
    before = len(realtime.runs(stack))
    keys = sandbox.state.seed("profile", SOURCE, 200, start=1000)  # keys no earlier test synced
    events = [{"type": "profile.storing.success", "profile": {"key": k, "source": {"key": SOURCE}}} for k in keys]
    body = json.dumps(events).encode()

    answer = requests.post(
        f"{stack.url}/hrflow/webhook", data=body, timeout=30, headers={SIGNATURE_HEADER: sign(WEBHOOK_SECRET, body)}
    )

    assert answer.status_code == 200 and {r["sync"] for r in answer.json()["results"]} == {"queued"}
    assert arrivals.wait_for(keys, timeout=300), "not every profile of the bulk delivery reached the ATS"
    realtime.settle(stack, sandbox)
    area = sandbox.state.ats_area(realtime.AREA)
    assert {key: area.applied[key] for key in keys} == dict.fromkeys(keys, 1)
    made = realtime.runs(stack)[before:]
    assert 1 <= len(made) <= 2 and {r["run_type"] for r in made} == {"asset_triggered"}, made
