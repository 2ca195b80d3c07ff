"""A real api-server, scheduler and dag-processor on loopback: the webhook endpoint and the REST API."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests

from hrflow_airflow.destinations import REGISTRY, declaration
from hrflow_airflow.events.signing import SIGNATURE_HEADER, sign
from sandbox.airflow_home import AirflowStack
from sandbox.objects import WEBHOOK_SECRET, make_key

SOURCE = make_key("source", "stack")


@pytest.fixture(scope="module")
def stack(sandbox_server, tmp_path_factory):
    # pool_slots=None: an existing Airflow where nobody ran `airflow pools set`; the DAGs must still run
    ats = {**sandbox_server.connections()["ats_default"]}
    ats["extra"] = {**ats["extra"], "timeout": 120}  # a POST waits while a test holds its answer (overlapping runs)
    stack = AirflowStack(
        tmp_path_factory.mktemp("stack_home"),
        pool_slots=None,
        extra_env={
            **sandbox_server.airflow_env(),
            "AIRFLOW_CONN_ATS_DEFAULT": json.dumps(ats),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        },
    )
    stack.start(wait_for_dags=("hrflow_profile_sms",))
    yield stack
    stack.stop()


def webhook(stack, payload, secret=WEBHOOK_SECRET, header=None, raw=False):
    """POST a delivery as HrFlow does: the JSON body, and the signed payload in the header."""
    body = json.dumps(payload).encode()
    return requests.post(
        f"{stack.url}/hrflow/webhook",
        data=body,
        timeout=30,
        headers={SIGNATURE_HEADER: header or sign(secret, body, raw=raw), "Content-Type": "application/json"},
    )


def test_signed_duplicated_and_forged_webhooks_send_exactly_one_sms(stack, sandbox):
    [key] = sandbox.state.seed("profile", SOURCE, 1)
    event = {
        "type": "profile.indexing.success",
        "origin": "api",
        "message": "indexed",
        "profile": {"key": key, "source": {"key": SOURCE}},
    }

    forged = webhook(stack, event, secret="not-the-secret")
    unsigned = requests.post(f"{stack.url}/hrflow/webhook", json=event, timeout=10)
    first = webhook(stack, event)
    second = webhook(stack, event)
    ignored = webhook(stack, {"type": "job.train.success"})

    assert forged.status_code == 401 and unsigned.status_code == 401
    assert first.status_code == 200 and first.json()["results"][0]["status"] == "queued"
    assert second.status_code == 200 and second.json()["results"][0]["status"] == "duplicate"
    assert ignored.status_code == 200 and ignored.json()["results"][0]["status"] == "ignored"
    run_id = first.json()["results"][0]["run_id"]
    assert stack.wait_for_run("hrflow_profile_sms", run_id) == "success"
    runs = stack.api("GET", "/api/v2/dags/hrflow_profile_sms/dagRuns").json()["dag_runs"]
    assert [r["dag_run_id"] for r in runs] == [run_id]
    info = sandbox.state.get("profile", SOURCE, key)["info"]
    assert [b["text"] for b in sandbox.state.sms.bodies] == [
        f"{info['first_name']} {info['last_name']} just applied ! Send a message to {info['phone']}."
    ]


def _sms_runs(stack) -> list[dict]:
    return stack.api("GET", "/api/v2/dags/hrflow_profile_sms/dagRuns", params={"limit": 100}).json()["dag_runs"]


def _carried(runs: list[dict]) -> list[str]:
    """Return the profiles' run ids the SMS runs carry (a burst's profiles share a run: events/inbox.py)."""
    from hrflow_airflow.events.inbox import members_of

    return [member for run in runs for member, _ in members_of(run["dag_run_id"], run["conf"] or {})]


def _wait_for_all_sms_runs(stack, before: set[str], profiles: int) -> list[dict]:
    """Wait until runs started after ``before`` carry ``profiles`` profiles (the inbox's drain starts them just
    after the answer), then until every one is done; return them."""
    deadline = time.monotonic() + 60
    while len(_carried([r for r in _sms_runs(stack) if r["dag_run_id"] not in before])) < profiles:
        assert time.monotonic() < deadline, "the drain did not start every profile's SMS"
        time.sleep(0.5)
    runs = [r for r in _sms_runs(stack) if r["dag_run_id"] not in before]
    for run in runs:
        stack.wait_for_run("hrflow_profile_sms", run["dag_run_id"], timeout=180)
    return [r for r in _sms_runs(stack) if r["dag_run_id"] not in before]


def test_real_deliveries_one_sms_per_new_profile_and_keys_only_in_conf(stack, sandbox):
    """Array form, whole profile objects, today's event names, both signature forms, a 40 KB resume."""
    before = {r["dag_run_id"] for r in _sms_runs(stack)}
    first, second, big = sandbox.state.seed("profile", SOURCE, 3, start=10)
    profile = {**sandbox.state.get("profile", SOURCE, first), "source_key": SOURCE}
    large = sandbox.state.get("profile", SOURCE, big)
    large["text"] = "Experienced data engineer. " * 1500  # ~40 KB of resume text, in the body and in the header
    events = [
        {"type": t, "origin": "api", "message": "Profile created", "profile": profile}
        for t in ("profile.parsing.success", "profile.storing.success")
    ]

    parsed_then_stored = webhook(stack, events)
    updated = webhook(stack, [{"type": "profile.storing.update", "origin": "api", "profile": profile}])
    legacy_raw = webhook(
        stack,
        [
            {
                "type": "profile.indexing.success",
                "origin": "api",
                "profile": sandbox.state.get("profile", SOURCE, second),
            }
        ],
        raw=True,
    )
    large_delivery = webhook(stack, [{"type": "profile.storing.success", "origin": "api", "profile": large}])
    forged = webhook(stack, events, secret="not-the-secret")
    unsigned = requests.post(f"{stack.url}/hrflow/webhook", json=events, timeout=10)

    assert [r["status"] for r in parsed_then_stored.json()["results"]] == ["queued", "duplicate"]
    # an edit starts no SMS run; it is announced to the sync instead (docs/webhook.md): the same record as the
    # new-profile events' announcement, so a duplicate of it while that one waits for the drain
    assert updated.status_code == 200 and "run_id" not in updated.json()["results"][0]
    assert updated.json()["results"][0]["sync"] in ("queued", "duplicate")
    assert legacy_raw.status_code == 200 and legacy_raw.json()["results"][0]["status"] == "queued"
    assert len(large_delivery.request.headers[SIGNATURE_HEADER]) > 40_000
    assert large_delivery.status_code == 200, large_delivery.text
    assert large_delivery.json()["results"][0]["status"] == "queued"
    assert forged.status_code == 401 and unsigned.status_code == 401
    runs = _wait_for_all_sms_runs(stack, before, 3)
    assert len(_carried(runs)) == len(set(_carried(runs))) == 3 and all(r["state"] == "success" for r in runs)
    texts = [b["text"] for b in sandbox.state.sms.bodies]
    for key in (first, second, big):
        info = sandbox.state.get("profile", SOURCE, key)["info"]
        assert (
            texts.count(f"{info['first_name']} {info['last_name']} just applied ! Send a message to {info['phone']}.")
            == 1
        )
    assert len(texts) == 3
    for run in runs:  # what Airflow stored and shows: keys only
        from hrflow_airflow.events.inbox import members_of

        conf = json.dumps(run["conf"], ensure_ascii=False)
        assert set(run["conf"]) - {"batch"} == {"type", "origin", "profile"}
        for _, member in members_of(run["dag_run_id"], run["conf"]):
            assert set(member) == {"type", "origin", "profile"} and set(member["profile"]) == {"key", "source"}
        for key in (first, second, big):
            info = sandbox.state.get("profile", SOURCE, key)["info"]
            for value in (info["email"], info["phone"], info["first_name"], info["last_name"]):
                assert value not in conf


