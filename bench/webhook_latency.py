"""`make bench-webhook`: webhook-to-SMS latency on `airflow standalone`, p50 and p95 over 50 events.

One signed real-shaped delivery (an array with one `profile.storing.success` event and the whole profile) at a
time; latency runs from sending the webhook to the SMS reaching the sandbox's messaging receiver. Also reports
how fast the endpoint itself answers.

`make bench-webhook ARGS=--cold` (``--cold``): nothing but the burst of 450 deliveries, sent to an api-server that
started 20 s before (``--after``), as a deploy or a restart meets HrFlow's redeliveries: answers at p99 and the
SMS drained, beside the baseline and the goal.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import requests

from bench.common import machine, percentile, save
from hrflow_airflow.events.signing import SIGNATURE_HEADER, sign
from sandbox.airflow_home import AirflowStack
from sandbox.objects import WEBHOOK_SECRET, make_key
from sandbox.server import SandboxServer

SOURCE = make_key("source", "webhook-bench")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--bulk", type=int, default=1000, help="events in the one bulk delivery (0: none)")
    parser.add_argument("--burst", type=int, default=450, help="single-event deliveries from 8 threads in 10 s")
    parser.add_argument("--cold", action="store_true", help="only the burst, on an api-server just started")
    parser.add_argument("--after", type=float, default=20.0, help="--cold: seconds after the api-server started")
    parser.add_argument("--seconds", type=float, default=None, help="the burst's length (10 s; 7 s with --cold)")
    args = parser.parse_args(argv)
    if args.cold:
        return cold(args)
    bulk: dict[str, float] = {}
    burst: dict[str, float] = {}
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
            if args.burst:
                burst = burst_deliveries(server, stack, args.burst, args.seconds or 10.0)
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
    if burst:
        lines += [
            "",
            f"a burst: {args.burst} single-event deliveries in 10 s from 8 threads ({burst['profiles']} new profiles, "
            "each announced by parsing.success and storing.success, then storing.update for some; the SMS "
            "endpoint ignores Idempotency-Key):",
            f"  answered p50 {burst['p50'] * 1000:.0f} ms, p99 {burst['p99'] * 1000:.0f} ms, max "
            f"{burst['max'] * 1000:.0f} ms (target p99 < 1 s; 3.65 s when small deliveries started their runs "
            "before answering)",
            f"  SMS: {burst['sms']} for {burst['profiles']} profiles in {burst['runs']} runs, the last "
            f"{burst['drained']:.1f} s after the first delivery (target < 60 s; 117 s before; 42.6 s with a run per "
            "profile)",
        ]
    if bulk:
        lines += [
            "",
            f"one delivery of {args.bulk} new profiles (a bulk import), the SMS DAG paused: answered in "
            f"{bulk['answered']:.2f} s (target < 2 s; 16.7 s before the inbox); all {args.bulk} profiles in "
            f"{bulk['runs']} runs, started {bulk['started']:.1f} s after sending (1,000 runs in 13.8 s when each "
            "profile had its own)",
        ]
    save("webhook_latency", "\n".join(lines + [f"FAILED: {f}" for f in failures]) + "\n")
    burst_ok = not burst or (burst["p99"] < 1 and burst["drained"] < 60 and burst["sms"] == burst["profiles"])
    return 1 if failures or percentile(latencies, 50) >= 5 or not burst_ok else 0


COLD_BASELINE = {"p99": 4.39, "drained": 62.0}  # issue 50: 450 deliveries in 7 s, 20 s after the api-server started
COLD_GOAL = {"p99": 1.0, "drained": 60.0}


def cold(args: argparse.Namespace) -> int:
    """Send only the burst, ``args.after`` seconds after the api-server started; print it beside baseline and goal."""
    server = SandboxServer().start_in_thread()
    seconds = args.seconds or 7.0
    with tempfile.TemporaryDirectory(prefix="hrflow-webhook-cold-") as home:
        stack = AirflowStack(Path(home), extra_env=server.airflow_env())
        stack.start(wait_for_dags=("hrflow_profile_sms",), standalone=True)
        try:
            born = api_server_started(stack)
            ready = time.time() - born
            time.sleep(max(0.0, born + args.after - time.time()))
            sent_after, load_before = time.time() - born, os.getloadavg()[0]
            burst = burst_deliveries(server, stack, args.burst, seconds)
            load_after = os.getloadavg()[0]
            built = re.search(
                r"execution API built at start in ([0-9.]+) s", (Path(home) / "standalone.log").read_text()
            )
        finally:
            stack.stop()
            server.shutdown()
    lines = [
        f"# Webhook on a cold api-server ({time.strftime('%Y-%m-%d %H:%M')})",
        f"machine: {machine()}",
        f"load average (1 min): {load_before:.1f} when the burst began, {load_after:.1f} when its SMS were drained",
        f"setup: airflow standalone in a fresh home, the API answering {ready:.1f} s after the api-server process "
        f"started (Airflow's execution API built in {built.group(1) + ' s' if built else '?'} in a thread from its "
        "start, which its first task's call used to do on the event loop); "
        f"{args.burst} signed single-event deliveries "
        f"from 8 threads in {seconds:.0f} s, the first {sent_after:.1f} s after the api-server started "
        f"({burst['profiles']} new profiles, each announced by "
        "parsing.success and storing.success, then storing.update for some; the SMS endpoint ignores Idempotency-Key)",
        "",
        f"{'':28} {'now':>8} {'baseline':>9} {'goal':>8}",
        f"{'answered p99 (s)':28} {burst['p99']:8.2f} {COLD_BASELINE['p99']:9.2f} {'< 1':>8}",
        f"{'SMS drained (s)':28} {burst['drained']:8.1f} {COLD_BASELINE['drained']:9.0f} {'< 60':>8}",
        f"answered p50 {burst['p50'] * 1000:.0f} ms, max {burst['max'] * 1000:.0f} ms; slowest deliveries (by "
        f"position): {burst['slowest']}; SMS: {burst['sms']} for {burst['profiles']} profiles (one each is the goal), "
        f"in {burst['runs']} SMS runs",
    ]
    save("webhook_latency_cold", "\n".join(lines) + "\n")
    met = burst["p99"] < COLD_GOAL["p99"] and burst["drained"] < COLD_GOAL["drained"]
    return 0 if met and burst["sms"] == burst["profiles"] else 1


def api_server_started(stack: AirflowStack) -> float:
    """Return when the stack's api-server process started (epoch seconds): ``airflow standalone`` spawns it."""
    import psutil

    root = psutil.Process(stack.named["standalone"].pid)
    for proc in [root, *root.children(recursive=True)]:
        if "api-server" in " ".join(proc.cmdline()) or "api_server" in proc.name():
            return proc.create_time()
    raise RuntimeError("no api-server process under airflow standalone")


