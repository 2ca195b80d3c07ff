"""`make bench-realtime`: from HrFlow's webhook to the ATS, on a real api-server, scheduler and dag-processor.

20 new profiles, each announced by its own signed `profile.storing.success` delivery, all within 2 s; the time
from each delivery to the profile reaching the ATS (the sandbox JSON endpoint), p50 and max, and how many sync
runs they made. The sandbox HrFlow announces each of our tagging PUTs with `profile.storing.update`, as HrFlow
does: those must start nothing. Then one edit announced by `profile.storing.update`, and its time to the ATS.
Goal on 2 cores: every new profile in the ATS within 60 s of its delivery, in at most 3 runs. The SMS DAG is
paused: the sync has the machine (`make bench-webhook` measures the SMS path).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import machine, percentile, save
from sandbox import realtime
from sandbox.airflow_home import AirflowStack
from sandbox.objects import make_key
from sandbox.server import SandboxServer

SOURCE = make_key("source", "realtime-bench")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profiles", type=int, default=20)
    parser.add_argument("--within", type=float, default=2.0, help="seconds the deliveries are spread over")
    args = parser.parse_args(argv)
    server = SandboxServer().start_in_thread()
    with tempfile.TemporaryDirectory(prefix="hrflow-realtime-bench-") as home:
        stack = AirflowStack(Path(home), extra_env=realtime.stack_env(server, SOURCE))
        stack.start(wait_for_dags=(realtime.SYNC_DAG, "hrflow_profile_sms"))
        try:
            stack.api("PATCH", "/api/v2/dags/hrflow_profile_sms", json={"is_paused": True}).raise_for_status()
            figures = measure(server, stack, args.profiles, args.within)
        finally:
            stack.stop()
            server.shutdown()
    latencies, edit = figures["latencies"], figures["edit"]
    ok = len(latencies) == args.profiles and max(latencies) <= 60 and figures["runs"] <= 3
    lines = [
        f"# Webhook → ATS on a real api-server, scheduler and dag-processor ({time.strftime('%Y-%m-%d')})",
        f"machine: {machine()}",
        f"setup: {args.profiles} new profiles, one signed profile.storing.success delivery each, within "
        f"{args.within:g} s; LocalExecutor, SQLite, the sandbox JSON endpoint; SMS DAG paused",
        "",
        f"{'':36} {'p50':>8} {'max':>8}",
        f"{'delivery → in the ATS (s)':36} {percentile(latencies, 50):8.1f} {max(latencies):8.1f}",
        f"sync runs the burst made: {figures['runs']} (goal ≤ 3); reached the ATS: {len(latencies)}/{args.profiles}",
        f"our tagging PUTs announced by HrFlow (profile.storing.update): {figures['echoes']}; asset events the "
        f"webhook recorded for the burst, those echoes included: {figures['events']} (others: coalesced, unchanged)",
        f"one edit (profile.storing.update) → update in the ATS: {edit:.1f} s" if edit else "the edit: NOT applied",
        "goal: every new profile in the ATS within 60 s of its delivery, in ≤ 3 runs: "
        + ("met" if ok and edit else "NOT met"),
        "before: the next hourly run (up to 60 min; 30 min on average)",
    ]
    save("realtime_run", "\n".join(lines) + "\n")
    return 0 if ok and edit else 1


def measure(server: SandboxServer, stack: AirflowStack, profiles: int, within: float) -> dict:
    arrivals = realtime.Arrivals(server)
    realtime.start(server, stack)
    before = len(realtime.runs(stack))
    burst = realtime.burst(server, stack, SOURCE, count=profiles, within=within)
    arrivals.wait_for(burst["keys"], timeout=300)
    realtime.settle(stack, server)
    latencies = [arrivals.times[k][0] - burst["sent"][k] for k in burst["keys"] if arrivals.count(k)]
    made = len(realtime.runs(stack)) - before
    echoes = server.state.webhook.summary()["by_type"].get("profile.storing.update", 0)
    events = asset_events(stack)
    sent = realtime.edit(server, stack, SOURCE, burst["keys"][0])
    seen = realtime.wait_for_update(server, burst["keys"][0], timeout=300)
    realtime.settle(stack, server)
    return {
        "latencies": latencies,
        "runs": made,
        "echoes": echoes,
        "events": events,
        "edit": seen - sent if seen else None,
    }


def asset_events(stack: AirflowStack) -> int:
    """Return how many asset events the webhook recorded on ``hrflow-webhook://profiles/``."""
    answer = stack.api("GET", "/api/v2/assets/events", params={"limit": 1000})
    answer.raise_for_status()
    return sum(1 for e in answer.json()["asset_events"] if e.get("uri", "").startswith("hrflow-webhook://profiles"))


if __name__ == "__main__":
    raise SystemExit(main())
