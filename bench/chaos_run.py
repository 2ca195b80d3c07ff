"""`make bench-chaos`: 20 sync runs under LocalExecutor with a real scheduler, with faults injected at random.

Faults: HrFlow 429s (with Retry-After), 5xx and slow responses; an ATS that applies a batch but whose answer
is lost; task processes SIGKILLed between the post and the tag (post_to_ats killed while the ATS holds its
answer, tag tasks killed mid-way). Recruiters edit some profiles right after they reach the ATS.
Then the sandbox's records are checked: each profile reached the ATS exactly once, each accepted profile was
tagged once, and no recruiter edit was lost.
"""

from __future__ import annotations

import argparse
import re
import os
import random
import signal
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import psutil

from bench.common import SOURCE, machine, sandbox_process, save
from sandbox.airflow_home import AirflowStack
from sandbox.server import make_key

DAG_ID = "hrflow_profiles_to_ats"
TASK_TITLE = re.compile(r"^airflow worker -- ([0-9a-f]{8}-[0-9a-f-]{27})")  # the task process, not the executor worker
FAULT_MENU = {
    "hrflow_429": [{"path": "/v1/profiles/searching", "status": 429, "retry_after": 1}],
    "hrflow_5xx": [{"path": "/v1/profile/indexing", "method": "GET", "status": 503, "times": 3}],
    "hrflow_slow": [{"path": "/v1/profile/indexing", "method": "PUT", "status": 0, "delay": 2.0, "times": 2}],
    "ats_5xx": [{"path": "/ats/profiles", "status": 502, "times": 2}],
    "ats_lost_answer": [{"path": "/ats/profiles", "lose_response": True}],
    "kill_post": [{"path": "/ats/profiles", "slow_apply": 4.0}],
    "kill_tag": [{"path": "/v1/profile/indexing", "method": "PUT", "status": 0, "delay": 0.5, "times": 10}],
}


class Killer(threading.Thread):
    """SIGKILL the first task process of ``task_id`` in ``run_id`` once it has lived ``after`` seconds."""

    def __init__(self, stack: AirflowStack, run_id: str, task_id: str, after: float, ready=lambda: True) -> None:
        super().__init__(daemon=True)
        self.stack, self.run_id, self.task_id, self.after, self.killed = stack, run_id, task_id, after, 0
        self.ready = ready

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not self.killed:
            tis = self.stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(self.run_id, safe='')}/taskInstances").json()
            ids = {ti["id"] for ti in tis.get("task_instances", []) if ti["task_id"] == self.task_id}
            for proc in psutil.process_iter(["pid", "cmdline", "create_time"]):
                title = TASK_TITLE.match(" ".join(proc.info["cmdline"] or []).strip())
                if title and title.group(1) in ids:
                    if time.time() - proc.info["create_time"] >= self.after and self.ready():
                        os.kill(proc.info["pid"], signal.SIGKILL)
                        self.killed += 1
                        return
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--per-run", type=int, default=100, help="new profiles before each run")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    outcomes, kills, chosen = [], 0, []

    with sandbox_process() as sandbox, tempfile.TemporaryDirectory(prefix="hrflow-chaos-") as home:
        sandbox.reset_and_seed(0, hrflow_latency=0.002, ats_latency=0.01)
        stack = AirflowStack(Path(home), extra_env=sandbox.airflow_env())
        stack.start(wait_for_dags=(DAG_ID,))
        stack.unpause(DAG_ID)
        try:
            for run_no in range(args.runs):
                start = run_no * args.per_run
                sandbox.control("seed", {"kind": "profile", "container": SOURCE, "count": args.per_run, "start": start,
                                         "created_at": f"2026-03-{1 + run_no % 28:02d}T00:00:00+00:00", "spread_seconds": 1})
                keys = [make_key("profile", SOURCE, i) for i in range(start, start + args.per_run)]
                sandbox.control("edit_on_arrival", {"keys": rng.sample(keys, 5)})
                faults = rng.sample(sorted(FAULT_MENU), 3)
                chosen.append(faults)
                sandbox.control("faults", {"faults": [f for name in faults for f in FAULT_MENU[name]]})
                run = stack.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json={
                    "logical_date": None, "conf": {"batch_size": 25, "concurrency": 4}}).json()
                posted_before = sandbox.control("state")["ats"].get("profiles", {}).get("requests", 0)

                def ats_holds_an_answer(before=posted_before) -> bool:  # the batch is applied, its answer pending
                    return sandbox.control("state")["ats"].get("profiles", {}).get("requests", 0) > before

                killers = []
                if "kill_post" in faults:
                    killers.append(Killer(stack, run["dag_run_id"], "post_to_ats", 0.5, ats_holds_an_answer))
                if "kill_tag" in faults:
                    killers.append(Killer(stack, run["dag_run_id"], "tag_profiles", 1.5))
                for killer in killers:
                    killer.start()
                outcomes.append(stack.wait_for_run(DAG_ID, run["dag_run_id"], timeout=900))
                for killer in killers:
                    killer.join()
                    kills += killer.killed
                print(f"run {run_no + 1}/{args.runs}: {outcomes[-1]} faults={faults}", flush=True)
        finally:
            stack.stop()
        total = args.runs * args.per_run
        check = sandbox.check_exactly_once(total)
        state = sandbox.control("state")

    lines = [
        f"# Chaos run: {args.runs} hrflow_profiles_to_ats runs under LocalExecutor ({time.strftime('%Y-%m-%d')})",
        f"machine: {machine()}",
        f"setup: {args.per_run} new profiles per run, batch_size 25, 3 random faults per run (seed {args.seed})",
        "",
        f"runs: {len(outcomes)} ({outcomes.count('success')} success, {outcomes.count('failed')} failed)",
        f"faults injected by the sandbox: {state['faults_fired']}; task processes SIGKILLed: {kills}",
        f"profiles: {total}; recruiter edits made while runs were in flight: {state['third_party_edits']}",
        "",
        f"{'':36} {'measured':>9} {'goal':>5}",
        f"{'lost profiles (never reached ATS)':36} {check['lost']:9} {0:5}",
        f"{'duplicates at the ATS':36} {check['duplicates']:9} {0:5}",
        f"{'accepted but untagged':36} {check['untagged']:9} {0:5}",
        f"{'tagged more than once':36} {check['edited_twice']:9} {0:5}",
        f"{'clobbered recruiter edits':36} {len(state['clobbered']):9} {0:5}",
        "",
        "faults per run: " + "; ".join(",".join(f) for f in chosen),
    ]
    save("chaos_run", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