def test_rest_api_trigger_with_token(stack, sandbox):
    [key] = sandbox.state.seed("profile", SOURCE, 1, start=1)
    token = requests.post(
        f"{stack.url}/auth/token", json={"username": stack.USER, "password": stack.PASSWORD}, timeout=10
    ).json()["access_token"]
    conf = {"type": "profile.indexing.success", "profile": {"key": key, "source": {"key": SOURCE}}}

    response = requests.post(
        f"{stack.url}/api/v2/dags/hrflow_profile_sms/dagRuns",
        headers={"Authorization": f"Bearer {token}"},
        json={"logical_date": None, "conf": conf},
        timeout=10,
    )

    assert response.status_code == 200, response.text
    assert stack.wait_for_run("hrflow_profile_sms", response.json()["dag_run_id"]) == "success"
    assert len(sandbox.state.sms.bodies) == 1


def test_rest_api_refuses_conf_without_profile_key(stack, sandbox):
    response = stack.api(
        "POST",
        "/api/v2/dags/hrflow_profile_sms/dagRuns",
        json={
            "logical_date": None,
            "conf": {"type": "profile.indexing.success", "profile": {"source": {"key": SOURCE}}},
        },
    )
    assert response.status_code == 400
    assert "key" in response.text


def test_hrflow_connection_form_is_served_by_the_api_server(stack):
    response = stack.api("GET", "/ui/connections/hook_meta")
    assert response.status_code == 200, response.text
    [meta] = [m for m in response.json() if m["connection_type"] == "hrflow"]
    assert meta["hook_name"] == "HrFlow.ai"
    behaviour = meta["standard_fields"]
    assert (
        behaviour["host"]["title"] == "API base URL" and behaviour["host"]["placeholder"] == "https://api.hrflow.ai/v1"
    )
    assert behaviour["login"]["title"] == "API user email" and behaviour["password"]["title"] == "API secret"
    assert behaviour["url_schema"]["hidden"] and behaviour["port"]["hidden"] and not behaviour["host"]["hidden"]
    extra = meta["extra_fields"]
    assert extra["webhook_secret"]["schema"]["title"] == "Webhook secret"
    assert extra["webhook_secret"]["schema"]["format"] == "password"


