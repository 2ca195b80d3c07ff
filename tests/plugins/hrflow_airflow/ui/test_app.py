"""The HrFlow page's routes on a real ledger, with the auth manager's answers stubbed per role."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from hrflow_airflow.ledger import QUARANTINED, REFUSED, SYNCED, Ledger, Refusal
from hrflow_airflow.ledger.runs import RunHistory
from hrflow_airflow.ui import app as page
from hrflow_airflow.ui import auth

SOURCE = "s" * 40
QUARANTINED_KEY, SYNCED_KEY = "q" * 40, "k" * 40
PROFILES = "hrflow_profiles_to_ats"


class User:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_name(self) -> str:
        return self.name


class Roles:
    """The auth manager's answers: which sync DAGs the user may read (GET) and edit (PUT)."""

    def __init__(self, read: set[str], edit: set[str]) -> None:
        self.allowed = {"GET": read, "PUT": edit}

    def filter_authorized_dag_ids(self, *, dag_ids, user, method="GET", team_name=None):
        return dag_ids & self.allowed[method]

    def get_url_login(self, **kwargs):
        return "/auth/login"


@pytest.fixture
def ledger(ledger_path):
    ledger = Ledger()
    ledger.deliveries.record_accepted("ats_default", [(SYNCED_KEY, SOURCE)], {SYNCED_KEY: "ats-1"}, {SYNCED_KEY: "h1"})
    ledger.deliveries.mark_synced("ats_default", [SYNCED_KEY])
    refusal = Refusal(QUARANTINED_KEY, SOURCE, "h2", "ATS HTTP 422: field 'email' is invalid: <redacted>")
    ledger.refusals.record("ats_default", [refusal], run_id="r1", max_refusals=1)
    RunHistory(ledger.db).record(
        {
            "found": 2,
            "posted": 1,
            "tagged": 1,
            "skipped": 0,
            "failed": 1,
            "refused": 1,
            "by_container": {SOURCE: {"found": 2, "posted": 1, "tagged": 1, "skipped": 0, "failed": 1}},
        },
        dag_id=PROFILES,
        run_id="manual__1",
        destination="ats_default",
        started_at=None,
        failures=[(QUARANTINED_KEY, SOURCE, "ATS HTTP 422: field 'email' is invalid: <redacted>")],
        keep_days=90,
    )
    return ledger


def client(monkeypatch, name: str, read: set[str], edit: set[str]) -> TestClient:
    monkeypatch.setattr(auth, "auth_manager", lambda: Roles(read, edit))
    page.app.dependency_overrides[auth.current_user] = lambda: User(name)
    return TestClient(page.app, cookies={"_token": f"jwt-of-{name}"})


@pytest.fixture(autouse=True)
def _no_overrides():
    yield
    page.app.dependency_overrides.clear()


def csrf_of(name: str) -> str:
    class Request:
        headers: dict = {}
        cookies = {"_token": f"jwt-of-{name}"}

    return auth.csrf_token(Request())


def test_an_anonymous_request_is_refused_with_a_login_link(ledger):
    response = TestClient(page.app).get("/")
    assert response.status_code == 401
    assert "/auth/login" in response.text and SYNCED_KEY not in response.text


def test_overview_counts_states_reasons_and_runs(monkeypatch, ledger):
    response = client(monkeypatch, "ada", {PROFILES}, {PROFILES}).get("/")
    assert response.status_code == 200
    text = response.text
    assert "ats_default" in text and SOURCE in text and "manual__1" in text
    assert "ATS HTTP 422: field &#x27;email&#x27; is invalid" in text  # the reason code, escaped
    assert "signed in as ada" in text


def test_a_role_that_may_not_read_the_sync_dags_sees_nothing_of_them(monkeypatch, ledger):
    browser = client(monkeypatch, "eve", set(), set())
    assert SOURCE not in browser.get("/").text and "manual__1" not in browser.get("/").text
    assert "No ledger entry" in browser.get("/profile", params={"key": QUARANTINED_KEY}).text
    keys = browser.get("/keys", params={"destination": "ats_default", "container": SOURCE, "state": QUARANTINED})
    assert keys.status_code == 404


