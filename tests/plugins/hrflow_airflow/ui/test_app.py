"""The HrFlow page's routes on a real ledger, with the auth manager's answers stubbed per role."""

from __future__ import annotations

import json
from html import escape
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from hrflow_airflow.ledger import QUARANTINED, REFUSED, SYNCED, Ledger, Refusal
from hrflow_airflow.ledger.runs import RunHistory
from hrflow_airflow.objects import PROFILE
from hrflow_airflow.sync.batch import post_batch, tag_batch, transform_batch
from hrflow_airflow.sync.find import seal_batch
from hrflow_airflow.sync.history import record_failure, record_run
from hrflow_airflow.sync.summary import build_summary
from hrflow_airflow.ui import app as page
from hrflow_airflow.ui import auth, pages

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


def test_no_view_shows_a_name_an_email_or_a_phone(sandbox, ledger_path, monkeypatch):
    """A real run against the sandbox's HrFlow: refusals echoing the candidate, then every view of the page."""
    state, source = sandbox.state, "pii" + "s" * 37
    keys = state.seed("profile", source, 5)
    profiles = {key: state.get("profile", source, key) for key in keys}
    pii = [v for p in profiles.values() for f, v in p["info"].items() if f in ("first_name", "last_name", "email")]
    pii += [p["info"]["phone"] for p in profiles.values()] + [p["info"]["phone"][1:] for p in profiles.values()]
    info = [profiles[key]["info"] for key in keys[:2]]
    state.ats_reject_keys[keys[0]] = f"phone {info[0]['phone']} of {info[0]['first_name']} {info[0]['last_name']}"
    state.ats_reject_keys[keys[1]] = f"email '{info[1]['email']}' is taken"
    fields = {name: f"info.{name}" for name in ("first_name", "last_name", "email", "phone")}
    sync_run(profiles, source, fields, "manual__pii")
    record_failure(context_of("scheduled__pii_failed"))  # a run that ended before its summary

    browser = client(monkeypatch, "recruiter", {PROFILES}, {PROFILES})
    form = {"destination": "ats_default", "key": keys[4], "csrf": csrf_of("recruiter")}
    assert browser.post("/resend", data=form, follow_redirects=False).status_code == 303
    views = [browser.get("/"), browser.get("/", params={"page": 1})]
    for state_name in pages.STATES:
        views.append(
            browser.get("/keys", params={"destination": "ats_default", "container": source, "state": state_name})
        )
    views += [browser.get("/profile", params={"key": key, "msg": "resend: queued"}) for key in keys]
    assert {view.status_code for view in views} == {200}
    html = "\n".join(view.text for view in views)
    assert keys[0] in html and "quarantined" in html and "&lt;redacted&gt;" in html and "scheduled__pii_failed" in html
    shown = [v for v in pii if v in html or escape(v) in html or escape(v, quote=False) in html]
    assert shown == []


def sync_run(profiles: dict, source: str, fields: dict, run_id: str) -> None:
    """Post the profiles (two refused; the first again in a second run: quarantined), tag, record the summary."""
    items = [[key, source, json.dumps(profile)] for key, profile in profiles.items()]
    transformed = transform_batch({**seal_batch(0, items), "concurrency": 2, "lanes": 1}, fields)
    posted = post_batch(PROFILE, transformed, run_id=run_id, max_refusals=2)
    first = transform_batch({**seal_batch(0, items[:1]), "concurrency": 2, "lanes": 1}, fields)
    post_batch(PROFILE, first, run_id=f"{run_id}_again", max_refusals=2)
    tagged = tag_batch(PROFILE, posted, {})
    stats = {"found": len(items), "batches": 1, "found_by_container": {source: len(items)}}
    summary = build_summary(
        PROFILE, stats=stats, dry_run=False, transformed=[transformed], posted=[posted], tagged=[tagged]
    )
    record_run(PROFILE, summary, context_of(run_id))


def context_of(run_id: str) -> dict:
    return {"dag": SimpleNamespace(dag_id=PROFILES), "run_id": run_id, "dag_run": None, "params": {}}