# every connection type the README's configuration table names, with the labels its form must show
README_FORMS = {
    "hrflow": ("HrFlow.ai", {"host": "API base URL", "login": "API user email", "password": "API secret"}),
    "hrflow_ats": ("ATS (JSON endpoint)", {"host": "ATS endpoint URL", "password": "ATS API key (sent as X-API-KEY)"}),
    "hrflow_messaging": (
        "Messaging service (JSON endpoint)",
        {"host": "Messaging endpoint URL", "password": "Messaging API key (sent as X-API-KEY)"},
    ),
    "twilio": ("Twilio (SMS)", {"login": "Account SID (or API key SID)", "password": "Auth Token (or API key secret)"}),
    "postgres": (None, {}),  # hrflow_ledger: the postgres provider's own form
    # each ATS adapter's own declaration (its module in destinations/): its UI name and relabelled fields
    **{
        declared["conn_type"]: (declared["hook_name"], dict(declared["form"].relabeling))
        for declared in (declaration(path) for path in REGISTRY)
        if declared["conn_type"] != "hrflow_ats"
    },
}


def test_every_connection_type_the_readme_names_has_a_labelled_form(stack):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    named = set(re.findall(r"Connection, type `([a-z_]+)`", readme))
    assert named == set(README_FORMS), f"README names {sorted(named)}"
    metas = {m["connection_type"]: m for m in stack.api("GET", "/ui/connections/hook_meta").json()}
    for conn_type, (hook_name, labels) in README_FORMS.items():
        assert conn_type in metas, f"type {conn_type} is not in the UI's list"
        meta = metas[conn_type]
        if hook_name:
            assert meta["hook_name"] == hook_name
        for field, title in labels.items():
            assert meta["standard_fields"][field]["title"] == title, (conn_type, field)
        if conn_type in ("hrflow_ats", "hrflow_messaging"):
            fields = meta["standard_fields"]
            assert fields["login"]["hidden"] and fields["port"]["hidden"] and fields["url_schema"]["hidden"]
            assert fields["host"]["placeholder"].startswith("https://")
            assert meta["extra_fields"]["timeout"]["schema"]["title"] == "HTTP timeout (seconds)"
    assert metas["hrflow_messaging"]["extra_fields"]["phone"]["schema"]["title"].startswith("Recipient phone")
    twilio = metas["twilio"]["extra_fields"]
    assert (
        twilio["from"]["schema"]["title"] == "From number (E.164)"
        and twilio["to"]["schema"]["title"] == "Recipient number"
    )
    assert twilio["default_region"]["schema"]["title"] == "Default region for local numbers"
    assert (
        metas["workable"]["extra_fields"]["job_shortcode"]["schema"]["title"]
        == "Job shortcode (empty: the talent pool)"
    )
    assert metas["smartrecruiters"]["standard_fields"]["login"]["hidden"]
    # the required extras of the new ATSs are labelled form fields, and say they are required
    assert "required" in metas["greenhouse"]["extra_fields"]["user_id"]["schema"]["title"]
    assert "required" in metas["lever"]["extra_fields"]["perform_as"]["schema"]["title"]
    assert metas["teamtailor"]["extra_fields"]["api_version"]["schema"]["title"].startswith("API version")


