"""`make bench-http`: CPU per HrFlow call of the tagging path (re-read + PUT through the official SDK).

The baseline is the SDK on a plain ``requests.Session`` (proxy and CA settings read once, as before
``LeanSession``); the measured path is what ``HrFlowHook`` uses, ``pooled_session(base_url=...)``, a
:class:`hrflow_airflow.hooks.lean.LeanSession`. Both run against the same sandbox process (generated real-shaped
profiles, no latency), one thread and then 10 threads in one process, alternately, best of three rounds. Prints
client and sandbox CPU per call. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import requests
from requests.adapters import HTTPAdapter

from bench.common import SOURCE, machine, sandbox_process, save


def plain_session(pool_size: int) -> requests.Session:
    """Return the session hooks used before LeanSession: requests all the way, environment read once."""
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    return session


def measure(hook, keys: list[str], threads: int, sandbox_pid: int) -> tuple[float, float]:
    """Return (client, sandbox) CPU ms per HTTP call for a re-read + PUT of every key."""
    from hrflow_airflow.objects import PROFILE

    def one(key: str) -> None:
        hook.edit_object(PROFILE, SOURCE, hook.get_object(PROFILE, SOURCE, key))

    server = psutil.Process(sandbox_pid)
    client_before, server_before = time.process_time(), sum(server.cpu_times()[:2])
    if threads == 1:
        for key in keys:
            one(key)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one, keys))
    calls = 2 * len(keys)
    return (
        (time.process_time() - client_before) / calls * 1000,
        (sum(server.cpu_times()[:2]) - server_before) / calls * 1000,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="profiles re-read and PUT per measurement")
    args = parser.parse_args(argv)
    with sandbox_process() as sandbox:
        sandbox.reset_and_seed(args.n, hrflow_latency=0, ats_latency=0, generated=True)
        os.environ.update(sandbox.airflow_env())
        from hrflow_airflow.hooks.hrflow_api import HrFlowHook

        hooks = {"requests.Session (baseline)": HrFlowHook(pool_size=10), "LeanSession": HrFlowHook(pool_size=10)}
        hooks["requests.Session (baseline)"].client.session = plain_session(10)
        keys = [
            obj["key"]
            for obj in hooks["LeanSession"].client.profile.storing.list(
                source_keys=[SOURCE], limit=args.n, page=1, return_profile=True
            )["data"]
        ]
        best: dict[tuple[str, int], tuple[float, float]] = {}
        for _ in range(3):
            for threads in (1, 10):
                for name, hook in hooks.items():
                    client, server = measure(hook, keys, threads, sandbox.proc.pid)
                    old = best.get((name, threads), (float("inf"), float("inf")))
                    best[(name, threads)] = (min(old[0], client), min(old[1], server))
    lines = [
        f"# CPU per HrFlow call, re-read + PUT of a 12.5 KB profile through the SDK ({time.strftime('%Y-%m-%d')})",
        f"machine: {machine()}",
        f"setup: {args.n} generated profiles, sandbox without latency in its own process, best of 3 rounds",
        "",
        f"{'':44} {'client ms':>10} {'sandbox ms':>11}",
    ]
    for threads in (1, 10):
        for name in hooks:
            client, server = best[(name, threads)]
            lines.append(f"{name + f', {threads} thread(s)':44} {client:10.2f} {server:11.2f}")
    base, lean = best[("requests.Session (baseline)", 1)][0], best[("LeanSession", 1)][0]
    lines += ["", f"client CPU per call, one thread: {lean:.2f} ms against {base:.2f} ms ({base / lean:.1f}x less)"]
    save("http_cpu", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
