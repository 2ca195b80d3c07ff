"""A/B of `make bench`'s default run at 3,000 profiles between two commits, back to back, in the same hour.

Each commit is checked out in its own git worktree (its own dags/, plugins/, sandbox/ and bench/, through the
PYTHONPATH the bench gives Airflow), and the runs alternate: A1 B1 A2 B2 A3 B3, so a slow spell of the shared
machine hits both. Prints every run's wall time of `airflow dags test` with default params, and each commit's
best and median. Nothing is asserted.

    python -m bench.ab_commits <commit before> [<commit after>, default HEAD] [--n 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import machine, save

REPO = Path(__file__).resolve().parent.parent
LINE = re.compile(r"A, default params \(no conf\), airflow dags test: ([\d.]+) s")


def run_once(tree: Path, n: int) -> float:
    """Return the default run's wall time, from one `bench.sync_bench` of the commit checked out in ``tree``."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.sync_bench", "--n", str(n), "--skip-baseline", "--skip-scheduler"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "plugins")])},
    )
    match = LINE.search(proc.stdout)
    if match is None:
        raise RuntimeError(
            f"no result from {tree} (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return float(match.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("before")
    parser.add_argument("after", nargs="?", default="HEAD")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {args.before: [], args.after: []}
    with tempfile.TemporaryDirectory(prefix="hrflow-ab-") as tmp:
        trees = {}
        for commit in times:
            trees[commit] = Path(tmp) / commit.replace("/", "_")
            subprocess.run(
                ["git", "worktree", "add", "--detach", str(trees[commit]), commit],
                cwd=REPO,
                check=True,
                capture_output=True,
            )
        try:
            started = time.strftime("%H:%M")
            for _ in range(args.rounds):
                for commit, tree in trees.items():
                    times[commit].append(run_once(tree, args.n))
            ended = time.strftime("%H:%M")
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, check=False)
    lines = [
        f"# make bench A/B, {args.n} profiles, default params, `airflow dags test` ({time.strftime('%Y-%m-%d')}, "
        f"{started}-{ended} UTC)",
        f"machine: {machine()}",
        f"runs alternate between the two commits, {args.rounds} each",
        "",
        f"{'commit':14} {'runs (s)':28} {'best':>6} {'median':>7}",
    ]
    for commit, values in times.items():
        runs = ", ".join(f"{v:.1f}" for v in values)
        lines.append(f"{commit[:12]:14} {runs:28} {min(values):6.1f} {statistics.median(values):7.1f}")
    before, after = statistics.median(times[args.before]), statistics.median(times[args.after])
    lines += ["", f"after / before (medians): {after / before:.2f}"]
    save(f"ab_commits_{args.n}", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