@pytest.mark.parametrize("name", ["smartrecruiters", "workable", "greenhouse", "lever", "teamtailor"])
def test_ats_api_test_button_reads_and_creates_nothing(stack, sandbox, name):
    from sandbox.demo import CONNECTIONS

    conn = CONNECTIONS[name](sandbox.url)
    conn["extra"] = json.dumps(conn["extra"])
    good = stack.api("POST", "/api/v2/connections/test", json={"connection_id": "form_check", **conn}).json()
    bad = stack.api(
        "POST", "/api/v2/connections/test", json={"connection_id": "form_check", **conn, "password": "x"}
    ).json()
    assert good["status"] is True and "accepted the credential" in good["message"]
    assert (
        bad["status"] is False
        and "refused the credentials (HTTP 401" in bad["message"]
        and "check connection" in bad["message"]
    )
    assert getattr(sandbox.state.vendors, name).creates == 0


@pytest.mark.parametrize(
    ("conn", "ok", "message"),
    [
        (
            {"conn_type": "hrflow_ats", "host": "https://ats.example.com/api/hrflow/profiles", "password": "k"},
            True,
            "looks right: https://ats.example.com, API key set. Nothing was sent",
        ),
        ({"conn_type": "hrflow_ats", "host": "", "password": "k"}, False, "the ATS URL (host) is empty"),
        (
            {"conn_type": "hrflow_ats", "host": "ftp://ats.example.com", "password": "k"},
            False,
            "must start with https://",
        ),
        (
            {"conn_type": "hrflow_messaging", "host": "https://sms.example.com/send", "password": ""},
            False,
            "the messaging service API key (password) is empty",
        ),
    ],
    ids=["good", "no-url", "bad-scheme", "no-key"],
)
def test_connection_form_test_button_checks_without_side_effects(stack, sandbox, conn, ok, message):
    response = stack.api("POST", "/api/v2/connections/test", json={"connection_id": "form_check", **conn})
    assert response.status_code == 200, response.text
    assert response.json()["status"] is ok and message in response.json()["message"]
    assert sandbox.state.ats_area("profiles").requests == 0 and not sandbox.state.sms.bodies


def _readme_rest_block() -> str:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = text.split("<!-- rest-example:start -->", 1)[1].split("<!-- rest-example:end -->", 1)[0]
    return block.split("```bash\n", 1)[1].rsplit("```", 1)[0]


def _json_objects(text: str) -> list[dict]:
    decoder, objects, index = json.JSONDecoder(), [], 0
    while index < len(text):
        obj, index = decoder.raw_decode(text, index)
        objects.append(obj)
        while index < len(text) and text[index].isspace():
            index += 1
    return objects


