"""
The HrFlow page in a real browser: headless Chromium (Debian's ``chromium``, driven by Playwright) against a real
api-server, scheduler and dag-processor. Logs in, finds a quarantined profile by key, releases it, runs the sync,
sees it synced; an anonymous session is refused, a viewer cannot release. Saves the docs' screenshots.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest

from hrflow_airflow.ui.auth import csrf_token
from sandbox.airflow_home import REPO, AirflowStack
from sandbox.objects import make_key

SOURCE = make_key("source", "ui-page")
DAG = "hrflow_profiles_to_ats"
VIEWER, VIEWER_PASSWORD = "viewer", "viewer-password"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = REPO / "docs" / "img"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def stack(sandbox_server, tmp_path_factory):
    stack = AirflowStack(
        tmp_path_factory.mktemp("ui_home"),
        extra_env={
            **sandbox_server.airflow_env(),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{AirflowStack.USER}:admin,{VIEWER}:viewer",
            "AIRFLOW__HRFLOW__MAX_REFUSALS": "1",  # one refusal quarantines
        },
    )
    passwords = {AirflowStack.USER: AirflowStack.PASSWORD, VIEWER: VIEWER_PASSWORD}
    (stack.home / "passwords.json").write_text(json.dumps(passwords))
    stack.start(wait_for_dags=(DAG,))
    stack.unpause(DAG)
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def sync(stack) -> str:
    response = stack.api("POST", f"/api/v2/dags/{DAG}/dagRuns", json={"logical_date": None, "conf": {}})
    assert response.status_code == 200, response.text
    return stack.wait_for_run(DAG, response.json()["dag_run_id"], timeout=300)


def log_in(browser, stack, user: str, password: str):
    """Return a page of a new browser session signed in through Airflow's own login form."""
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(90_000)  # a loaded 2-core machine: the scheduler's runs share it
    page.goto(f"{stack.url}/auth/login", wait_until="networkidle")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url, timeout=30_000)
    return page


def wait_for_text(page, url: str, text: str, ceiling: float = 180) -> None:
    deadline = time.monotonic() + ceiling
    while text not in (page.goto(url) and page.content()):
        assert time.monotonic() < deadline, f"{text!r} not on {url} within {ceiling:.0f} s"
        time.sleep(1)


def test_find_release_and_sync_a_quarantined_profile_in_the_browser(stack, sandbox, browser, monkeypatch):
    keys = sandbox.state.seed("profile", SOURCE, 6, created_at="2026-02-01T00:00:00+00:00", spread_seconds=60)
    refused, held = keys[0], keys[1]
    sandbox.state.ats_reject_keys[refused] = "field 'email' is invalid"
    sandbox.state.ats_reject_keys[held] = "field 'phone' is invalid"
    stack.api("POST", "/api/v2/variables", json={"key": "hrflow_source_keys", "value": json.dumps([SOURCE])})
    sync(stack)  # max_refusals=1: the two refused records are quarantined

    page = log_in(browser, stack, AirflowStack.USER, AirflowStack.PASSWORD)
    page.goto(f"{stack.url}/plugin/hrflow", wait_until="networkidle")  # the entry in Airflow's navigation
    frame = page.frame_locator("iframe")
    frame.get_by_text("Run history").wait_for()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "hrflow-page.png"))

    frame.get_by_label("key").fill(refused)
    frame.get_by_role("button", name="Find").click()
    frame.locator("td b", has_text="quarantined").wait_for()  # the key's ledger state
    frame.get_by_role("button", name="Release from quarantine").click()
    frame.get_by_text("release: released: the next run sends it again").wait_for()
    page.screenshot(path=str(SHOTS / "hrflow-profile.png"))

    del sandbox.state.ats_reject_keys[refused]
    sync(stack)  # the held key is still quarantined: skipped, reported, not failed again
    wait_for_text(page, f"{stack.url}/hrflow-ui/profile?key={refused}", "<b>synced</b>")
    assert "<b>quarantined</b>" in (page.goto(f"{stack.url}/hrflow-ui/profile?key={held}") and page.content())
    assert sandbox.state.ats_area("profiles").applied.get(refused) == 1  # it reached the ATS once


def test_an_anonymous_session_is_refused(stack, browser):
    page = browser.new_context().new_page()
    response = page.goto(f"{stack.url}/hrflow-ui/")
    assert response.status == 401
    assert "Log in to Airflow" in page.content() and SOURCE not in page.content()


def test_a_viewer_sees_the_page_but_cannot_release(stack, browser):
    page = log_in(browser, stack, VIEWER, VIEWER_PASSWORD)
    page.goto(f"{stack.url}/hrflow-ui/", wait_until="networkidle")
    assert "signed in as viewer" in page.content()
    held = next(k for k in stack_quarantined(stack, page))
    page.goto(f"{stack.url}/hrflow-ui/profile?key={held}")
    assert "<b>quarantined</b>" in page.content() and "Release from quarantine" not in page.content()
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "_token")

    class Session:
        headers: dict = {}
        cookies = {"_token": token}

    form = {"destination": "ats_default", "key": held, "csrf": csrf_token(Session())}
    response = page.request.post(f"{stack.url}/hrflow-ui/release", form=form, max_redirects=0)
    assert response.status == 403 and "may not edit" in response.text()
    page.goto(f"{stack.url}/hrflow-ui/profile?key={held}")
    assert "<b>quarantined</b>" in page.content()


def stack_quarantined(stack, page) -> list[str]:
    """Return the quarantined keys the page lists for the test's source."""
    page.goto(f"{stack.url}/hrflow-ui/keys?destination=ats_default&container={SOURCE}&state=quarantined")
    return [link.inner_text() for link in page.locator("td.k a").all()]
