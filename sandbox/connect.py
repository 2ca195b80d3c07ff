"""Point an Airflow deployment at a running sandbox: ``python -m sandbox.connect --base-url http://sandbox:8765``.

Creates (or replaces) the connections hrflow_default, ats_default, ats_jobs_default and sms_default, and the
Variables hrflow_source_keys / hrflow_board_keys for the demo source and board. Used by the compose
``sandbox`` profile.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from sandbox.__main__ import DEMO_BOARD, DEMO_SOURCE
from sandbox.airflow_home import AIRFLOW
from sandbox.connections import sandbox_connections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True, help="the sandbox as the Airflow workers reach it")
    args = parser.parse_args(argv)
    for conn_id, conn in sandbox_connections(args.base_url.rstrip("/")).items():
        subprocess.run([AIRFLOW, "connections", "delete", conn_id], capture_output=True)
        subprocess.run([AIRFLOW, "connections", "add", conn_id, "--conn-json", json.dumps(conn)], check=True)
    for name, value in (("hrflow_source_keys", [DEMO_SOURCE]), ("hrflow_board_keys", [DEMO_BOARD])):
        subprocess.run([AIRFLOW, "variables", "set", name, json.dumps(value)], check=True)
    print(f"Airflow now talks to the sandbox at {args.base_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
