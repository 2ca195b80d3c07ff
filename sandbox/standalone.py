"""`make standalone`: `airflow standalone` on the repo's SQLite home, wired to a seeded sandbox.

Open http://localhost:8080 (the admin password is printed by Airflow). Both sync DAGs and the SMS DAG work,
and `python -m sandbox.send_webhook` delivers a signed webhook to POST /hrflow/webhook. The sandbox HrFlow
announces each PUT to that webhook (`profile.storing.update`), as HrFlow does (docs/webhook.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

from sandbox.__main__ import DEMO_BOARD, DEMO_SOURCE
from sandbox.airflow_home import AIRFLOW, REPO, airflow_env, init_home
from sandbox.server import SandboxServer
from sandbox.webhooks import WebhookSender

PORT = 8765


def main() -> int:
    server = SandboxServer(port=PORT).start_in_thread()
    server.state.seed("profile", DEMO_SOURCE, 40, created_at="2026-01-01T00:00:00+00:00", spread_seconds=60)
    server.state.seed("job", DEMO_BOARD, 10, created_at="2026-01-01T00:00:00+00:00", spread_seconds=60)
    env = airflow_env(
        REPO / ".airflow",
        {
            **server.airflow_env(),
            "AIRFLOW_VAR_HRFLOW_SOURCE_KEYS": json.dumps([DEMO_SOURCE]),
            "AIRFLOW_VAR_HRFLOW_BOARD_KEYS": json.dumps([DEMO_BOARD]),
        },
    )
    init_home(env)
    server.state.webhook = WebhookSender("http://localhost:8080/hrflow/webhook")
    print(f"sandbox on {server.url}; starting airflow standalone on http://localhost:8080", flush=True)
    try:
        return subprocess.call([AIRFLOW, "standalone"], env=env)  # the sandbox keeps serving from this process
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
