"""`make bench-scale`: 50,000 profiles in one hrflow_profiles_to_ats run on SQLite + LocalExecutor.

A real api-server, scheduler and dag-processor (sandbox/airflow_home.py's AirflowStack) in a temporary home;
the sandbox in its own process. Reports wall time, the peak RSS of the largest task process (VmHWM of every
`airflow worker -- <ti>` process, sampled while the run lasts), XCom bytes stored in the metadata DB (large
values live in object storage, the DB holds their paths), and the number of mapped task instances.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench.common import machine, sandbox_process, save, unpause_and_settle
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
            time.sleep(0.05)

    def stop(self) -> None:
        self._done.set()
        self.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the run plans it")
    parser.add_argument("--concurrency", type=int, default=None, help="default: the run plans it")
    parser.add_argument("--parallelism", type=int, default=4, help="LocalExecutor task slots")
    args = parser.parse_args(argv)

    with sandbox_process() as sandbox, tempfile.TemporaryDirectory(prefix="hrflow-scale-") as home:
        sandbox.reset_and_seed(0, hrflow_latency=0, ats_latency=0)
        stack = AirflowStack(Path(home), extra_env={**sandbox.airflow_env(),
                                                    "AIRFLOW__CORE__PARALLELISM": str(args.parallelism)})
        stack.start(wait_for_dags=(DAG_ID,))
        unpause_and_settle(stack, DAG_ID)
        sandbox.reset_and_seed(args.n, hrflow_latency=0, ats_latency=0)
        sampler = TaskRssSampler()
        sampler.start()
        try:
            started = time.monotonic()
            tuning = {k: v for k, v in (("batch_size", args.batch_size), ("concurrency", args.concurrency)) if v}
            run = stack.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": tuning}).json()
            state = stack.wait_for_run(DAG_ID, run["dag_run_id"], timeout=7200)
            wall = time.monotonic() - started
            sampler.stop()
            tis = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances",
                            params={"limit": 2000}).json()["task_instances"]
        finally:
            sampler.stop() if sampler.is_alive() else None
            stack.stop()
        names = {ti["id"]: f"{ti['task_id']}" + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "") for ti in tis}
        peak_ti = max(sampler.peak_by_ti, key=sampler.peak_by_ti.get, default=None)
        peak_task = names.get(peak_ti, "unknown")
        sampled = len(set(sampler.peak_by_ti) & set(names))
        check = sandbox.check_exactly_once(args.n)
        with sqlite3.connect(Path(home) / "airflow.db") as db:
            xcom_bytes, xcom_rows = db.execute("SELECT COALESCE(SUM(LENGTH(value)), 0), COUNT(*) FROM xcom WHERE run_id = ?",
                                               (run["dag_run_id"],)).fetchone()
            mapped = db.execute("SELECT COUNT(*) FROM task_instance WHERE run_id = ? AND map_index >= 0",
                                (run["dag_run_id"],)).fetchone()[0]
            batches = db.execute("SELECT COUNT(*) FROM task_instance WHERE run_id = ? AND task_id = 'transform'",
                                 (run["dag_run_id"],)).fetchone()[0]
        offloaded = sum(p.stat().st_size for p in (Path(home) / "xcom").rglob("*") if p.is_file())

    lines = [
        f"# Scale run: {args.n} profiles, one hrflow_profiles_to_ats run ({time.strftime('%Y-%m-%d')})",
        f"machine: {machine()}",
        f"setup: SQLite + LocalExecutor (parallelism {args.parallelism}), real scheduler, sandbox without latency, "
        f"params: {json.dumps(tuning) if tuning else 'defaults (the run plans batch size and concurrency)'}",
        "",
        f"{'':44} {'measured':>12} {'target':>12}",
        f"{'run state':44} {state:>12}",
        f"{'wall time (s)':44} {wall:12.0f}",
        f"{'peak RSS of the largest task process (MB)':44} {sampler.peak_kib / 1024:12.0f} {'< 300':>12}",
        f"{'  reached by':44} {peak_task:>12}",
        f"{'XCom in the metadata DB (bytes, rows)':44} {xcom_bytes:12} {xcom_rows:>12}",
        f"{'XCom in the DB per batch (bytes)':44} {xcom_bytes / max(batches, 1):12.0f} {'< 2048':>12}",
        f"{'XCom offloaded to object storage (MB)':44} {offloaded / 2**20:12.1f}",
        f"{'batches / mapped task instances':44} {batches:>5} / {mapped:<5}",
        f"{'task instances whose process was sampled':44} {sampled:>5} of {len(names):<5}",
        f"{'profiles lost / duplicated / untagged':44} {check['lost']:>4} /{check['duplicates']:>3} /{check['untagged']:>3}",
        "",
        "Ceiling: a run maps at most 1,024 batches ([core] max_map_length); beyond batch_size x 1,024 objects the",
        "search task grows the batch size instead (config.plan_run), so any run size stays within the limit.",
    ]
    save("scale_run", "\n".join(lines) + "\n")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main())
