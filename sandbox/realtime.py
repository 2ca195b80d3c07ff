"""
Drive the webhook-started sync against a running Airflow (api-server, scheduler, dag-processor) and the sandbox:
deliveries announcing new or edited profiles, the time each takes to reach the ATS, the sync runs they made.
Shared by ``tests/test_realtime_stack.py`` (asserts) and ``bench/realtime_run.py`` (prints).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import requests

from hrflow_airflow.events.signing import SIGNATURE_HEADER, sign
from sandbox.airflow_home import AirflowStack
from sandbox.objects import WEBHOOK_SECRET
from sandbox.server import SandboxServer
from sandbox.webhooks import WebhookSender

SYNC_DAG = "hrflow_profiles_to_ats"
AREA = "profiles"  # the JSON endpoint's receiver (connection ats_default)


def stack_env(server: SandboxServer, source: str) -> dict[str, str]:
    """Return the Airflow environment: the sandbox's connections, the one source, search (no daily sweep)."""
    return {
        **server.airflow_env(),
        "AIRFLOW_VAR_HRFLOW_SOURCE_KEYS": json.dumps([source]),
        "AIRFLOW__HRFLOW__FULL_SWEEP_HOUR": "-1",
    }


class Arrivals:
    """When each profile key reached the ATS, every time it did (from the sandbox's receiver)."""

    def __init__(self, server: SandboxServer) -> None:
        self.times: dict[str, list[float]] = {}
        self.lock = threading.Lock()
        server.state.on_ats_post = self.seen

    def seen(self, area: str, records: list[dict]) -> None:
        now = time.time()
        with self.lock:
            for record in records:
                self.times.setdefault(record.get("hrflow_key"), []).append(now)

    def count(self, key: str) -> int:
        with self.lock:
            return len(self.times.get(key, ()))

    def wait_for(self, keys: Iterable[str], timeout: float) -> bool:
        """Wait until each of ``keys`` reached the ATS; return whether they all did."""
        keys, deadline = list(keys), time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.count(key) for key in keys):
                return True
            time.sleep(0.2)
        return False


def wait_for_update(server: SandboxServer, key: str, timeout: float) -> float | None:
    """Wait until the ATS applied an update of ``key`` (an upsert); return when it was seen, None if it was not."""
    area, deadline = server.state.ats_area(AREA), time.monotonic() + timeout
    while time.monotonic() < deadline:
        if area.updates[key]:
            return time.time()
        time.sleep(0.1)
    return None


def start(server: SandboxServer, stack: AirflowStack) -> None:
    """Make the sandbox HrFlow announce each PUT to this Airflow, as HrFlow does; unpause the sync and let the first
    (scheduled, empty) run pass, so what follows is the webhook's doing."""
    server.state.webhook = WebhookSender(f"{stack.url}/hrflow/webhook")
    paused = stack.api("GET", f"/api/v2/dags/{SYNC_DAG}").json()["is_paused"]
    stack.unpause(SYNC_DAG)
    if paused:  # catchup=False: unpausing makes one scheduled run, for the latest complete hour
        wait_for(lambda: any(r["run_type"] == "scheduled" for r in runs(stack)), "the first scheduled run", 300)
    settle(stack, server, timeout=300)


def wait_for(condition: Callable[[], object], what: str, timeout: float) -> None:
    """Poll ``condition`` until it holds; raise TimeoutError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not seen within {timeout:.0f} s: {what}")
        time.sleep(0.5)


def runs(stack: AirflowStack) -> list[dict]:
    """Return the sync DAG's runs, oldest first."""
    answer = stack.api("GET", f"/api/v2/dags/{SYNC_DAG}/dagRuns", params={"limit": 100, "order_by": "run_after"})
    answer.raise_for_status()
    return answer.json()["dag_runs"]


def settle(stack: AirflowStack, server: SandboxServer | None = None, timeout: float = 300) -> None:
    """
    Wait until nothing can start another sync run: no run is queued or running, every delivery the sandbox HrFlow
    announced was answered, the inbox holds no announcement, no asset event waits for the scheduler; and two looks
    half a second apart see the same counts (runs, asset events, HrFlow writes, deliveries), so nothing moved
    between them. A condition on each stage of the path a run starts by, not a quiet period.
    """
    deadline, previous = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        now = quiet_counts(stack, server)
        if now is not None and now == previous:
            return
        previous = now
        time.sleep(0.5)
    raise TimeoutError(f"{SYNC_DAG} still busy after {timeout}s")


def quiet_counts(stack: AirflowStack, server: SandboxServer | None) -> tuple | None:
    """Return the counts that move when anything happens on the way to a sync run; None while something is under
    way (a run queued or running, a delivery unanswered, an announcement in the inbox, an asset event queued)."""
    made = runs(stack)
    if any(r["state"] in ("queued", "running") for r in made):
        return None
    sender = server.state.webhook if server is not None else None
    if sender is not None and not sender.idle():
        return None
    if inbox_announcements(stack):
        return None
    queued = stack.api("GET", f"/api/v2/dags/{SYNC_DAG}/assets/queuedEvents")
    if queued.status_code == 200 and queued.json()["total_entries"]:
        return None
    events = stack.api("GET", "/api/v2/assets/events", params={"limit": 1}).json()["total_entries"]
    writes = server.state.version if server is not None else None
    return len(made), events, writes, len(sender.sent) if sender is not None else None


def inbox_announcements(stack: AirflowStack) -> int:
    """Return how many sync announcements wait in the webhook inbox (the ledger's SQLite file in the home)."""
    import sqlite3

    conn = json.loads(stack.env.get("AIRFLOW_CONN_HRFLOW_LEDGER") or "{}")
    ledger = conn.get("host") or stack.home / "hrflow_ledger.db"
    if not Path(ledger).exists():
        return 0
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=30) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'hrflow_webhook_inbox'").fetchone():
            return 0  # no delivery was recorded yet
        return db.execute("SELECT count(*) FROM hrflow_webhook_inbox WHERE run_id LIKE 'sync:%'").fetchone()[0]


def deliver(stack: AirflowStack, event_type: str, profile: dict) -> float:
    """Post one signed delivery (an array with one event and the whole profile); return when it was sent."""
    body = json.dumps([{"type": event_type, "origin": "api", "message": "Profile stored", "profile": profile}]).encode()
    sent = time.time()
    answer = requests.post(
        f"{stack.url}/hrflow/webhook", data=body, timeout=30, headers={SIGNATURE_HEADER: sign(WEBHOOK_SECRET, body)}
    )
    answer.raise_for_status()
    return sent


def burst(server: SandboxServer, stack: AirflowStack, source: str, count: int = 20, within: float = 2.0) -> dict:
    """Seed ``count`` new profiles and announce each by its own delivery, spread over ``within`` seconds; return
    ``{"keys", "sent": {key: time}}``."""
    keys = server.state.seed("profile", source, count, start=len(server.state.objects["profile"].get(source, {})))
    sent = {}
    for key in keys:
        sent[key] = deliver(stack, "profile.storing.success", server.state.get("profile", source, key))
        time.sleep(max(0.0, within / count - (time.time() - sent[key])))
    return {"keys": keys, "sent": sent}


def edit(server: SandboxServer, stack: AirflowStack, source: str, key: str) -> float:
    """Edit one synced profile in HrFlow (its email) and announce it with ``profile.storing.update``."""
    server.state.update("profile", source, key, lambda p: p["info"].update(email=f"edited.{key[:8]}@example.com"))
    return deliver(stack, "profile.storing.update", server.state.get("profile", source, key))
