"""`make bench-chaos`: 20 sync runs under LocalExecutor with a real scheduler, with faults injected at random.

Faults: HrFlow 429s (with Retry-After), 5xx and slow responses; an ATS that applies a batch but whose answer
is lost; task processes SIGKILLed between the post and the tag (post_to_ats killed while the ATS holds its
answer, tag tasks killed mid-way). Recruiters edit some profiles right after they reach the ATS.
Then the sandbox's records are checked: each profile reached the ATS exactly once, each accepted profile was
tagged once, and no recruiter edit was lost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import psutil

from bench.common import SOURCE, machine, sandbox_process, save, unpause_and_settle
from sandbox.airflow_home import AirflowStack
from sandbox.objects import make_key

DAG_ID = "hrflow_profiles_to_ats"
TASK_TITLE = re.compile(r"^airflow worker -- ([0-9a-f]{8}-[0-9a-f-]{27})")  # the task process, not the executor worker
FAULT_MENU = {
    "hrflow_429": [{"path": "/v1/profiles/searching", "status": 429, "retry_after": 1}],
    "hrflow_5xx": [{"path": "/v1/profile/indexing", "method": "GET", "status": 503, "times": 3}],
    "hrflow_slow": [{"path": "/v1/profile/indexing", "method": "PUT", "status": 0, "delay": 2.0, "times": 2}],
    "ats_5xx": [{"path": "/ats/profiles", "status": 502, "times": 2}],
    "ats_lost_answer": [{"path": "/ats/profiles", "lose_response": True}],
    "ats_502_after_apply": [{"path": "/ats/profiles", "applied_status": 502, "reason": "Bad Gateway"}],
    "kill_post": [],  # the sandbox holds one applied batch's answer (/_sandbox/hold) until its task is killed
    # slow PUTs keep every tagging task alive long enough (> 1.5 s) for the killer to find one mid-way
    "kill_tag": [{"path": "/v1/profile/indexing", "method": "PUT", "status": 0, "delay": 1.0, "times": 40}],
}


class Killer(threading.Thread):
    """
    SIGKILL one task process of ``task_id`` in ``run_id``.

    Without ``held``: the first one that has lived ``after`` seconds. With ``held`` (kill_post): once the sandbox
    holds an applied batch's answer, the one post_to_ats process still alive after the others got their answers,
    which is the one waiting for the held answer; then the sandbox lets the answer go (to a dead socket).
    """

    def __init__(self, stack: AirflowStack, run_id: str, task_id: str, after: float, held=None, release=None) -> None:
        super().__init__(daemon=True)
        self.stack, self.run_id, self.task_id, self.after, self.killed = stack, run_id, task_id, after, 0
        self.held, self.release = held, release

    def _processes(self) -> list:
        tis = self.stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(self.run_id, safe='')}/taskInstances").json()
        ids = {
            ti["id"]
            for ti in tis.get("task_instances", [])
            if ti["task_id"] == self.task_id and ti["state"] == "running"
        }
        found = []
        for proc in psutil.process_iter(["pid", "cmdline", "create_time"]):
            title = TASK_TITLE.match(" ".join(proc.info["cmdline"] or []).strip())
            if title and title.group(1) in ids:
                found.append(proc)
        return found

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not self.killed:
            procs = self._processes()
            if self.held is not None:
                if self.held() and len(procs) == 1:
                    os.kill(procs[0].info["pid"], signal.SIGKILL)
                    self.killed += 1
                    self.release()
                    return
            else:
                for proc in procs:
                    if time.time() - proc.info["create_time"] >= self.after:
                        os.kill(proc.info["pid"], signal.SIGKILL)
                        self.killed += 1
                        return
            time.sleep(0.2)
        if self.release:
            self.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--per-run", type=int, default=100, help="new profiles before each run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--ignore-idempotency-key",
        action="store_true",
        help="an ATS that ignores Idempotency-Key, as most real ones do",
    )
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    outcomes, kills, kills_scheduled, chosen = [], 0, 0, []

    with sandbox_process() as sandbox, tempfile.TemporaryDirectory(prefix="hrflow-chaos-") as home:
        sandbox.reset_and_seed(0, hrflow_latency=0.002, ats_latency=0.01)
        sandbox.control("receiver", {"honour_idempotency": not args.ignore_idempotency_key})
        env = sandbox.airflow_env()
        # a held ATS answer must outlast the killer's search for its task: no client timeout in between
        ats = json.loads(env["AIRFLOW_CONN_ATS_DEFAULT"])
        env["AIRFLOW_CONN_ATS_DEFAULT"] = json.dumps({**ats, "extra": {**ats.get("extra", {}), "timeout": 120}})
        stack = AirflowStack(Path(home), extra_env=env)
        stack.start(wait_for_dags=(DAG_ID,))
        unpause_and_settle(stack, DAG_ID)
        try:
            for run_no in range(args.runs):
                start = run_no * args.per_run
                sandbox.control(
                    "seed",
                    {
                        "kind": "profile",
                        "container": SOURCE,
                        "count": args.per_run,
                        "start": start,
                        "created_at": f"2026-03-{1 + run_no % 28:02d}T00:00:00+00:00",
                        "spread_seconds": 1,
                    },
                )
                keys = [make_key("profile", SOURCE, i) for i in range(start, start + args.per_run)]
                sandbox.control("edit_on_arrival", {"keys": rng.sample(keys, 5)})
                faults = rng.sample(sorted(FAULT_MENU), 3)
                chosen.append(faults)
                sandbox.control("faults", {"faults": [f for name in faults for f in FAULT_MENU[name]]})
                run = stack.api(
                    "POST",
                    f"/api/v2/dags/{DAG_ID}/dagRuns",
                    json={"logical_date": None, "conf": {"batch_size": 25, "concurrency": 4}},
                ).json()
                killers = []
                if "kill_post" in faults:
                    sandbox.control("hold")
                    killers.append(
                        Killer(
                            stack,
                            run["dag_run_id"],
                            "batch.post_to_ats",
                            0,
                            held=lambda: sandbox.control("state")["holding"] > 0,
                            release=lambda: sandbox.control("release"),
                        )
                    )
                if "kill_tag" in faults:
                    killers.append(Killer(stack, run["dag_run_id"], "batch.tag_profiles", 1.5))
                kills_scheduled += len(killers)
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

    by_kind = state["faults_by_kind"]
    # with an ATS that ignores Idempotency-Key, a batch applied whose answer never arrived (lost, or held while its
    # task was killed) is sent again: the JSON batch endpoint is at-least-once there, and only there
    # (lost answers, 502s after the apply, held answers): the sandbox records those batches' keys ("unanswered"); the
    # duplicated keys must be exactly those when the ATS ignores the key, and none when it honours it
    ignoring = args.ignore_idempotency_key
    goals = [
        ("lost profiles (never reached ATS)", check["lost"], 0),
        ("duplicates at the ATS", check["duplicates"], check["unanswered"] if ignoring else 0),
        ("duplicated, not of an unanswered batch", check["duplicates_not_unanswered"], 0),
        ("unanswered, not duplicated", check["unanswered_not_duplicated"] if ignoring else 0, 0),
        ("accepted but untagged", check["untagged"], 0),
        ("tagged more than once", check["edited_twice"], 0),
        ("clobbered recruiter edits", len(state["clobbered"]), 0),
        ("scheduled kills not done", kills_scheduled - kills, 0),
        ("failed runs", outcomes.count("failed"), 0),
    ]
    missed = [name for name, measured, goal in goals if measured > goal]
    receiver = "ignores Idempotency-Key" if args.ignore_idempotency_key else "honours Idempotency-Key (replays)"
    lines = [
        f"# Chaos run: {args.runs} hrflow_profiles_to_ats runs under LocalExecutor ({time.strftime('%Y-%m-%d')})",
        f"machine: {machine()}",
        f"setup: {args.per_run} new profiles per run, batch_size 25, 3 random faults per run (seed {args.seed}); "
        f"the ATS receiver {receiver}",
        "",
        f"runs: {len(outcomes)} ({outcomes.count('success')} success, {outcomes.count('failed')} failed)",
        "faults fired by the sandbox, by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())),
        "  (errors: http_*; delays: delay; applied, then the answer lost: lost_answer, or a 502: applied_502)",
        f"ATS requests {check['requests']}, same-key replays answered without applying {check['replays']}; "
        f"profiles of batches applied without the caller hearing so: {check['unanswered']}",
        f"task processes SIGKILLed: {kills} of {kills_scheduled} scheduled "
        f"(kill_post kills the post_to_ats whose answer the sandbox holds; kill_tag a tagging task mid-way)",
        f"profiles: {total}; recruiter edits made while runs were in flight: {state['third_party_edits']}",
        "",
        f"{'':40} {'measured':>9} {'goal':>5}",
        *[f"{name:40} {measured:9} {('<= ' if goal else '') + str(goal):>5}" for name, measured, goal in goals],
        "",
        "faults per run: " + "; ".join(",".join(f) for f in chosen),
        "result: " + ("every goal met" if not missed else "MISSED: " + ", ".join(missed)),
    ]
    save("chaos_run" + ("_ignoring_key" if args.ignore_idempotency_key else ""), "\n".join(lines) + "\n")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
