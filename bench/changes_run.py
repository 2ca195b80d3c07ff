"""`make bench-changes`: a source of 100,000 synced profiles of which 1% changed, then one run.

A real api-server, scheduler and dag-processor (sandbox/airflow_home.py's AirflowStack) on SQLite +
LocalExecutor; the sandbox in its own process with a generated source. First a full sync of every profile (the
figure the changes run is printed beside), then a recruiter edits every 100th profile's last name, then one
run as the hourly scheduled runs read (``full_sweep: false``: a manual run without a window, and the daily
full-sweep run, read every stored object instead, and compare each). Reports, for each run: wall time, HrFlow
calls, ATS requests, updates the ATS applied, the peak RSS of the largest task; for the changes run, HrFlow calls
per changed profile.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime, timezone

from bench.common import SOURCE, local_stack, machine, sandbox_process, save, unpause_and_settle
from bench.scale_run import TaskRssSampler
from sandbox.airflow_home import AirflowStack

DAG_ID = "hrflow_profiles_to_ats"


HOURLY = {"full_sweep": False}  # what the hourly scheduled runs read: search, then the edits since the watermark


def one_run(stack: AirflowStack, sandbox) -> dict:
    """Trigger one run as the hourly schedule runs it; return its wall time, calls, applied writes, peak task RSS."""
    before = sandbox.control("calls")["calls"]
    updates_before = sandbox.control("updates")["updates"]
    sampler = TaskRssSampler()
    sampler.start()
    started = datetime.now(timezone.utc)
    try:
        run = stack.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": HOURLY}).json()
        state = stack.wait_for_run(DAG_ID, run["dag_run_id"], timeout=7200, poll=5)
        ended = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}").json()["end_date"]
    finally:
        sampler.stop()
    calls = sandbox.control("calls")["calls"]
    delta = {name: n - before.get(name, 0) for name, n in calls.items() if n != before.get(name, 0)}
    return {
        "state": state,
        "wall": (datetime.fromisoformat(ended.replace("Z", "+00:00")) - started).total_seconds(),
        "hrflow": sum(n for name, n in delta.items() if name.split(" ")[-1].startswith("/v1/")),
        "listing": sum(n for name, n in delta.items() if name.endswith("/storing/profiles")),
        "ats": sum(n for name, n in delta.items() if "/ats/" in name),
        "updates": sandbox.control("updates")["updates"] - updates_before,
        "peak_mb": sampler.peak_kib / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="synced profiles in the source")
    parser.add_argument("--every", type=int, default=100, help="every n-th profile is edited (100: 1%%)")
    parser.add_argument("--parallelism", type=int, default=4, help="LocalExecutor task slots")
    parser.add_argument("--name", default="changes_run", help="bench/results/<name>.txt")
    args = parser.parse_args(argv)

    with sandbox_process() as sandbox, tempfile.TemporaryDirectory(prefix="hrflow-changes-") as home:
        sandbox.reset_and_seed(0, hrflow_latency=0, ats_latency=0)
        stack = local_stack(home, sandbox, args.parallelism)
        stack.start(wait_for_dags=(DAG_ID,))
        try:
            unpause_and_settle(stack, DAG_ID)
            sandbox.reset_and_seed(args.n, hrflow_latency=0, ats_latency=0, generated=True)
            full = one_run(stack, sandbox)
            created = sandbox.check_exactly_once(args.n)
            changed = sandbox.control("edit", {"container": SOURCE, "every": args.every})["keys"]
            changes = one_run(stack, sandbox)
            after = sandbox.check_exactly_once(args.n)
        finally:
            stack.stop()

    def row(label: str, a: object, b: object, target: str = "") -> str:
        return f"{label:44} {a!s:>12} {b!s:>12} {target:>16}"

    lines = [
        f"# Changes run: {args.n} synced profiles, {changed} edited, one hrflow_profiles_to_ats run "
        f"({time.strftime('%Y-%m-%d')})",
        f"machine: {machine()}",
        f"setup: SQLite + LocalExecutor (parallelism {args.parallelism}), real scheduler, sandbox without latency, "
        f"generated source; DAG params: {json.dumps(HOURLY)} (as the hourly scheduled runs), else defaults",
        "",
        row("", "full sync", "changes run", "target"),
        row("run state", full["state"], changes["state"]),
        row("wall time (s)", f"{full['wall']:.0f}", f"{changes['wall']:.0f}"),
        row("HrFlow calls", full["hrflow"], changes["hrflow"]),
        row("  of which storing listing pages", full["listing"], changes["listing"]),
        row("HrFlow calls per changed profile", "", f"{changes['hrflow'] / max(changed, 1):.3f}", "grows with changes"),
        row("ATS requests", full["ats"], changes["ats"]),
        row("updates the ATS applied", full["updates"], changes["updates"], f"= {changed}"),
        row("peak RSS of the largest task (MB)", f"{full['peak_mb']:.0f}", f"{changes['peak_mb']:.0f}", "< 300"),
        row(
            "profiles lost / duplicated / untagged",
            f"{created['lost']}/{created['duplicates']}/{created['untagged']}",
            f"{after['lost']}/{after['duplicates']}/{after['untagged']}",
            "0/0/0",
        ),
    ]
    save(args.name, "\n".join(lines) + "\n")
    ok = changes["updates"] == changed and changes["state"] == full["state"] == "success"
    print(json.dumps({"ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
