"""`make bench-scale` (50,000 profiles) and `make bench-migration` (1,000,000 profiles at 20 ms per HrFlow
call): one hrflow_profiles_to_ats run with default params on SQLite + LocalExecutor.

A real api-server, scheduler and dag-processor (sandbox/airflow_home.py's AirflowStack) in a temporary home;
the sandbox in its own process (a generated source above 100,000 profiles: sandbox/generated.py). Reports
wall time, objects per second, the HrFlow call floor at the run's concurrency, the peak RSS of every task
(VmHWM of each `airflow worker -- <ti>` process, sampled while the run lasts), XCom bytes stored in the
metadata DB (large values live in object storage, the DB holds their paths), the number of mapped task
instances, and lost / duplicated / untagged profiles (counted by the sandbox).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

from bench.common import local_stack, machine, sandbox_process, save, unpause_and_settle
from sandbox.airflow_home import AirflowStack

DAG_ID = "hrflow_profiles_to_ats"
TASK_TITLE = re.compile(r"^airflow worker -- ([0-9a-f]{8}-[0-9a-f-]{27})")  # a task process, titled with its TI id


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class TaskRssSampler(threading.Thread):
    """Keep the highest VmHWM seen per task process ('airflow worker -- <ti id>'), by task instance id."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_by_ti: dict[str, int] = {}
        self._done = threading.Event()

    @property
    def peak_kib(self) -> int:
        return max(self.peak_by_ti.values(), default=0)

    def run(self) -> None:
        while not self._done.is_set():
            for proc in psutil.process_iter(["pid", "cmdline"]):
                title = TASK_TITLE.match(" ".join(proc.info["cmdline"] or []).strip())
                if title:
                    ti = title.group(1)
                    self.peak_by_ti[ti] = max(self.peak_by_ti.get(ti, 0), _vm_hwm_kib(proc.info["pid"]))
            time.sleep(0.25)  # VmHWM is the process's high-water mark: one look before it exits is enough

    def stop(self) -> None:
        self._done.set()
        self.join()


