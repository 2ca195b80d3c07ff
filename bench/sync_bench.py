"""`make bench`: hrflow_profiles_to_ats (A) against the sequential workflow HrFlow users run today (B).

Setup: the sandbox in its own process, 20 ms per HrFlow call and 50 ms per ATS call, N unsynced profiles.
A is one full `airflow dags test hrflow_profiles_to_ats` run **with the DAG's default params** (no conf): the
run plans its own batch size and HrFlow concurrency. Then, as extra lines: A with tuned params, and A under a
real scheduler (api-server, scheduler, dag-processor, LocalExecutor) with default params. B is
bench/baseline_sequential.py. Prints wall times, B/A, the floor 2·N·L/C for the C the run chose, the DAG's
parse time and the start-up cost of one task instance, and Airflow alone: one task returning 1, in a home
without this package's plugins and DAGs (one DAG file), under the same command. B over that plus the call floor is
the most this hour allows any DAG run by ``airflow dags test``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import baseline_sequential
from bench.common import SOURCE, machine, sandbox_process, save, unpause_and_settle
from sandbox.airflow_home import REPO, AirflowStack, airflow_env, dags_test, forget_runs, init_home
from sandbox.objects import API_SECRET, API_USER, ATS_API_KEY

DAG_ID = "hrflow_profiles_to_ats"
PLAN = re.compile(r"Plan: batch_size (\d+).*?concurrency (\d+)")


MARK = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z .*?(\[DAG TEST\] starting|Task started|DagRun Finished)", re.MULTILINE
)


def timed_dag_run(env: dict[str, str], conf: dict | None) -> tuple[float, int, str, dict[str, float]]:
    """Run ``airflow dags test`` once, on a fresh ledger; return wall seconds, exit code, output and :func:`phases`.

    Each measured run reseeds the same keys into an emptied ATS, which a ledger that remembers them would rightly
    skip (they reached "the ATS" before).
    """
    forget_runs(Path(env["AIRFLOW_HOME"]))
    started, wall_started = time.monotonic(), time.time()
    proc = dags_test(env, DAG_ID, json.dumps(conf) if conf else None, timeout=3600)
    output = proc.stdout + proc.stderr
    return time.monotonic() - started, proc.returncode, output, phases(output, wall_started, time.time())


def phases(output: str, started: float, ended: float) -> dict[str, float]:
    """
    Split one ``dags test`` run's wall time (epoch seconds ``started``-``ended``) by its log's timestamps.

    start-up: CLI imports, DAG parse and serialization, up to the first task; execution API: from there to the
    first "Task started" (``dags test`` builds its in-process execution API on the first call); tasks: every
    task instance, to "DagRun Finished"; exit: the interpreter shutting down.
    """
    marks: dict[str, float] = {}
    for stamp, what in MARK.findall(output):
        at = datetime.fromisoformat(stamp).replace(tzinfo=timezone.utc).timestamp()
        marks[what] = at if what == "DagRun Finished" else marks.get(what, at)
    if len(marks) < 3:
        return {}
    first, running, finished = marks["[DAG TEST] starting"], marks["Task started"], marks["DagRun Finished"]
    return {
        "start-up": first - started,
        "execution API": running - first,
        "tasks": finished - running,
        "exit": ended - finished,
    }


def describe(split: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in split.items()) or "n/a (no log marks)"


def chosen(output: str) -> tuple[int | None, int | None]:
    match = PLAN.search(output)
    return (int(match.group(1)), int(match.group(2))) if match else (None, None)


AIRFLOW_ALONE = """\
from airflow.sdk import dag, task


@dag(dag_id="airflow_alone", schedule=None)
def airflow_alone():
    @task
    def one():
        return 1

    one()


