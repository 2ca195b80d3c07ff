"""What a delivery starts in the sync DAGs: the real webhook app, inbox and ledger (SQLite); the asset event faked."""

from __future__ import annotations

import copy
import json
import time

import pytest
from fastapi.testclient import TestClient

from hrflow_airflow.errors import TransientError
from hrflow_airflow.events.app import create_app
from hrflow_airflow.events.inbox import Inbox
from hrflow_airflow.events.planning import run_id_for
from hrflow_airflow.events.realtime import RecordHasher, announced, sync_event_types
from hrflow_airflow.events.signing import SIGNATURE_HEADER, sign
from hrflow_airflow.events.sms import EventError
from hrflow_airflow.ledger import Ledger
from hrflow_airflow.objects import JOB, PROFILE
from hrflow_airflow.sealed import record_hash

SECRET = "whsec-test"
DESTINATION = "ats_default"
SOURCE = "s" * 40
PROFILE_OBJ = {
    "key": "p" * 40,
    "source": {"key": SOURCE},
    "info": {"first_name": "Zoë", "last_name": "Moreau", "email": "zoe@example.com", "phone": "+33612345678"},
    "tags": [],
}


class Hasher(RecordHasher):
    """The real mapping and hash, with the default field map and ledger key instead of reading the connection."""

    def setup(self, kind):
        return dict(kind.default_field_map), DESTINATION, None


@pytest.fixture
def webhook(ledger_path):
    """
    The webhook app with sync on; ``started`` lists each (kind, keys) it asked the scheduler for, ``triggered``
    each (run id, conf) of an SMS run it started.
    """
    started: list[tuple[str, list[str]]] = []
    triggered: list[tuple[str, dict]] = []

    def trigger(run_id, conf):
        triggered.append((run_id, conf))
        return "triggered"

    def start(kind, objects):
        started.append((kind.name, sorted(o["key"] for o in objects)))
        return "started"

    app = create_app(
        get_secret=lambda: SECRET,
        trigger=trigger,
        check_pool=lambda: None,
        starts_sync=True,
        hasher=Hasher(),
        start_sync=start,
    )
    client = TestClient(app)
    client.started, client.triggered = started, triggered
    return client


def deliver(client, event_type: str, obj: dict, kind: str = "profile") -> dict:
    body = json.dumps([{"type": event_type, "origin": "api", kind: obj}]).encode()
    answer = client.post("/webhook", content=body, headers={SIGNATURE_HEADER: sign(SECRET, body)})
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 30
    while Inbox().pending():
        assert time.monotonic() < deadline, "the drain did not handle the delivery"
        time.sleep(0.05)
    return answer.json()["results"][0]


def synced(obj: dict) -> None:
    """Record in the ledger that the ATS accepted ``obj``'s mapped record, as post_to_ats does."""
    record = PROFILE.record(obj["key"], obj, PROFILE.default_field_map)  # as the sync records it: CV and jobs too
    deliveries = Ledger().deliveries
    deliveries.record_accepted(DESTINATION, [(obj["key"], SOURCE)], hashes={obj["key"]: record_hash(record)})
    deliveries.mark_synced(DESTINATION, [obj["key"]])


def test_our_tagging_update_starts_nothing_and_an_edit_starts_one_run(webhook):
    synced(PROFILE_OBJ)
    tagged = copy.deepcopy(PROFILE_OBJ)
    tagged["tags"] = [{"name": "sync", "value": "1"}, {"name": "ats_id", "value": "42"}]  # what our PUT changes
    tagged["updated_at"] = "2026-12-06T10:00:00+0000"

    answer = deliver(webhook, "profile.storing.update", tagged)
    assert answer["status"] == answer["sync"] == "queued"  # recorded, then found unchanged by the drain
    assert webhook.started == []

    edited = copy.deepcopy(tagged)
    edited["info"]["email"] = "zoe.moreau@example.com"
    deliver(webhook, "profile.storing.update", edited)
    assert webhook.started == [("profile", ["p" * 40])]
    assert Inbox().pending() == 0 and webhook.triggered == []  # an update is no new profile: no SMS