def test_profile_shows_state_ats_id_attempts_and_offers_release(monkeypatch, ledger):
    text = client(monkeypatch, "ada", {PROFILES}, {PROFILES}).get("/profile", params={"key": QUARANTINED_KEY}).text
    assert "quarantined" in text and "Release from quarantine" in text and "manual__1" in text
    synced = client(monkeypatch, "ada", {PROFILES}, {PROFILES}).get("/profile", params={"key": SYNCED_KEY}).text
    assert "ats-1" in synced and "Release from quarantine" not in synced and "Re-send" in synced


def test_release_is_a_csrf_checked_post_logged_with_the_user(monkeypatch, ledger):
    browser = client(monkeypatch, "ada", {PROFILES}, {PROFILES})
    form = {"destination": "ats_default", "key": QUARANTINED_KEY}
    assert browser.post("/release", data=form).status_code == 403  # no token
    assert browser.post("/release", data={**form, "csrf": "x" * 40}).status_code == 403
    cross = browser.post("/release", data={**form, "csrf": csrf_of("ada")}, headers={"origin": "https://evil.example"})
    assert cross.status_code == 403
    assert ledger.deliveries.lookup("ats_default", [QUARANTINED_KEY])[QUARANTINED_KEY].state == QUARANTINED
    done = browser.post("/release", data={**form, "csrf": csrf_of("ada")}, follow_redirects=False)
    assert done.status_code == 303
    assert ledger.deliveries.lookup("ats_default", [QUARANTINED_KEY])[QUARANTINED_KEY].state == REFUSED
    text = browser.get("/profile", params={"key": QUARANTINED_KEY}).text
    assert "ada" in text and "released: the next run sends it again" in text


def test_a_viewer_cannot_release(monkeypatch, ledger):
    browser = client(monkeypatch, "viewer", {PROFILES}, set())
    assert "Release from quarantine" not in browser.get("/profile", params={"key": QUARANTINED_KEY}).text
    form = {"destination": "ats_default", "key": QUARANTINED_KEY, "csrf": csrf_of("viewer")}
    assert browser.post("/release", data=form).status_code == 403
    assert ledger.deliveries.lookup("ats_default", [QUARANTINED_KEY])[QUARANTINED_KEY].state == QUARANTINED


def test_resend_queues_a_synced_key_as_a_refused_update_the_next_run_reads_again(monkeypatch, ledger):
    browser = client(monkeypatch, "ada", {PROFILES}, {PROFILES})
    form = {"destination": "ats_default", "key": SYNCED_KEY, "csrf": csrf_of("ada")}
    assert browser.post("/resend", data=form, follow_redirects=False).status_code == 303
    entry = ledger.deliveries.lookup("ats_default", [SYNCED_KEY])[SYNCED_KEY]
    assert entry.state == REFUSED and entry.synced_hash == "resend" and entry.remote_id == "ats-1"
    assert ledger.refusals.refused_updates("ats_default", [SOURCE]) == [(SYNCED_KEY, SOURCE)]
    assert entry.state != SYNCED


def test_resend_queues_a_refused_or_quarantined_update_and_releases_a_quarantined_create(monkeypatch, ledger):
    update = Refusal(SYNCED_KEY, SOURCE, "h3", "ATS HTTP 422: field 'phone'")
    ledger.refusals.record("ats_default", [update], run_id="r2", max_refusals=1)  # its update quarantined
    browser = client(monkeypatch, "ada", {PROFILES}, {PROFILES})
    for key in (SYNCED_KEY, QUARANTINED_KEY):
        form = {"destination": "ats_default", "key": key, "csrf": csrf_of("ada")}
        assert browser.post("/resend", data=form, follow_redirects=False).status_code == 303
    queued = ledger.deliveries.lookup("ats_default", [SYNCED_KEY])[SYNCED_KEY]
    assert (queued.state, queued.synced_hash, queued.refusals) == (REFUSED, "resend", 0)  # read back, updates off too
    assert ledger.refusals.refused_updates("ats_default", [SOURCE], synced_hash="resend") == [(SYNCED_KEY, SOURCE)]
    released = ledger.deliveries.lookup("ats_default", [QUARANTINED_KEY])[QUARANTINED_KEY]
    assert released.state == REFUSED and released.synced_hash is None  # a create: the listing of new objects sends it