airflow_alone()
"""


def airflow_alone_time() -> tuple[float, dict[str, float]]:
    """Return the best of two ``airflow dags test`` runs of a one-task DAG in a home without our plugins and DAGs."""
    with tempfile.TemporaryDirectory(prefix="hrflow-bench-alone-") as home:
        dags, plugins = Path(home, "dags"), Path(home, "plugins")
        dags.mkdir()
        plugins.mkdir()
        (dags / "airflow_alone.py").write_text(AIRFLOW_ALONE)
        env = airflow_env(
            Path(home), {"AIRFLOW__CORE__DAGS_FOLDER": str(dags), "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins)}
        )
        init_home(env, pool_slots=None)
        runs = []
        for _ in range(2):
            started, wall_started = time.monotonic(), time.time()
            proc = dags_test(env, "airflow_alone", timeout=600)
            output = proc.stdout + proc.stderr
            if proc.returncode:
                raise RuntimeError(f"airflow_alone failed: {output[-2000:]}")
            runs.append((time.monotonic() - started, phases(output, wall_started, time.time())))
    return min(runs, key=lambda run: run[0])


def parse_time(env: dict[str, str]) -> float:
    """Seconds to import the DAG file in a fresh interpreter that has Airflow loaded (the dag-processor's cost)."""
    code = (
        "import time, runpy, airflow.sdk; t = time.perf_counter(); "
        f"runpy.run_path({str(REPO / 'dags' / 'hrflow_profiles_to_ats.py')!r}); print(time.perf_counter() - t)"
    )
    times = []
    for _ in range(3):
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        times.append(float(proc.stdout.strip().splitlines()[-1]))
    return min(times)


def scheduler_run(sandbox, n: int, lat: float, ats_lat: float) -> tuple[float, str, tuple[int | None, int | None]]:
    with tempfile.TemporaryDirectory(prefix="hrflow-bench-sched-") as home:
        stack = AirflowStack(Path(home), extra_env=sandbox.airflow_env())
        stack.start(wait_for_dags=(DAG_ID,))
        try:
            # the scheduled run unpausing creates must find nothing: had it seen the last run's tagged profiles,
            # the ledger would hold them as synced, and the measured run, reseeded with the same keys, would only tag
            sandbox.reset_and_seed(0, hrflow_latency=0, ats_latency=0)
            unpause_and_settle(stack, DAG_ID)
            sandbox.reset_and_seed(n, hrflow_latency=lat, ats_latency=ats_lat)
            started = time.monotonic()
            run = stack.api(
                "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", json={"logical_date": None, "conf": {"source_keys": [SOURCE]}}
            ).json()
            state = stack.wait_for_run(DAG_ID, run["dag_run_id"], timeout=3600)
            wall = time.monotonic() - started
            logs = "".join(
                p.read_text(errors="replace")
                for p in Path(home, "logs").rglob("*")
                if p.is_file() and "task_id=search" in str(p) and f"run_id={run['dag_run_id']}" in str(p)
            )
        finally:
            stack.stop()
    return wall, state, chosen(logs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--hrflow-latency", type=float, default=0.020)
    parser.add_argument("--ats-latency", type=float, default=0.050)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-scheduler", action="store_true")
    args = parser.parse_args(argv)
    n, lat = args.n, args.hrflow_latency
    tuned = {"batch_size": 1000, "page_size": 1000, "concurrency": 32}

    with sandbox_process() as sandbox, tempfile.TemporaryDirectory(prefix="hrflow-bench-") as home:
        env = airflow_env(Path(home), {**sandbox.airflow_env(), "AIRFLOW_VAR_HRFLOW_SOURCE_KEYS": json.dumps([SOURCE])})
        init_home(env)
        dag_parse = parse_time(env)

        empties, ones = [], []
        for _ in range(2):  # alternate, best of two: the first run of a home pays one-off costs
            sandbox.reset_and_seed(0, hrflow_latency=lat, ats_latency=args.ats_latency)
            empties.append(timed_dag_run(env, None)[0])  # fixed Airflow overhead: start-up, listing, report, summary
            sandbox.reset_and_seed(10, hrflow_latency=0, ats_latency=0)
            ones.append(timed_dag_run(env, None))  # one batch: three more task instances (transform, post, tag)
        empty_time = min(empties)
        alone, alone_split = airflow_alone_time()
        one_batch, _, _, one_split = min(ones, key=lambda run: run[0])

        sandbox.reset_and_seed(n, hrflow_latency=lat, ats_latency=args.ats_latency)
        a_time, a_rc, a_out, a_split = timed_dag_run(env, None)  # defaults: no conf at all
        a_check = sandbox.check_exactly_once(n)
        a_size, a_c = chosen(a_out)

        sandbox.reset_and_seed(n, hrflow_latency=lat, ats_latency=args.ats_latency)
        t_time, t_rc, _, _ = timed_dag_run(env, tuned)
        t_check = sandbox.check_exactly_once(n)

        s_time = s_state = s_plan = None
        if not args.skip_scheduler:
            s_time, s_state, s_plan = scheduler_run(sandbox, n, lat, args.ats_latency)
            s_check = sandbox.check_exactly_once(n)

        b_time, b_check = None, None
        if not args.skip_baseline:
            sandbox.reset_and_seed(n, hrflow_latency=lat, ats_latency=args.ats_latency)
            started = time.monotonic()
            baseline_sequential.run(
                api_url=f"{sandbox.url}/v1",
                api_secret=API_SECRET,
                api_user=API_USER,
                source_key=SOURCE,
                ats_url=f"{sandbox.url}/ats/profiles",
                ats_key=ATS_API_KEY,
            )
            b_time = time.monotonic() - started
            b_check = sandbox.check_exactly_once(n)

    floor = 2 * n * lat / (a_c or 1)

    def lost(check) -> str:  # raw requests and same-key replays beside "duplicated": a replayed re-POST shows
        return (
            f"{check['lost']} / {check['duplicates']} / {check['untagged']} "
            f"(ATS requests {check['requests']}, replays {check['replays']})"
        )

    def ratio(t: float | None) -> str:
        return f"{b_time / t:.1f}x" if b_time and t else "n/a"

    lines = [
        f"# hrflow_profiles_to_ats vs the sequential workflow ({time.strftime('%Y-%m-%d')})",
        f"machine: {machine()}",
        f"setup: N={n} profiles, HrFlow latency {lat * 1000:.0f} ms/call, "
        f"ATS latency {args.ats_latency * 1000:.0f} ms/call",
        "",
        f"A, default params (no conf), airflow dags test: {a_time:.1f} s, B/A = {ratio(a_time)} (target >= 10x); "
        f"exit {a_rc}; lost/duplicated/untagged {lost(a_check)}",
        f"   the run chose batch_size {a_size} and HrFlow concurrency C={a_c}; "
        f"where its time went: {describe(a_split)}",
        f"B, the sequential workflow: {b_time if b_time is not None else float('nan'):.1f} s"
        + (f"; lost/duplicated/untagged {lost(b_check)}" if b_check else ""),
        f"floor 2*N*L/C = 2*{n}*{lat}/{a_c} = {floor:.1f} s; fixed Airflow overhead = {one_batch:.1f} s "
        f"(a run of 10 profiles: one batch, every task; an empty run takes {empty_time:.1f} s because `dags test` "
        "idles a second at a time around zero-length mapped tasks)",
        f"A / (floor + fixed) = {a_time / (floor + one_batch):.2f} (target: <= 1.5)",
        f"Airflow alone (one task returning 1, none of our plugins or DAGs, the same command): {alone:.1f} s "
        f"({describe(alone_split)}); "
        f"the most this hour allows, B / (Airflow alone + floor) = {ratio(alone + floor)}",
        "",
        "extra lines:",
        f"  A, tuned params {json.dumps(tuned)}: {t_time:.1f} s, B/A = {ratio(t_time)}; exit {t_rc}; "
        f"lost/duplicated/untagged {lost(t_check)}",
    ]
    if s_time is not None:
        lines.append(
            f"  A, default params, real scheduler + LocalExecutor (REST trigger to run end): {s_time:.1f} s, "
            f"B/A = {ratio(s_time)}; state {s_state}; chose batch_size {s_plan[0]}, C={s_plan[1]}; "
            f"lost/duplicated/untagged {lost(s_check)}"
        )
    lines += [
        "",
        "cost per task instance:",
        f"  DAG file parse time (import in a warm interpreter, best of 3): {dag_parse * 1000:.0f} ms",
        f"  run of 10 profiles (7 task instances, 3 of them mapped) vs an empty run (4, plus idle polling): "
        f"{one_batch:.1f} s vs {empty_time:.1f} s",
        f"  the run of 10 profiles, from its log's timestamps: {describe(one_split)}",
    ]
    if one_split:
        lines.append(
            f"  per task instance under `airflow dags test`, its work included: "
            f"{one_split['tasks'] / 7:.2f} s (tasks / 7)"
        )
    checks = {"A": a_check, "A tuned": t_check, "A under a scheduler": s_check if s_time is not None else None}
    wrong = [
        f"FAILED: {name}: lost/duplicated/untagged {lost(check)}"
        for name, check in {**checks, "B": b_check}.items()
        if check and (check["lost"] or check["duplicates"] or check["untagged"])
    ]
    save(f"sync_bench_{n}", "\n".join(lines + wrong) + "\n")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
