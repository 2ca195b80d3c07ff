"""
Peak memory of a whole sync run under `airflow dags test` (part of `make bench-scale`).

`airflow dags test` runs every task of the run in one process, the way the README runs a sync by hand; a
scheduler runs each task in its own process (`bench/scale_run.py` samples those). This runs one
hrflow_profiles_to_ats run with default params on N generated profiles (the sandbox in its own process) and
samples every process of the run every 0.2 s: its resident memory and its high-water mark (VmHWM, which keeps
a peak shorter than the interval). The peak is the largest single process, never the sum of the tree; each
sample is put to the task running then (the run's `[DAG TEST] starting task_id=...` lines), so it prints the
task that peaks. Airflow's own footprint is the same command on 100 profiles; the sync's own share is the peak
above it.

Both profile sizes by default, at 50,000 and 200,000: small (the example's own, about 1 KB of mapped fields)
and realistic (sandbox ``realistic``: a summary of ~3 KB, a dozen skills and experiences, 26 KB of JSON each,
as HrFlow returns a parsed resume). ``--sizes``, ``--n`` pick fewer.

Baselines: issue #31, about 450 MB at 50,000 profiles and 740 MB at 200,000 (small profiles, the tree); issue
#38, 508 MB at 50,000 realistic profiles before batches and pages were bounded by bytes; issue #50, the figures
of BASELINE_MB (the largest process, the code whose batches held trimmed profiles for transform to map).
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
from typing import Any

import psutil

from bench.common import SOURCE, machine, sandbox_process, save
from sandbox.airflow_home import AIRFLOW, airflow_env, init_home

DAG_ID = "hrflow_profiles_to_ats"
TASK_LINE = re.compile(r"^(\S+) .*\[DAG TEST\] starting task_id=(\S+) map_index=(\S+)")
TIMELINE = bool(__import__("os").environ.get("TIMELINE"))  # print each task instance's peak, in order
SIZES = ("small", "realistic")
# (size, profiles) -> MB of the largest process before issue #50 (c60f9ed, 2026-12-07; 100 profiles: 252 MB)
BASELINE_MB: dict[tuple[str, int], int] = {("small", 50_000): 283, ("realistic", 50_000): 296}


def process_memory_kib(proc: psutil.Process) -> tuple[int, int]:
    """Return ``(VmRSS, VmHWM)`` of one process in KiB (0, 0 once it is gone)."""
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


class Sampler(threading.Thread):
    """
    Sample every process of the ``airflow dags test`` tree every 0.2 s: its resident memory, and its high-water
    mark (VmHWM, which catches a peak between two samples). Keep, per sample, the largest process's figure: the
    peak of one process, never the sum of the tree.
    """

    def __init__(self, root: psutil.Process, running: Any) -> None:
        super().__init__(daemon=True)
        self.root, self.running = root, running
        self.samples: list[tuple[float, int]] = []  # (time, MB of the largest process: RSS or a new VmHWM)
        self.hwm: dict[int, int] = {}

    def run(self) -> None:
        while self.running():
            largest = 0
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                procs = [self.root]
            for proc in procs:
                rss, hwm = process_memory_kib(proc)
                largest = max(largest, rss, hwm if hwm > self.hwm.get(proc.pid, 0) else 0)
                self.hwm[proc.pid] = max(self.hwm.get(proc.pid, 0), hwm)
            if largest:
                self.samples.append((time.time(), largest // 1024))
            time.sleep(0.2)

    @property
    def peak_mb(self) -> int:
        return max([mb for _, mb in self.samples] + [kib // 1024 for kib in self.hwm.values()], default=0)


def run(n: int, *, realistic: bool = True, conf: dict | None = None) -> tuple[int, dict[str, int], float, int]:
    """Run one sync of ``n`` profiles (``realistic``: full parsed resumes); return (peak MB, per task, s, exit)."""
    with sandbox_process() as sandbox:
        sandbox.reset_and_seed(n, hrflow_latency=0, ats_latency=0, generated=True, realistic=realistic)
        env = airflow_env(Path(tempfile.mkdtemp(prefix="dags_test_memory_")), sandbox.airflow_env())
        init_home(env)
        started = time.time()
        proc = subprocess.Popen(
            [AIRFLOW, "dags", "test", DAG_ID, "--conf", json.dumps({"source_keys": [SOURCE], **(conf or {})})],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        sampler = Sampler(psutil.Process(proc.pid), lambda: proc.poll() is None)
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
    for at, mb in sampler.samples:
        task = next((name for when, name in reversed(starts) if when <= at), "(start-up)")
        if TIMELINE:
            per_task[task] = max(per_task.get(task, 0), mb)
        task = re.sub(r"\[\d+\]$", "[]", task)
        per_task[task] = max(per_task.get(task, 0), mb)
    if proc.returncode:
        print(output[-4000:])
    return sampler.peak_mb, per_task, time.time() - started, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50_000, 200_000], help="profiles per run")
    parser.add_argument("--conf", type=json.loads, default={}, help="run conf beside source_keys (JSON)")
    parser.add_argument(
        "--sizes", nargs="+", choices=SIZES, default=list(SIZES), help="small (~1 KB), realistic (~26 KB)"
    )
    parser.add_argument("--small", action="store_true", help="small profiles only (as --sizes small)")
    parser.add_argument("--name", default="dags_test_memory", help="bench/results/<name>.txt")
    args = parser.parse_args(argv)
    sizes = ["small"] if args.small else args.sizes
    footprint, top_start, _, _ = run(100)
    lines = [
        f"# Peak memory under `airflow dags test` ({time.strftime('%Y-%m-%d %H:%M')})",
        f"machine: {machine()}",
        "one hrflow_profiles_to_ats run, default params"
        + (f" and {json.dumps(args.conf)}" if args.conf else "")
        + "; every process of the run sampled every 0.2 s (resident memory and its high-water mark, VmHWM):",
        "the peak is the largest single process, never the sum of the tree",
        f"Airflow's own footprint (the same run on 100 profiles): {footprint} MB, reached in {peak_task(top_start)}",
        "",
        f"{'size':>9} {'profiles':>9} {'peak MB':>8} {'goal':>6} {'before':>7} {'sync MB':>8} {'goal':>5}"
        f" {'seconds':>8}  task that peaks (MB); next",
    ]
    failed = False
    for size in sizes:
        for n in args.n:
            peak, per_task, seconds, code = run(n, realistic=size == "realistic", conf=args.conf)
            own = peak - footprint
            failed |= code != 0 or peak >= 300 or own > 60
            if TIMELINE:
                print("\n".join(f"{t} {mb}" for t, mb in per_task.items()))
            top = sorted(per_task.items(), key=lambda kv: -kv[1])[:3]
            before = BASELINE_MB.get((size, n))
            lines.append(
                f"{size:>9} {n:>9,} {peak:>8} {'< 300':>6} {before if before else '-':>7} {own:>8} {'<= 60':>5}"
                f" {seconds:>8.0f}  {', '.join(f'{t} {mb}' for t, mb in top)}" + ("" if code == 0 else f"  EXIT {code}")
            )
    lines += [
        "",
        "sync MB: the peak above Airflow's own footprint. before: the same measure (largest process) on the code",
        "before issue #50, where the listing's trimmed profiles went into the batch and transform mapped them.",
        "Profiles: small, the example's (~1 KB of the mapped fields); realistic, a parsed resume (~3 KB summary,",
        "12 skills and experiences, 26 KB of JSON each). The sandbox generates them (sandbox/generated.py).",
    ]
    save(args.name, "\n".join(lines) + "\n")
    return 1 if failed else 0


def peak_task(per_task: dict[str, int]) -> str:
    """Return the task whose samples reach the peak."""
    return max(per_task, key=per_task.get, default="(none)")


if __name__ == "__main__":
    raise SystemExit(main())