def conf_value(stack: AirflowStack, section: str, key: str, default: str) -> str:
    """Return an ``[hrflow]`` setting as the stack's environment sets it, else its default."""
    return stack.env.get(f"AIRFLOW__{section.upper()}__{key.upper()}", default)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the run plans it")
    parser.add_argument("--concurrency", type=int, default=None, help="default: the run plans it")
    parser.add_argument("--parallelism", type=int, default=4, help="LocalExecutor task slots")
    parser.add_argument("--hrflow-latency", type=float, default=0.0, help="seconds per HrFlow call (sandbox)")
    parser.add_argument("--name", default="scale_run", help="bench/results/<name>.txt")
    parser.add_argument("--generated", action="store_true", help="generated sandbox source (default above 100,000)")
    args = parser.parse_args(argv)
    generated = args.generated or args.n > 100_000  # a million real-shaped profiles as dicts would not fit in memory

    with sandbox_process() as sandbox, tempfile.TemporaryDirectory(prefix="hrflow-scale-") as home:
        sandbox.reset_and_seed(0, hrflow_latency=0, ats_latency=0)
        stack = local_stack(home, sandbox, args.parallelism)
        stack.start(wait_for_dags=(DAG_ID,))
        unpause_and_settle(stack, DAG_ID)
        sandbox.reset_and_seed(args.n, hrflow_latency=args.hrflow_latency, ats_latency=0, generated=generated)
        sampler = TaskRssSampler()
        sampler.start()
        try:
            emulator = psutil.Process(sandbox.proc.pid)
            emulator_cpu = sum(emulator.cpu_times()[:2])
            machine_cpu = sum(psutil.cpu_times()[:3])  # user, nice, system of every process
            started = datetime.now(timezone.utc)
            tuning = {k: v for k, v in (("batch_size", args.batch_size), ("concurrency", args.concurrency)) if v}
            run = stack.api(
                "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": tuning}
            ).json()
            # every 5 s: each poll costs the api-server ~0.3 s of CPU on a large run, taken from the run measured
            state = stack.wait_for_run(DAG_ID, run["dag_run_id"], timeout=7200, poll=5)
            ended = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}").json()["end_date"]
            wall = (datetime.fromisoformat(ended.replace("Z", "+00:00")) - started).total_seconds()  # not the poll's
            emulator_cpu = sum(emulator.cpu_times()[:2]) - emulator_cpu
            machine_cpu = sum(psutil.cpu_times()[:3]) - machine_cpu
            sampler.stop()
            tis = []
            while True:  # the API serves at most [api] maximum_page_limit (100) per page
                page = stack.api(
                    "GET",
                    f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances",
                    params={"limit": 100, "offset": len(tis)},
                ).json()["task_instances"]
                tis += page
                if len(page) < 100:
                    break
        finally:
            sampler.stop() if sampler.is_alive() else None
            stack.stop()
        names = {ti["id"]: f"{ti['task_id']}" + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "") for ti in tis}
        peak_ti = max(sampler.peak_by_ti, key=sampler.peak_by_ti.get, default=None)
        peak_task = names.get(peak_ti, "unknown")
        sampled = len(set(sampler.peak_by_ti) & set(names))
        # a task shorter than the sampler's interval can end before it is seen: name it rather than count it in
        unsampled = sorted(name for ti_id, name in names.items() if ti_id not in sampler.peak_by_ti)
        peak_by_task: dict[str, int] = {}
        for ti in tis:
            if ti["id"] in sampler.peak_by_ti:
                peak_by_task[ti["task_id"]] = max(peak_by_task.get(ti["task_id"], 0), sampler.peak_by_ti[ti["id"]])
        spans: dict[str, list[datetime]] = {}  # task -> [first start, last end]
        for ti in tis:
            if ti.get("start_date") and ti.get("end_date"):
                begin, end = (datetime.fromisoformat(ti[k].replace("Z", "+00:00")) for k in ("start_date", "end_date"))
                span = spans.setdefault(ti["task_id"], [begin, end])
                span[0], span[1] = min(span[0], begin), max(span[1], end)
        check = sandbox.check_exactly_once(args.n)
        calls = sandbox.control("calls")["calls"]
        with sqlite3.connect(Path(home) / "airflow.db") as db:
            xcom_bytes, xcom_rows = db.execute(
                "SELECT COALESCE(SUM(LENGTH(value)), 0), COUNT(*) FROM xcom WHERE run_id = ?", (run["dag_run_id"],)
            ).fetchone()
            mapped = db.execute(
                "SELECT COUNT(*) FROM task_instance WHERE run_id = ? AND map_index >= 0", (run["dag_run_id"],)
            ).fetchone()[0]
            batches = db.execute(
                "SELECT COUNT(*) FROM task_instance WHERE run_id = ? AND task_id = 'batch.transform'",
                (run["dag_run_id"],),
            ).fetchone()[0]
        offloaded = sum(p.stat().st_size for p in (Path(home) / "xcom").rglob("*") if p.is_file())

    hrflow_calls = sum(n for name, n in calls.items() if name.split(" ")[-1].startswith("/v1/"))
    listing_calls = sum(n for name, n in calls.items() if name.endswith(("/searching", "/storing/profiles")))
    in_flight = int(conf_value(stack, "hrflow", "max_in_flight", "40"))
    floor = hrflow_calls * args.hrflow_latency / in_flight
    latency = (
        f"{args.hrflow_latency * 1000:.0f} ms per HrFlow call" if args.hrflow_latency else "sandbox without latency"
    )
    cpu_seconds = wall * (os.cpu_count() or 1)
    lines = [
        f"# Scale run: {args.n} profiles, one hrflow_profiles_to_ats run ({time.strftime('%Y-%m-%d')})",
        f"machine: {machine()}",
        f"setup: SQLite + LocalExecutor (parallelism {args.parallelism}), real scheduler, {latency}, "
        f"params: {json.dumps(tuning) if tuning else 'defaults (the run plans batch size and concurrency)'}"
        + (", generated sandbox source" if generated else ""),
        "",
        f"{'':44} {'measured':>12} {'target':>12}",
        f"{'run state':44} {state:>12}",
        f"{'wall time (s)':44} {wall:12.0f}",
        f"{'objects per second':44} {args.n / wall:12.0f}",
        f"{'CPU used by the sandbox emulators (s, % of 2 CPUs)':44} {emulator_cpu:12.0f} "
        f"{100 * emulator_cpu / cpu_seconds:11.0f}%",
        f"{'CPU used by Airflow, its tasks and the bench':44} {machine_cpu - emulator_cpu:12.0f} "
        f"{100 * (machine_cpu - emulator_cpu) / cpu_seconds:11.0f}%",
        f"{'HrFlow calls (listing pages)':44} {hrflow_calls:12} {'(' + str(listing_calls) + ')':>12}",
        *(
            [
                f"{'HrFlow call floor, calls x L / ' + str(in_flight) + ' in flight (s)':44} {floor:12.0f}",
                f"{'wall / floor':44} {wall / floor:12.2f} {'<= 1.5':>12}",
            ]
            if floor
            else []
        ),
        f"{'peak RSS of the largest task process (MB)':44} {sampler.peak_kib / 1024:12.0f} {'< 300':>12}",
        f"{'  reached by':44} {peak_task:>12}",
        *[f"{'  peak RSS of ' + task + ' (MB)':44} {kib / 1024:12.0f}" for task, kib in sorted(peak_by_task.items())],
        f"{'XCom in the metadata DB (bytes, rows)':44} {xcom_bytes:12} {xcom_rows:>12}",
        f"{'XCom in the DB per batch (bytes)':44} {xcom_bytes / max(batches, 1):12.0f} {'< 2048':>12}",
        f"{'XCom offloaded to object storage (MB)':44} {offloaded / 2**20:12.1f}",
        f"{'batches / mapped task instances':44} {batches:>5} / {mapped:<5}",
        *[
            f"{'  ' + task + ' ran from - to (s after trigger)':44} "
            f"{(span[0] - started).total_seconds():5.0f} - {(span[1] - started).total_seconds():<5.0f}"
            for task, span in sorted(spans.items(), key=lambda item: item[1][0])
        ],
        f"{'task instances whose process was sampled':44} {sampled:>5} of {len(names):<5}"
        + (f" (not sampled: {', '.join(unsampled)})" if unsampled else ""),
        f"{'task instances retried':44} {sum(1 for ti in tis if ti.get('try_number', 1) > 1):>5}",
        f"{'profiles lost / duplicated / untagged':44} {check['lost']:>4} /{check['duplicates']:>3} "
        f"/{check['untagged']:>3}",
        f"{'ATS requests / same-key replays (re-POSTs)':44} {check['requests']:>5} / {check['replays']:<5}",
        "",
        "Ceiling: a run maps at most 1,024 batches ([core] max_map_length); beyond batch_size x 1,024 objects the",
        "search task grows the batch size instead (config.plan_run), so any run size stays within the limit.",
    ]
    if args.hrflow_latency:
        per_call = wall / max(hrflow_calls, 1)
        # against the real HrFlow, the emulator's CPU is not this machine's: what the DAG itself needs per call
        own = (wall * (os.cpu_count() or 1) - emulator_cpu) / (os.cpu_count() or 1) / max(hrflow_calls, 1)
        lines += [
            "",
            f"Projection for {args.n:,} profiles at HrFlow's real latency L, {in_flight} calls in flight: "
            f"max(calls x L / {in_flight}, {per_call * 1000:.2f} ms of this machine per call x calls; "
            f"{own * 1000:.2f} ms without the emulator's CPU):",
        ]
        lines += [
            f"  L = {ms} ms: about {max(hrflow_calls * ms / 1000 / in_flight, per_call * hrflow_calls) / 3600:.1f} h"
            for ms in (50, 100, 200, 500)
        ]
    save(args.name, "\n".join(lines) + "\n")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main())
