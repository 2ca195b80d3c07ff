"""
Peak memory of a whole sync run under `airflow dags test` (part of `make bench-scale`).

`airflow dags test` runs every task of the run in one process, the way the README runs a sync by hand; a
scheduler runs each task in its own process (`bench/scale_run.py` samples those). This runs one
hrflow_profiles_to_ats run with default params on N generated profiles (the sandbox in its own process) and
samples the resident memory of the whole `airflow dags test` process tree every 0.2 s. It prints the peak, the
peak per task (from the run's `[DAG TEST] starting task_id=...` lines) and Airflow's own footprint: the same
command on 100 profiles.

Profiles are realistic by default (sandbox ``realistic``: a summary of ~3 KB, a dozen skills and experiences,
26 KB of JSON each, as HrFlow returns a parsed resume); ``--small`` uses the example's own.

Baseline (issue #31, before this bench): about 450 MB at 50,000 profiles and 740 MB at 200,000 (small profiles);
with realistic profiles, 508 MB at 50,000 before batches and pages were bounded by bytes (issue #38).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil

from bench.common import SOURCE, machine, sandbox_process, save
from sandbox.airflow_home import AIRFLOW, airflow_env, init_home

DAG_ID = "hrflow_profiles_to_ats"
TASK_LINE = re.compile(r"^(\S+) .*\[DAG TEST\] starting task_id=(\S+) map_index=(\S+)")
TIMELINE = bool(__import__("os").environ.get("TIMELINE"))  # print each task instance's peak, in order
BASELINE_MB = {50_000: 508}  # realistic profiles, measured before the byte bounds (issue #38)


def tree_rss_mb(root: psutil.Process) -> int:
    """Return the resident memory of ``root`` and every process under it, in MB."""
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total // 2**20


def run(n: int, *, realistic: bool = True, conf: dict | None = None) -> tuple[int, dict[str, int], float, int]:
    """Run one sync of ``n`` profiles (``realistic``: full parsed resumes); return (peak MB, per task, s, exit)."""
    with sandbox_process() as sandbox:
        sandbox.reset_and_seed(n, hrflow_latency=0, ats_latency=0, generated=True, realistic=realistic)
        env = airflow_env(Path(tempfile.mkdtemp(prefix="dags_test_memory_")), sandbox.airflow_env())
        init_home(env)
        started = time.time()
        proc = subprocess.Popen(
            [AIRFLOW, "dags", "test", DAG_ID, "--conf", json.dumps({"source_keys": [SOURCE], **(conf or {})})],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        root, samples = psutil.Process(proc.pid), []

        def sample() -> None:
            while proc.poll() is None:
                samples.append((time.time(), tree_rss_mb(root)))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        output = proc.stdout.read()
        proc.wait()
        sampler.join()
    starts = []
    for line in output.splitlines():
        if match := TASK_LINE.match(line):
            at = datetime.fromisoformat(match.group(1).replace("Z", "+00:00")).timestamp()
            starts.append((at, f"{match.group(2)}" + ("" if match.group(3) == "-1" else f"[{match.group(3)}]")))
    per_task: dict[str, int] = {}
    for at, mb in samples:
        task = next((name for when, name in reversed(starts) if when <= at), "(start-up)")
        if TIMELINE:
            per_task[task] = max(per_task.get(task, 0), mb)
        task = re.sub(r"\[\d+\]$", "[]", task)
        per_task[task] = max(per_task.get(task, 0), mb)
    return max(mb for _, mb in samples), per_task, time.time() - started, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50_000, 200_000], help="profiles per run")
    parser.add_argument("--conf", type=json.loads, default={}, help="run conf beside source_keys (JSON)")
    parser.add_argument("--small", action="store_true", help="the example's small profiles, not realistic ones")
    args = parser.parse_args(argv)
    footprint, _, _, _ = run(100)
    lines = [
        f"# Peak memory under `airflow dags test` ({time.strftime('%Y-%m-%d')})",
        f"machine: {machine()}",
        "one hrflow_profiles_to_ats run, default params, the whole process tree sampled every 0.2 s",
        f"Airflow's own footprint (the same run on 100 profiles): {footprint} MB",
        "",
        f"{'profiles':>9} {'peak MB':>8} {'goal':>6} {'before':>7} {'seconds':>8}  largest tasks",
    ]
    failed = False
    for n in args.n:
        peak, per_task, seconds, code = run(n, realistic=not args.small, conf=args.conf)
        failed |= code != 0 or peak >= 300
        if TIMELINE:
            print("\n".join(f"{t} {mb}" for t, mb in per_task.items()))
        top = ", ".join(f"{t} {mb}" for t, mb in sorted(per_task.items(), key=lambda kv: -kv[1])[:3])
        before = BASELINE_MB.get(n)
        lines.append(
            f"{n:>9,} {peak:>8} {'< 300':>6} {before if before else '-':>7} {seconds:>8.0f}  {top}"
            + ("" if code == 0 else f"  EXIT {code}")
        )
    lines += [
        "",
        "The peak is Airflow's own process plus one task's working set: the listing reads one slice of pages of",
        "about 2 MB, and batches are cut at 5,000 objects or 6 MB of trimmed JSON under dags test (sync/plan.py),",
        "whatever the run size. Profiles: --small, the example's; else realistic (~3 KB summary, 12 skills and",
        "experiences, 26 KB of JSON each).",
    ]
    save("dags_test_memory", "\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