def test_readme_rest_examples_work_as_written(stack, sandbox):
    source = make_key("source", "readme")
    [key] = sandbox.state.seed("profile", source, 1)

    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _readme_rest_block()],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": os.environ["PATH"],
            "AIRFLOW_URL": stack.url,
            "AIRFLOW_USER": stack.USER,
            "AIRFLOW_PASSWORD": stack.PASSWORD,
            "PROFILE_KEY": key,
            "SOURCE_KEY": source,
        },
    )

    assert proc.returncode == 0, proc.stderr
    sms_run, sync_run = _json_objects(proc.stdout)
    assert stack.wait_for_run("hrflow_profile_sms", sms_run["dag_run_id"]) == "success"
    assert stack.wait_for_run("hrflow_profiles_to_ats", sync_run["dag_run_id"]) == "success"
    assert len(sandbox.state.sms.bodies) == 1
    assert sandbox.state.ats_area("profiles").requests == 0 and not sandbox.state.edits  # dry run


def test_backfill_syncs_each_interval_once(stack, sandbox):
    sandbox.state.honour_idempotency = True  # the JSON wire format's replay (as the suite ran before the default)
    source = make_key("source", "backfill")
    first = sandbox.state.seed("profile", source, 2, created_at="2026-02-01T00:10:00+00:00", spread_seconds=60)
    second = sandbox.state.seed(
        "profile", source, 2, start=2, created_at="2026-02-01T01:20:00+00:00", spread_seconds=60
    )
    later = sandbox.state.seed("profile", source, 1, start=4, created_at="2026-02-01T03:00:00+00:00")
    # Unpausing starts the latest scheduled run at once (catchup off), and a scheduled run takes every unsynced
    # profile created before its interval end: it reads the Variable, an idle source, so only the backfill's
    # runs (param source_keys, through dag_run_conf) touch this source, however the two interleave.
    scheduled_runs_read_an_idle_source(stack, sandbox)
    earlier = {
        r["dag_run_id"] for r in stack.api("GET", "/api/v2/dags/hrflow_profiles_to_ats/dagRuns").json()["dag_runs"]
    }
    stack.unpause("hrflow_profiles_to_ats")

    backfill = {
        "dag_id": "hrflow_profiles_to_ats",
        "from_date": "2026-02-01T00:00:00Z",
        "to_date": "2026-02-01T01:00:00Z",
        "max_active_runs": 1,
        "dag_run_conf": {"source_keys": [source]},
    }
    create_backfill(stack, backfill)
    runs = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len(runs) < 2:
        runs = runs_of(stack, "hrflow_profiles_to_ats", "backfill")
        time.sleep(1)
    assert sorted(r["data_interval_start"][:19] for r in runs) == ["2026-02-01T00:00:00", "2026-02-01T01:00:00"]
    for run in runs:
        assert stack.wait_for_run("hrflow_profiles_to_ats", run["dag_run_id"], timeout=180) == "success"
    for run in runs_of(stack, "hrflow_profiles_to_ats", "scheduled"):
        if run["dag_run_id"] not in earlier:  # ended, so what it posted shows
            assert stack.wait_for_run("hrflow_profiles_to_ats", run["dag_run_id"], timeout=180) == "success"
    ats = sandbox.state.ats_area("profiles")
    assert dict(ats.applied) == {k: 1 for k in first + second}
    assert [sorted(r["hrflow_key"] for r in body["profiles"]) for body in ats.bodies] in (
        [sorted(first), sorted(second)],
        [sorted(second), sorted(first)],
    )
    assert later[0] not in ats.applied


def scheduled_runs_read_an_idle_source(stack: AirflowStack, sandbox) -> None:
    """
    Point the Variable the scheduled runs read at a source whose one profile is synced: unpausing starts the
    latest scheduled run at once (catchup off), and it touches nothing a test seeded in its own source.
    """
    idle = make_key("source", "backfill-idle")
    sandbox.state.seed("profile", idle, 1, tags=[{"name": "sync", "value": "1"}])
    body = {"key": "hrflow_source_keys", "value": json.dumps([idle])}
    if not stack.api("POST", "/api/v2/variables", json=body).ok:  # an earlier test of the module set it
        assert stack.api("PATCH", "/api/v2/variables/hrflow_source_keys", json=body).ok