def test_a_new_profile_starts_its_sync_and_its_sms_and_the_inbox_keeps_no_candidate_data(webhook):
    deliver(webhook, "profile.parsing.success", PROFILE_OBJ)
    assert webhook.started == [("profile", ["p" * 40])]
    # its SMS: one hrflow_profile_sms run, by the profile's run id, with the keys only; the inbox row says started
    run_id = run_id_for(SOURCE, "p" * 40)
    conf = {"type": "profile.parsing.success", "origin": "api", "profile": {"key": "p" * 40, "source": {"key": SOURCE}}}
    assert webhook.triggered == [(run_id, conf)]
    inbox = Inbox()
    with inbox.ledger.engine.connect() as conn:
        row = conn.execute(inbox.table.select().where(inbox.table.c.run_id == run_id)).one()
    assert row.started_at is not None and row.status == "triggered" and json.loads(row.conf) == conf
    with Inbox().ledger.engine.connect() as conn:
        stored = json.dumps([list(map(str, row)) for row in conn.execute(Inbox().table.select())])
    for value in ("Zoë", "Moreau", "zoe@example.com", "+33612345678"):
        assert value not in stored


def test_a_new_job_announced_by_its_board_starts_the_jobs_sync(webhook):
    job = {"key": "j" * 40, "board": {"key": "b" * 40}, "name": "Data engineer", "reference": "R1"}
    answer = deliver(webhook, "job.storing.success", job, kind="job")
    assert answer == {"type": "job.storing.success", "status": "queued", "sync": "queued"}
    assert webhook.started == [("job", ["j" * 40])]


def test_with_the_setting_off_a_delivery_records_no_announcement(ledger_path):
    app = create_app(
        get_secret=lambda: SECRET, trigger=lambda *_: "triggered", check_pool=lambda: None, starts_sync=False
    )
    body = json.dumps([{"type": "profile.storing.update", "profile": PROFILE_OBJ}]).encode()
    answer = TestClient(app).post("/webhook", content=body, headers={SIGNATURE_HEADER: sign(SECRET, body)})
    assert answer.json()["results"] == [{"type": "profile.storing.update", "status": "ignored"}]
    assert Inbox().pending() == 0


def test_which_events_announce_what():
    assert {"profile.storing.update", "profile.parsing.success", "profile.searching.update"} <= sync_event_types(
        PROFILE
    )
    assert "job.storing.success" in sync_event_types(JOB) and "profile.storing.error" not in sync_event_types(PROFILE)
    assert announced({"type": "profile.storing.error", "profile": PROFILE_OBJ}, Hasher()) is None
    with pytest.raises(EventError, match="'profile.source.key' is missing"):
        announced({"type": "profile.storing.update", "profile": {"key": "p" * 40}}, Hasher())


def test_an_object_that_cannot_be_mapped_here_leaves_the_decision_to_its_run(ledger_path):
    class Broken(RecordHasher):
        def setup(self, kind):
            raise RuntimeError("Connection 'ats_default' is not defined")

    news = announced({"type": "profile.storing.update", "profile": PROFILE_OBJ}, Broken())
    assert news is not None and news.record_hash is None


def test_announcements_that_cannot_start_never_hold_up_an_sms_and_are_dropped_after_an_hour(ledger_path):
    """A sync DAG not parsed yet: its announcements wait (an hour at most), the SMS runs behind them go on."""
    from sqlalchemy import update

    inbox = Inbox()
    waiting = [announced_row(i) for i in range(250)]  # more than one drain chunk (200)
    inbox.record([*waiting, ("sms-run", {"profile": {"key": "k"}})])
    started = []

    def not_parsed(confs):
        raise TransientError("asset hrflow-webhook://profiles/ is unknown")

    assert inbox.drain(lambda run_id, conf: started.append(run_id) or "triggered", not_parsed) == 1
    assert started == ["sms-run"] and inbox.pending() == 250
    with inbox.ledger.engine.begin() as conn:
        conn.execute(update(inbox.table).values(received_at="2026-01-01T00:00:00.000+00:00"))
    assert inbox.drain(lambda *_: "triggered", not_parsed) == 0 and inbox.pending() == 0


def announced_row(i: int) -> tuple[str, dict]:
    obj = {**PROFILE_OBJ, "key": f"{i:040d}"}
    news = announced({"type": "profile.storing.update", "profile": obj}, lambda *_: f"hash-{i}")
    return news.row()
