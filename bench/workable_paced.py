"""
`make bench-workable`: 500 profiles into Workable with an account token (10 requests per 10 s), defaults only.

One `airflow dags test hrflow_profiles_to_ats` with no conf against the sandbox's Workable emulator, which
enforces the documented limit in 10-second intervals and answers 429 beyond it
(https://workable.readme.io/docs/rate-limits). Reports the wall time beside the floor the limit sets
(N requests / 10 per 10 s), requests refused for rate (must be 0), the most requests seen in one interval,
and lost / duplicated / untagged profiles (all 0).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.common import SOURCE, machine, sandbox_process, save
from sandbox.airflow_home import airflow_env, dags_test, init_home
from sandbox.vendors import workable_connection

DAG_ID = "hrflow_profiles_to_ats"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    with sandbox_process() as sandbox, tempfile.TemporaryDirectory(prefix="bench-workable-") as tmp:
        home = Path(tmp)
        sandbox.reset_and_seed(args.n, hrflow_latency=0.02, ats_latency=0.05)
        env = airflow_env(
            home, {**sandbox.airflow_env(), "AIRFLOW_CONN_ATS_DEFAULT": json.dumps(workable_connection(sandbox.url))}
        )
        init_home(env)
        started = time.monotonic()
        run = dags_test(env, DAG_ID, timeout=3600)
        elapsed = time.monotonic() - started
        state = sandbox.control("state")
        workable = state["vendors"]["workable"]
        synced = set(state["synced"]["profile"])
        from sandbox.objects import make_key

        untagged = sum(1 for i in range(args.n) if make_key("profile", SOURCE, i) not in synced)
        floor = args.n / 10 * 10  # one create per candidate, 10 per 10 s
        lines = [
            f"Workable, account token (10 requests / 10 s), {args.n} profiles, defaults (no conf), airflow dags test",
            f"machine: {machine()}; sandbox latency: HrFlow 20 ms, Workable 50 ms",
            f"exit code: {run.returncode}",
            f"wall time: {elapsed:.0f} s; rate-limit floor {floor:.0f} s ({elapsed / floor:.2f}x)",
            f"requests: {sum(workable['requests'].values())} ({workable['requests']}); refused for rate (429): "
            f"{workable['refused_for_rate']}; most in one 10 s interval: {workable['max_per_window']}",
            f"candidates: {workable['candidates']}; duplicates: {len(workable['duplicates'])}; "
            f"lost: {args.n - workable['candidates']}; untagged: {untagged}",
        ]
        save(f"workable_paced_{args.n}", "\n".join(lines))


if __name__ == "__main__":
    main()