def create_backfill(stack: AirflowStack, backfill: dict) -> dict:
    """Create ``backfill`` through the REST API; return Airflow's answer."""
    deadline = time.monotonic() + 120
    while True:
        response = stack.api("POST", "/api/v2/backfills", json=backfill)
        # 503 while the scheduler holds SQLite's lock ("supported ... concurrently"); 409 until the scheduler marks
        # an earlier test's backfill complete
        busy = response.status_code == 503 and "Database is locked" in response.text
        if not (busy or response.status_code == 409 and "already a running backfill" in response.text):
            break
        assert time.monotonic() < deadline, response.text
        time.sleep(2)
    assert response.status_code == 200, response.text
    return response.json()


def runs_of(stack: AirflowStack, dag_id: str, run_type: str) -> list[dict]:
    """Return the runs of ``dag_id`` of ``run_type`` (``backfill``, ``manual``, ``scheduled``)."""
    runs = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns").json()["dag_runs"]
    return [run for run in runs if run["run_type"] == run_type]


def test_a_backfill_and_a_manual_run_at_once_post_each_profile_once_to_an_ats_that_ignores_keys(stack, sandbox):
    """
    Airflow counts a backfill's runs apart from the DAG's max_active_runs, so a backfill run and a manual run
    overlap here, both finding the same unsynced profiles. The first POST is applied and its answer held: the
    other run's post_to_ats must wait for its turn (rescheduled), then find them accepted in the ledger and only
    tag. Without turns it resends them under the same key, which this ATS applies again.
    """
    from urllib.parse import quote

    state, dag_id = sandbox.state, "hrflow_profiles_to_ats"
    state.honour_idempotency = False
    source = make_key("source", "overlap")
    keys = state.seed("profile", source, 3, created_at="2026-02-02T00:10:00+00:00", spread_seconds=60)
    scheduled_runs_read_an_idle_source(stack, sandbox)
    stack.unpause(dag_id)
    hold = state.hold_next_ats_answer()
    conf = {"source_keys": [source]}
    manual = stack.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
    assert manual.ok, manual.text
    backfill = {"dag_id": dag_id, "from_date": "2026-02-02T00:00:00Z", "to_date": "2026-02-02T00:30:00Z"}
    create_backfill(stack, {**backfill, "dag_run_conf": conf})
    assert hold["held"].wait(180), "no run posted to the ATS"

    def post_states() -> list[str]:
        runs = [manual.json()["dag_run_id"], *(r["dag_run_id"] for r in runs_of(stack, dag_id, "backfill"))]
        states = []
        for run_id in runs:
            tis = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances")
            states += [ti["state"] for ti in tis.json()["task_instances"] if ti["task_id"] == "batch.post_to_ats"]
        return states

    try:  # the other run reaches post_to_ats while the first still waits for the ATS's answer
        deadline = time.monotonic() + 180
        while "up_for_reschedule" not in post_states() and state.ats_area("profiles").requests < 2:
            assert time.monotonic() < deadline, f"the other run never reached post_to_ats: {post_states()}"
            time.sleep(0.5)
    finally:
        hold["release"].set()
    [backfill_run] = [
        r for r in runs_of(stack, dag_id, "backfill") if r["data_interval_start"].startswith("2026-02-02")
    ]
    for run_id in (manual.json()["dag_run_id"], backfill_run["dag_run_id"]):
        assert stack.wait_for_run(dag_id, run_id, timeout=240) == "success"
    profiles = state.ats_area("profiles")
    assert profiles.requests == 1 and dict(profiles.applied) == {k: 1 for k in keys}
    assert set(keys) <= set(state.snapshot()["synced"]["profile"]) and max(state.edits[k] for k in keys) == 1


