"""`make bench`: hrflow_profiles_to_ats (A) against the sequential workflow HrFlow users run today (B).

Setup: the sandbox in its own process, 20 ms per HrFlow call and 50 ms per ATS call, N unsynced profiles.
A is one full `airflow dags test hrflow_profiles_to_ats` run; B is bench/baseline_sequential.py.
Prints wall times, B/A, the computed floor 2·N·L/C and where A's time goes. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench import baseline_sequential
from bench.common import SOURCE, machine, sandbox_process, save
from sandbox.airflow_home import airflow_env, dags_test, init_home
from sandbox.server import API_SECRET, API_USER, ATS_API_KEY


def timed_dag_run(env: dict[str, str], conf: dict) -> tuple[float, int]:
    started = time.monotonic()
    proc = dags_test(env, "hrflow_profiles_to_ats", json.dumps(conf), timeout=3600)
    return time.monotonic() - started, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--hrflow-latency", type=float, default=0.020)
    parser.add_argument("--ats-latency", type=float, default=0.050)
    parser.add_argument("--concurrency", type=int, default=32, help="HrFlow calls in flight per tagging task")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args(argv)
    n, lat = args.n, args.hrflow_latency
    conf = {"batch_size": args.batch_size, "page_size": args.page_size, "concurrency": args.concurrency}

    with sandbox_process() as sandbox, tempfile.TemporaryDirectory(prefix="hrflow-bench-") as home:
        env = airflow_env(Path(home), sandbox.airflow_env())
        init_home(env)

        sandbox.reset_and_seed(0, hrflow_latency=lat, ats_latency=args.ats_latency)
        empty_time, _ = timed_dag_run(env, conf)  # fixed Airflow overhead: start-up, search, summary

        sandbox.reset_and_seed(n, hrflow_latency=lat, ats_latency=args.ats_latency)
        a_time, a_rc = timed_dag_run(env, conf)
        a_check = sandbox.check_exactly_once(n)
        a_calls = sandbox.control("state")["calls"]

        b_time, b_check = None, None
        if not args.skip_baseline:
            sandbox.reset_and_seed(n, hrflow_latency=lat, ats_latency=args.ats_latency)
            started = time.monotonic()
            baseline_sequential.run(api_url=f"{sandbox.url}/v1", api_secret=API_SECRET, api_user=API_USER,
                                    source_key=SOURCE, ats_url=f"{sandbox.url}/ats/profiles", ats_key=ATS_API_KEY)
            b_time = time.monotonic() - started
            b_check = sandbox.check_exactly_once(n)

    batches = -(-n // args.batch_size)
    floor = 2 * n * lat / args.concurrency
    search_pages = a_calls.get("GET /v1/profiles/searching", 0)
    lines = [
        f"# hrflow_profiles_to_ats vs the sequential workflow ({time.strftime('%Y-%m-%d')})",
        f"machine: {machine()}",
        f"setup: N={n} profiles, HrFlow latency {lat * 1000:.0f} ms/call, ATS latency {args.ats_latency * 1000:.0f} ms/call, "
        f"DAG conf {json.dumps(conf)}",
        "",
        f"{'':38} {'A: DAG run':>12} {'B: sequential':>14}",
        f"{'wall time (s)':38} {a_time:12.1f} {b_time if b_time is not None else float('nan'):14.1f}",
        f"{'profiles lost / duplicated / untagged':38} {a_check['lost']:>4} /{a_check['duplicates']:>3} /{a_check['untagged']:>3}"
        + (f"   {b_check['lost']:>4} /{b_check['duplicates']:>3} /{b_check['untagged']:>3}" if b_check else ""),
        f"{'exit code':38} {a_rc:12}",
        "",
        f"B / A = {b_time / a_time:.1f}x (target: >= 10x)" if b_time else "B skipped",
        f"floor 2*N*L/C = 2*{n}*{lat}/{args.concurrency} = {floor:.1f} s; fixed Airflow overhead (empty run) = {empty_time:.1f} s",
        f"A / (floor + fixed) = {a_time / (floor + empty_time):.2f} (target: <= 1.5)",
        "",
        "where A's time goes (estimates):",
        f"  tagging floor (re-read + PUT per profile at C={args.concurrency}): {floor:.1f} s",
        f"  fixed: CLI start-up, DAG parse, search/summary tasks (empty run): {empty_time:.1f} s",
        f"  search: {search_pages} page(s) x {lat * 1000:.0f} ms = {search_pages * lat:.1f} s; "
        f"ATS: {batches} POST(s) x {args.ats_latency * 1000:.0f} ms = {batches * args.ats_latency:.1f} s",
        f"  rest (per-task start-up of {3 * batches} mapped task instances, run one after another by `dags test`, "
        f"and client CPU): {a_time - floor - empty_time - batches * args.ats_latency:.1f} s",
    ]
    save("sync_bench", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