def burst_deliveries(server: SandboxServer, stack: AirflowStack, deliveries: int, seconds: float = 10.0) -> dict:
    """Send ``deliveries`` single-event deliveries from 8 threads, paced over ``seconds``: two new-profile events
    per profile, the rest updates; return answer times and when the last SMS arrived."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    source, before = make_key("source", "burst"), set(sms_runs(stack))
    keys = server.state.seed("profile", source, deliveries * 2 // 5, start=10_000)  # phones no earlier SMS had
    profiles = {key: server.state.get("profile", source, key) for key in keys}
    events = [(t, key) for key in keys for t in ("profile.parsing.success", "profile.storing.success")]
    events += [("profile.storing.update", key) for key in keys[: deliveries - len(events)]]
    random.Random(7).shuffle(events)
    bodies = [json.dumps([{"type": t, "origin": "api", "profile": profiles[k]}]).encode() for t, k in events]
    phones = {p["info"]["phone"] for p in profiles.values()}
    start = time.time() + 0.5

    def send(i: int) -> float:
        time.sleep(max(0.0, start + i * seconds / len(bodies) - time.time()))
        sent = time.time()
        answer = requests.post(
            f"{stack.url}/hrflow/webhook",
            data=bodies[i],
            timeout=60,
            headers={SIGNATURE_HEADER: sign(WEBHOOK_SECRET, bodies[i])},
        )
        answer.raise_for_status()
        return time.time() - sent

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(len(bodies))))

    def ours() -> list[float]:
        state = server.state.sms
        return [
            at for body, at in zip(state.bodies, state.received_at) if body["text"].rsplit(" ", 1)[-1][:-1] in phones
        ]

    while len(ours()) < len(keys) and time.time() < start + 600:
        time.sleep(0.5)
    time.sleep(5)  # a second SMS for a profile would show now
    arrived = ours()
    return {
        "p50": percentile(answers, 50),
        "p99": percentile(answers, 99),
        "max": max(answers),
        "profiles": len(keys),
        "sms": len(arrived),
        "drained": (max(arrived) - start) if arrived else float("inf"),
        "runs": len(set(sms_runs(stack)) - before),
        "slowest": sorted(range(len(answers)), key=answers.__getitem__)[-5:],  # which deliveries: cold or contended
    }


def sms_runs(stack: AirflowStack) -> dict[str, int]:
    """Return each SMS run and how many profiles it carries (a burst's profiles share runs: events/inbox.py)."""
    from hrflow_airflow.events.inbox import members_of

    runs, offset = {}, 0
    while True:
        page = stack.api(
            "GET", "/api/v2/dags/hrflow_profile_sms/dagRuns", params={"limit": 100, "offset": offset}
        ).json()["dag_runs"]
        runs.update({r["dag_run_id"]: len(members_of(r["dag_run_id"], r["conf"] or {})) for r in page})
        if len(page) < 100:
            return runs
        offset += 100


def bulk_delivery(stack: AirflowStack, count: int) -> dict[str, float]:
    """Send one delivery of ``count`` events with the SMS DAG paused; return when it was answered and started."""
    stack.api("PATCH", "/api/v2/dags/hrflow_profile_sms", json={"is_paused": True}).raise_for_status()
    before, source = set(sms_runs(stack)), make_key("source", "bulk")
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
    while True:
        new = {run: n for run, n in sms_runs(stack).items() if run not in before}
        if sum(new.values()) >= count or time.time() > started + 600:
            return {"answered": answered, "started": time.time() - started, "runs": len(new)}
        time.sleep(0.5)


if __name__ == "__main__":
    raise SystemExit(main())
