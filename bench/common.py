"""Shared bench helpers: a sandbox in its own process, an Airflow home, timing and machine facts."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from sandbox.airflow_home import REPO, free_port
from sandbox.connections import sandbox_connections
from sandbox.objects import make_key

SOURCE = make_key("source", "bench")
RESULTS = REPO / "bench" / "results"


class SandboxProcess:
    """The sandbox in a separate process (so it never competes with the measured code for the GIL)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--port", str(self.port), "--profiles", "0", "--jobs", "0"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                requests.get(f"{self.url}/_sandbox/health", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("sandbox did not start")

    def control(self, route: str, body: dict | None = None) -> Any:
        method = "GET" if route == "state" else "POST"
        response = requests.request(method, f"{self.url}/_sandbox/{route}", json=body, timeout=600)
        response.raise_for_status()
        return response.json()

    def reset_and_seed(
        self, count: int, *, hrflow_latency: float, ats_latency: float, generated: bool = False, realistic: bool = False
    ) -> None:
        self.control("reset")
        self.control(
            "seed",
            {
                "kind": "profile",
                "container": SOURCE,
                "count": count,
                "generated": generated,
                "realistic": realistic,
                "created_at": "2026-01-01T00:00:00+00:00",
                "spread_seconds": 1,
            },
        )
        self.control("latency", {"hrflow": hrflow_latency, "ats": ats_latency})

    def airflow_env(self) -> dict[str, str]:
        env = {f"AIRFLOW_CONN_{cid.upper()}": json.dumps(c) for cid, c in sandbox_connections(self.url).items()}
        env["AIRFLOW_VAR_HRFLOW_SOURCE_KEYS"] = json.dumps([SOURCE])
        return env

    def check_exactly_once(self, count: int) -> dict[str, int]:
        """Return lost / duplicate / untagged counts for the ``count`` seeded profiles (counted by the sandbox)."""
        result = self.control("exactly_once", {"kind": "profile", "container": SOURCE, "ats": "profiles"})
        if result["objects"] != count:
            raise RuntimeError(f"the sandbox holds {result['objects']} profiles, not {count}: {result}")
        return result

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@contextmanager
def sandbox_process() -> Iterator[SandboxProcess]:
    sandbox = SandboxProcess()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def cpu_reference() -> float:
    """
    Return the microseconds one ``json.loads`` of the example profile (12.5 KB) takes here, best of 5.

    This shared machine's speed varies from hour to hour (the same figure has read 60 and 105 µs); printed
    beside every result, it tells which runs are comparable.
    """
    text = (REPO / "sandbox" / "profile_example.json").read_text()
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(300):
            json.loads(text)
        best = min(best, (time.perf_counter() - started) / 300 * 1e6)
    return best


def machine() -> str:
    cpus = os.cpu_count()
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = 0
    return (
        f"{platform.machine()}, {cpus} CPU(s), {mem:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()}; "
        f"CPU reference: {cpu_reference():.0f} µs per json.loads of the example profile (lower is faster)"
    )


def save(name: str, text: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.txt").write_text(text)
    print(text)


def unpause_and_settle(stack, dag_id: str, timeout: float = 300) -> None:
    """
    Unpause ``dag_id`` and wait for the scheduled run that unpausing creates (catchup=False) to end, so the
    run a bench measures is the only one: a scheduled run takes every pending object created before its
    interval end.
    """
    import time as _time

    stack.unpause(dag_id)
    deadline = _time.monotonic() + timeout
    while _time.monotonic() < deadline:
        runs = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns").json()["dag_runs"]
        if runs and all(r["state"] in ("success", "failed") for r in runs):
            return
        _time.sleep(1)
    raise TimeoutError(f"the scheduled run of {dag_id} did not end in {timeout:.0f} s")


def local_stack(home: Any, sandbox: SandboxProcess, parallelism: int) -> Any:
    """
    Return a real api-server, scheduler and dag-processor (not started) in ``home``, on LocalExecutor with
    ``parallelism`` task slots, pointed at ``sandbox``. Airflow's default task_queued_timeout (the test stack's
    120 s fails fast on a missing pool): with hundreds of mapped tasks some wait longer than 120 s.
    """
    from pathlib import Path

    from sandbox.airflow_home import AirflowStack

    return AirflowStack(
        Path(home),
        extra_env={
            **sandbox.airflow_env(),
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600",
        },
    )


def percentile(values: list[float], pct: float) -> float:
    """Return the ``pct``-th percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]
