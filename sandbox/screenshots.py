"""
`make screenshots`: the README's screenshots (monitoring, and the ATS connection form), from a local
`airflow standalone` and the sandbox.

Runs one sync that succeeds and one whose ATS rejects a batch, so there is an asset event with failed keys and
an on-call alert, then takes the pictures with headless Chromium (Debian's ``chromium`` package).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox.airflow_home import REPO, AirflowStack
from sandbox.connections import alert_connection
from sandbox.objects import make_key
from sandbox.server import SandboxServer

OUT = REPO / "docs" / "img"
ON_CALL = "+33 6 00 00 00 00"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "chromium"


def screenshot(url: str, path: Path, size: str = "1400,900") -> None:
    """Render ``url`` with headless Chromium into ``path`` (PNG)."""
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={size}",
            "--virtual-time-budget=20000",
            f"--screenshot={path}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    print(f"wrote {path.relative_to(REPO)}")


def connection_form(airflow_url: str, path: Path) -> None:
    """Open Admin → Connections → Add, pick the "ATS (JSON endpoint)" type, picture the labelled form (Playwright)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{airflow_url}/connections", wait_until="networkidle")
            page.get_by_role("button", name="Add Connection").first.click()
            page.get_by_role("dialog").get_by_role("textbox").first.fill("ats_default")
            page.keyboard.press("Tab")  # the type picker (a react-select that never settles for a mouse click)
            page.keyboard.type("ATS (JSON")
            page.keyboard.press("Enter")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(path))
        finally:
            browser.close()
    print(f"wrote {path.relative_to(REPO)}")


def main() -> int:
    sandbox = SandboxServer().start_in_thread()
    source = make_key("source", "careers-site")
    keys = sandbox.state.seed("profile", source, 12, created_at="2026-01-01T00:00:00+00:00", spread_seconds=60)
    sandbox.state.ats_reject_keys[keys[0]] = "field 'email' is invalid"
    alert = alert_connection(sandbox.url, ON_CALL)
    home = Path(tempfile.mkdtemp(prefix="hrflow-screens-"))
    stack = AirflowStack(
        home,
        extra_env={
            **sandbox.airflow_env(),
            "AIRFLOW_CONN_HRFLOW_ALERT": json.dumps(alert),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__SCHEDULER__PARSING_CLEANUP_INTERVAL": "5",
        },
    )
    stack.start(wait_for_dags=("hrflow_profiles_to_ats",), standalone=True)
    try:
        stack.api(
            "PATCH",
            "/api/v2/dags/hrflow_profiles_to_ats",
            json={"is_paused": False},
            params={"update_mask": "is_paused"},
        ).raise_for_status()
        run = stack.api(
            "POST",
            "/api/v2/dags/hrflow_profiles_to_ats/dagRuns",
            json={"logical_date": None, "conf": {"source_keys": [source], "batch_size": 4}},
        ).json()
        state = stack.wait_for_run("hrflow_profiles_to_ats", run["dag_run_id"], timeout=300)
        print(f"sync run {run['dag_run_id']}: {state}")
        for _ in range(60):  # the failure alert comes from the dag-processor, shortly after the run ends
            if any(b.get("to") == ON_CALL for b in sandbox.state.sms.bodies):
                break
            time.sleep(1)
        for _ in range(60):  # the scheduler lists an alias's assets at its next asset clean-up
            assets = stack.api("GET", "/api/v2/assets", params={"uri_pattern": f"hrflow://profiles/{source}"}).json()
            if assets["assets"]:
                break
            time.sleep(1)
        asset_id = assets["assets"][0]["id"]
        OUT.mkdir(parents=True, exist_ok=True)
        screenshot(f"{stack.url}/assets/{asset_id}", OUT / "asset-view.png")
        screenshot(f"{sandbox.url}/_sandbox/inbox", OUT / "alert-sms.png", size="900,420")
        screenshot(f"{stack.url}/dags/hrflow_profiles_to_ats/runs/{run['dag_run_id']}", OUT / "failed-run.png")
        # the event's extra as the REST API serves it (the asset view shows it folded)
        screenshot(
            f"{stack.url}/api/v2/assets/events?asset_id={asset_id}", OUT / "asset-event-extra.png", size="1400,170"
        )
        connection_form(stack.url, OUT / "connection-form-ats.png")
    finally:
        stack.stop()
        sandbox.shutdown()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
