"""
`make bench-ats`: N profiles into each vendor ATS at its documented rate limit, defaults only.

One `airflow dags test hrflow_profiles_to_ats` with no conf per ATS, against the sandbox's emulator of it, which
enforces the vendor's documented limit and answers 429 beyond it (sandbox/smartrecruiters.py, workable.py,
greenhouse.py, lever.py, teamtailor.py cite the pages). Reports the wall time beside the floor the limit sets (N
creates at the limit), requests refused for rate (must be 0), the most requests seen in one window, and lost /
duplicated / untagged profiles (all 0). `make bench-workable` is the Workable line alone (its account-token limit
makes it the slowest).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import SOURCE, machine, sandbox_process, save
from sandbox import greenhouse, lever, teamtailor
from sandbox.airflow_home import airflow_env, dags_test, init_home
from sandbox.objects import make_key
from sandbox.smartrecruiters import smartrecruiters_connection
from sandbox.workable import workable_connection

DAG_ID = "hrflow_profiles_to_ats"
# name -> (connection, requests per window, window in seconds, what the limit is)
ATS: dict[str, tuple[Callable[[str], dict[str, Any]], int, float, str]] = {
    "greenhouse": (
        greenhouse.connection,
        50,
        10.0,
        "Harvest v3: the rolling 10 s window X-RateLimit-Limit states (50)",
    ),
    "lever": (lever.connection, 10, 1.0, "token bucket, 10 requests/s (bursts to 20)"),
    "teamtailor": (teamtailor.connection, 50, 10.0, "X-Rate-Limit-Limit 50 per 10 s"),
    "smartrecruiters": (smartrecruiters_connection, 10, 1.0, "10 requests/s, 8 concurrent"),
    "workable": (workable_connection, 10, 10.0, "account token, 10 requests per 10 s"),
}


def run_one(name: str, n: int) -> list[str]:
    """Sync ``n`` profiles into ATS ``name``; return the report's lines."""
    connection, limit, interval, what = ATS[name]
    with sandbox_process() as sandbox, tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        sandbox.reset_and_seed(n, hrflow_latency=0.02, ats_latency=0.05)
        env = airflow_env(
            Path(tmp), {**sandbox.airflow_env(), "AIRFLOW_CONN_ATS_DEFAULT": json.dumps(connection(sandbox.url))}
        )
        init_home(env)
        started = time.monotonic()
        run = dags_test(env, DAG_ID, timeout=3600)
        elapsed = time.monotonic() - started
        state = sandbox.control("state")
    account = state["vendors"][name]
    synced = set(state["synced"]["profile"])
    untagged = sum(1 for i in range(n) if make_key("profile", SOURCE, i) not in synced)
    floor = n / limit * interval  # one create per candidate at the documented rate
    creates = {k: v for k, v in account["requests"].items() if k.startswith("POST") and "token" not in k}
    return [
        f"{name} ({what}), {n} profiles, defaults (no conf): exit code {run.returncode}",
        f"  wall time {elapsed:.0f} s; rate-limit floor {floor:.0f} s ({elapsed / floor:.2f}x)",
        f"  requests {sum(account['requests'].values())} (creates {sum(creates.values())}); refused for rate (429): "
        f"{account['refused_for_rate']}; most in one {interval:g} s window: {account['max_per_window']} "
        f"(limit {limit})",
        f"  candidates {account['candidates']}; duplicates {len(account['duplicates'])}; "
        f"lost {n - account['candidates']}; untagged {untagged}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="profiles per ATS")
    parser.add_argument("--ats", nargs="+", choices=list(ATS), default=list(ATS))
    args = parser.parse_args(argv)
    lines = [
        f"# Each ATS at its documented rate limit ({time.strftime('%Y-%m-%d')})",
        f"machine: {machine()}; sandbox latency: HrFlow 20 ms, ATS 50 ms; airflow dags test, defaults",
        "",
    ]
    for name in args.ats:
        lines += run_one(name, args.n)
        print("\n".join(lines[-4:]), flush=True)
    suffix = "_".join(args.ats) if len(args.ats) < len(ATS) else "all"
    save(f"ats_paced_{suffix}_{args.n}", "\n".join(lines) + "\n")
    failed = any("refused for rate (429): 0;" not in line for line in lines if "refused for rate" in line)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
