"""Start the sandbox: ``python -m sandbox [--port 8765] [--profiles 40] [--jobs 10] [--env-file F]``."""

from __future__ import annotations

import argparse
import gc
import json
import signal
import sys
from pathlib import Path

from sandbox.objects import make_key
from sandbox.server import SandboxServer

DEMO_SOURCE = make_key("source", "demo")
DEMO_BOARD = make_key("board", "demo")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--profiles", type=int, default=40, help="unsynced profiles to seed in the demo source")
    parser.add_argument("--jobs", type=int, default=10, help="unsynced jobs to seed in the demo board")
    parser.add_argument("--hrflow-latency", type=float, default=0.0, help="seconds added to each HrFlow call")
    parser.add_argument("--ats-latency", type=float, default=0.0, help="seconds added to each ATS call")
    parser.add_argument("--env-file", type=Path, help="write AIRFLOW_CONN_* lines for this sandbox here")
    args = parser.parse_args(argv)

    server = SandboxServer(args.host, args.port)
    server.state.latency.update(hrflow=args.hrflow_latency, ats=args.ats_latency)
    server.state.seed("profile", DEMO_SOURCE, args.profiles, spread_seconds=1, created_at="2026-01-01T00:00:00+00:00")
    server.state.seed("job", DEMO_BOARD, args.jobs, spread_seconds=1, created_at="2026-01-01T00:00:00+00:00")
    if args.env_file:
        lines = [f"{name}='{value}'" for name, value in server.airflow_env().items()]
        lines += [
            f"AIRFLOW_VAR_HRFLOW_SOURCE_KEYS='{json.dumps([DEMO_SOURCE])}'",
            f"AIRFLOW_VAR_HRFLOW_BOARD_KEYS='{json.dumps([DEMO_BOARD])}'",
        ]
        args.env_file.write_text("\n".join(lines) + "\n")
    print(f"sandbox listening on {server.url} (source {DEMO_SOURCE}, board {DEMO_BOARD})", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # The emulator stands in for HrFlow's servers, which are not on the Airflow machine; in a bench it shares
    # the cores with Airflow. Its state grows to a million objects' edits, and at Python's default threshold
    # (700 allocations) each request's few thousand short-lived objects set off collections that traverse
    # it again and again. What is here at start is never collected; new objects are collected in fewer passes.
    gc.freeze()
    gc.set_threshold(100_000, *gc.get_threshold()[1:])
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
