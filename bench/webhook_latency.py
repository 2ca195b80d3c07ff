"""`make bench-webhook`: webhook-to-SMS latency on `airflow standalone`, p50 and p95 over 50 events.

One signed real-shaped delivery (an array with one `profile.storing.success` event and the whole profile) at a
time; latency runs from sending the webhook to the SMS reaching the sandbox's messaging receiver. Also reports
how fast the endpoint itself answers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import requests

from bench.common import machine, save
from hrflow_airflow.webhook import SIGNATURE_HEADER, sign
from sandbox.airflow_home import AirflowStack
from sandbox.objects import WEBHOOK_SECRET, make_key
from sandbox.server import SandboxServer

SOURCE = make_key("source", "webhook-bench")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--bulk", type=int, default=1000, help="events in the one bulk delivery (0: none)")
    args = parser.parse_args(argv)
    bulk: dict[str, float] = {}
    server = SandboxServer().start_in_thread()
    keys = server.state.seed("profile", SOURCE, args.events)
    answers, latencies, failures = [], [], []
    with tempfile.TemporaryDirectory(prefix="hrflow-webhook-bench-") as home:
        stack = AirflowStack(Path(home), extra_env=server.airflow_env())
        stack.start(wait_for_dags=("hrflow_profile_sms",), standalone=True)
        try:
            for key in keys:
                # a real delivery: an array, the whole profile object, today's event name
                profile = server.state.get("profile", SOURCE, key)
                body = json.dumps(
                    [
                        {
                            "type": "profile.storing.success",
                            "origin": "api",
                            "message": "Profile stored",
                            "profile": profile,
                        }
                    ]
                ).encode()
                phone = profile["info"]["phone"]
                sent = len(server.state.sms.bodies)
                started = time.time()
                response = requests.post(
                    f"{stack.url}/hrflow/webhook",
                    data=body,
                    timeout=10,
                    headers={SIGNATURE_HEADER: sign(WEBHOOK_SECRET, body), "Content-Type": "application/json"},
                )
                answers.append(time.time() - started)
                response.raise_for_status()
                deadline = started + 120
                while len(server.state.sms.bodies) == sent and time.time() < deadline:
                    time.sleep(0.02)
                if len(server.state.sms.bodies) == sent:
                    failures.append(f"{key}: no SMS within 120 s")
                    continue
                if not server.state.sms.bodies[-1]["text"].endswith(f"{phone}."):  # the SMS this event caused
                    failures.append(f"{key}: the SMS received is not this profile's")
                    continue
                latencies.append(server.state.sms.received_at[-1] - started)
            if args.bulk:
                bulk = bulk_delivery(stack, args.bulk)
        finally:
            stack.stop()
            server.shutdown()

    lines = [
        f"# Webhook → SMS latency on airflow standalone ({time.strftime('%Y-%m-%d')})",
        f"machine: {machine()}",
        f"setup: {args.events} signed profile.storing.success deliveries (array, whole profile), one at a time; "
        "sandbox in the bench's own process, without latency; failures (no SMS, or not this profile's): "
        f"{len(failures)}",
        "",
        f"{'':32} {'p50':>8} {'p95':>8} {'max':>8}",
        f"{'webhook answered (ms)':32} {percentile(answers, 50) * 1000:8.0f} {percentile(answers, 95) * 1000:8.0f} "
        f"{max(answers) * 1000:8.0f}",
        f"{'webhook → SMS received (s)':32} {percentile(latencies, 50):8.2f} {percentile(latencies, 95):8.2f} "
        f"{max(latencies):8.2f}",
        f"target: p50 under 5 s; mean {statistics.mean(latencies):.2f} s",
    ]
    if bulk:
        lines += [
            "",
            f"one delivery of {args.bulk} new profiles (a bulk import), the SMS DAG paused: answered in "
            f"{bulk['answered']:.2f} s (target < 2 s; 16.7 s before the inbox); all {args.bulk} runs started "
            f"{bulk['started']:.1f} s after sending, one per profile",
        ]
    save("webhook_latency", "\n".join(lines + [f"FAILED: {f}" for f in failures]) + "\n")
    return 1 if failures or percentile(latencies, 50) >= 5 else 0


def bulk_delivery(stack: AirflowStack, count: int) -> dict[str, float]:
    """Send one delivery of ``count`` events with the SMS DAG paused; return when it was answered and started."""
    stack.api("PATCH", "/api/v2/dags/hrflow_profile_sms", json={"is_paused": True}).raise_for_status()

    def runs() -> int:
        return stack.api("GET", "/api/v2/dags/hrflow_profile_sms/dagRuns", params={"limit": 1}).json()["total_entries"]

    before, source = runs(), make_key("source", "bulk")
    events = [
        {
            "type": "profile.storing.success",
            "profile": {"key": make_key("profile", source, i), "source": {"key": source}},
        }
        for i in range(count)
    ]
    body = json.dumps(events).encode()
    started = time.time()
    response = requests.post(
        f"{stack.url}/hrflow/webhook", data=body, timeout=60, headers={SIGNATURE_HEADER: sign(WEBHOOK_SECRET, body)}
    )
    answered = time.time() - started
    response.raise_for_status()
    while runs() < before + count and time.time() < started + 600:
        time.sleep(0.5)
    return {"answered": answered, "started": time.time() - started}


if __name__ == "__main__":
    raise SystemExit(main())