def test_a_bulk_delivery_is_answered_at_once_and_each_profile_joins_exactly_one_run(stack, sandbox):
    """201 new profiles in one delivery (one past the drain's chunk of 200): recorded, answered `queued`, then
    started by the drain in runs of up to `[hrflow] sms_batch_size` profiles, each profile in exactly one run; a
    redelivery adds nothing. The SMS DAG is paused meanwhile, so the runs wait (a bulk import's SMS are not this
    test's)."""
    from hrflow_airflow.events.inbox import DRAIN_CHUNK, members_of
    from hrflow_airflow.settings import BY_NAME

    count = DRAIN_CHUNK + 1  # the smallest bulk that needs a second drain round
    batch = int(stack.env.get("AIRFLOW__HRFLOW__SMS_BATCH_SIZE", BY_NAME["sms_batch_size"].default))
    stack.api("PATCH", "/api/v2/dags/hrflow_profile_sms", json={"is_paused": True}).raise_for_status()
    source = make_key("source", "bulk")
    keys = [make_key("profile", source, i) for i in range(count)]
    events = [{"type": "profile.storing.success", "profile": {"key": k, "source": {"key": source}}} for k in keys]

    def runs() -> dict[str, list[str]]:
        listed = stack.api("GET", "/api/v2/dags/hrflow_profile_sms/dagRuns", params={"limit": 1000}).json()
        return {
            r["dag_run_id"]: [m for m, _ in members_of(r["dag_run_id"], r["conf"] or {})] for r in listed["dag_runs"]
        }

    before = set(runs())
    try:
        first = webhook(stack, events)
        assert first.status_code == 200, first.text
        queued = [r["run_id"] for r in first.json()["results"]]
        assert [r["status"] for r in first.json()["results"]] == ["queued"] * count and len(set(queued)) == count
        again = webhook(stack, events)  # HrFlow redelivers
        assert [r["status"] for r in again.json()["results"]] == ["duplicate"] * count

        deadline = time.monotonic() + 120
        while sum(len(members) for run, members in runs().items() if run not in before) < count:
            assert time.monotonic() < deadline, "not every profile of the delivery joined a run"
            time.sleep(1)
        new = {run: members for run, members in runs().items() if run not in before}
        assert sorted(m for members in new.values() for m in members) == sorted(queued)  # each profile once
        assert len(new) <= -(-DRAIN_CHUNK // batch) + 1  # in runs of up to the batch size, not one per profile
    finally:
        for run_id in set(runs()) - before:
            stack.api("DELETE", f"/api/v2/dags/hrflow_profile_sms/dagRuns/{run_id}")
        stack.unpause("hrflow_profile_sms")


def test_hostile_signed_bodies_get_a_4xx_from_the_real_api_server_and_start_nothing(stack, sandbox):
    """Signed, so they pass the signature: deep nesting, a 2 MB key, keys unlike HrFlow's. Never a 5xx."""

    def runs() -> int:
        return stack.api("GET", "/api/v2/dags/hrflow_profile_sms/dagRuns", params={"limit": 1}).json()["total_entries"]

    before = runs()
    nested = b"[" * 20_000 + b"]" * 20_000
    deep = requests.post(
        f"{stack.url}/hrflow/webhook", data=nested, headers={SIGNATURE_HEADER: sign(WEBHOOK_SECRET, nested)}, timeout=30
    )
    assert deep.status_code == 422 and "nested too deeply" in deep.json()["detail"], deep.text
    for key in ("p" * 2_000_000, "p" * 129, "../../etc/passwd", "key with spaces"):
        event = {"type": "profile.storing.success", "profile": {"key": key, "source": {"key": SOURCE}}}
        answer = webhook(stack, event)
        assert answer.status_code in (413, 422, 431), (len(key), answer.status_code)  # what the server's limits say
        if len(key) < 1000:  # small enough to be read: refused by name
            assert answer.status_code == 422 and "'profile.key' is not an HrFlow key" in answer.json()["detail"]
    bad_source = {"type": "profile.storing.success", "profile": {"key": "a" * 40, "source": {"key": "s p a c e"}}}
    assert webhook(stack, bad_source).status_code == 422
    assert runs() == before
