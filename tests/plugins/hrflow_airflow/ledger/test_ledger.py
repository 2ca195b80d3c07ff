"""The sync ledger's upgrade in place, and its refusal bookkeeping."""

from __future__ import annotations

import sqlite3

from hrflow_airflow.ledger import Ledger, Refusal


def test_a_table_of_the_previous_version_gains_the_new_columns_and_keeps_its_rows(ledger_path):
    with sqlite3.connect(ledger_path) as db:  # the table as the version before refusals created it
        db.execute(
            "CREATE TABLE hrflow_sync_ledger (destination VARCHAR(250) NOT NULL, object_key VARCHAR(64) NOT NULL, "
            "container VARCHAR(64) NOT NULL, state VARCHAR(16) NOT NULL, remote_id VARCHAR(250), "
            "attempts INTEGER NOT NULL, updated_at VARCHAR(32) NOT NULL, PRIMARY KEY (destination, object_key))"
        )
        db.execute("INSERT INTO hrflow_sync_ledger VALUES ('ats_default', 'k1', 's', 'accepted', 'x:1', 1, 'now')")

    ledger = Ledger()
    [entry] = ledger.deliveries.lookup("ats_default", ["k1"]).values()
    assert (entry.state, entry.remote_id, entry.refusals, entry.record_hash) == ("accepted", "x:1", 0, None)
    ledger.refusals.record("ats_default", [Refusal("k2", "s", "h", "refused")], run_id="r", max_refusals=3)
    assert ledger.deliveries.lookup("ats_default", ["k2"])["k2"].state == "refused"


def test_refusals_count_per_record_and_run_and_quarantine_at_the_limit(ledger_path):
    ledger = Ledger()

    def refuse(run: str, digest: str = "h1"):
        return ledger.refusals.record("d", [Refusal("k", "s", digest, "why")], run_id=run, max_refusals=2)["k"]

    assert (refuse("r1").refusals, refuse("r1").refusals) == (1, 1)  # a retry of the same run counts once
    assert refuse("r2").state == "quarantined" and [key for _, key, _ in ledger.refusals.quarantined("d")] == ["k"]
    assert refuse("r3", digest="h2").refusals == 1  # another record: counted anew, out of quarantine
    refuse("r4", digest="h2")
    assert ledger.refusals.release("d", ["k"]) == 1 and ledger.refusals.quarantined() == []
    ledger.deliveries.record_intent("d", [("k", "s")])
    ledger.deliveries.record_accepted("d", [("k", "s")], {"k": "x:9"})
    accepted = ledger.deliveries.lookup("d", ["k"])["k"]
    assert (accepted.state, accepted.refusals, accepted.reason) == ("accepted", 0, None)


def test_a_synced_object_keeps_its_row_hash_and_id_and_is_never_created_again(ledger_path):
    ledger = Ledger()
    ledger.deliveries.record_intent("d", [("k", "s")], group_key="g1", hashes={"k": "h0"})
    ledger.deliveries.record_accepted("d", [("k", "s")], {"k": "x:9"}, {"k": "h1"})
    ledger.deliveries.mark_synced("d", ["k"])
    entry = ledger.deliveries.lookup("d", ["k"])["k"]
    assert (entry.state, entry.remote_id, entry.synced_hash) == ("synced", "x:9", "h1")
    ledger.deliveries.record_intent("d", [("k", "s")])  # a synced object is never taken back to intent
    ledger.deliveries.record_accepted("d", [("k", "s")])  # nor to accepted, nor does it lose its id or hash
    entry = ledger.deliveries.lookup("d", ["k"])["k"]
    assert (entry.state, entry.remote_id, entry.synced_hash) == ("synced", "x:9", "h1")
    ledger.deliveries.record_updated("d", {"k": "h2"})
    assert ledger.deliveries.lookup("d", ["k"])["k"].synced_hash == "h2"


def test_a_baseline_fills_only_what_the_ledger_does_not_know(ledger_path):
    ledger = Ledger()
    ledger.deliveries.record_accepted("d", [("known", "s")], {"known": "x:1"}, {"known": "h-known"})
    ledger.deliveries.record_baseline("d", [("known", "s", "x:other", "h-now"), ("old", "s", "x:2", "h-old")])
    known, old = ledger.deliveries.lookup("d", ["known"])["known"], ledger.deliveries.lookup("d", ["old"])["old"]
    assert (known.state, known.remote_id, known.synced_hash) == ("accepted", "x:1", "h-known")
    assert (old.state, old.remote_id, old.synced_hash) == ("synced", "x:2", "h-old")


def test_the_watermark_is_kept_per_destination_and_scope(ledger_path):
    ledger = Ledger()
    assert ledger.watermarks.get("d", "profiles:s") is None
    ledger.watermarks.set("d", "profiles:s", "2026-12-01T10:00:00+0000")
    ledger.watermarks.set("d", "profiles:s", "2026-12-01T11:00:00+0000")
    ledger.watermarks.set("e", "profiles:s", "2026-01-01T00:00:00+0000")
    assert ledger.watermarks.get("d", "profiles:s") == "2026-12-01T11:00:00+0000"
    assert ledger.watermarks.get("d", "jobs:s") is None


def test_intent_groups_and_refused_updates_are_listed_for_their_containers(ledger_path):
    ledger = Ledger()
    ledger.deliveries.record_intent("d", [("a", "s"), ("b", "s")], group_key="g1", hashes={"a": "ha", "b": "hb"})
    ledger.deliveries.record_intent("d", [("c", "other")], group_key="g2")
    assert ledger.deliveries.intent_groups("d", ["s"]) == {"a": "g1", "b": "g1"}
    ledger.deliveries.record_accepted("d", [("u", "s")], hashes={"u": "h1"})
    ledger.deliveries.mark_synced("d", ["u"])
    ledger.refusals.record("d", [Refusal("u", "s", "h2", "invalid")], run_id="r", max_refusals=3)
    assert ledger.refusals.refused_updates("d", ["s"]) == [("u", "s")]
    assert ledger.deliveries.lookup("d", ["u"])["u"].synced_hash == "h1"  # a refused update keeps what the ATS holds


def test_every_ledger_write_works_on_postgresql(postgres_ledger):
    ledger = postgres_ledger
    ledger.deliveries.record_intent("d", [("a", "s"), ("b", "s")], group_key="g", hashes={"a": "h1", "b": "hb"})
    ledger.deliveries.record_intent("d", [("b", "s")], group_key="g")  # a second attempt counts up
    ledger.deliveries.record_accepted("d", [("a", "s")], {"a": "x:1"}, {"a": "h1"})
    ledger.deliveries.mark_synced("d", ["a"])
    ledger.deliveries.record_intent("d", [("a", "s")])  # a synced row stays synced
    ledger.deliveries.record_updated("d", {"a": "h2"})
    ledger.deliveries.record_baseline("d", [("c", "s", "x:3", "hc"), ("a", "s", "x:9", "h9")])
    ledger.refusals.record("d", [Refusal("a", "s", "h3", "bad phone")], run_id="r", max_refusals=3)
    ledger.watermarks.set("d", "profiles:s", "2026-01-01T00:00:00+0000")
    ledger.watermarks.set("d", "profiles:s", "2026-01-02T00:00:00+0000")
    found = ledger.deliveries.lookup("d", ["a", "b", "c"])
    assert (found["a"].state, found["a"].remote_id, found["a"].synced_hash) == ("refused", "x:1", "h2")
    assert (found["b"].state, found["b"].attempts) == ("intent", 2)
    assert (found["c"].state, found["c"].synced_hash) == ("synced", "hc")
    assert ledger.deliveries.intent_groups("d", ["s"]) == {"b": "g"} and ledger.refusals.refused_updates(
        "d", ["s"]
    ) == [("a", "s")]
    assert ledger.watermarks.get("d", "profiles:s") == "2026-01-02T00:00:00+0000" and ledger.deliveries.count("d") == 3


def test_every_table_of_an_older_version_gains_its_new_columns_and_keeps_its_rows(tmp_path):
    from sqlalchemy import create_engine, inspect, text

    from hrflow_airflow.ledger.schema import INBOX, PARTS, create, metadata, migrate

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:  # an inbox before it noted what starting a run answered, parts before fingerprints
        conn.execute(
            text(
                f"CREATE TABLE {INBOX} (run_id VARCHAR(250) PRIMARY KEY, conf TEXT NOT NULL, "
                "received_at VARCHAR(32) NOT NULL, started_at VARCHAR(32))"
            )
        )
        conn.execute(text(f"INSERT INTO {INBOX} VALUES ('r1', '{{}}', 'now', NULL)"))
        conn.execute(
            text(
                f"CREATE TABLE {PARTS} (destination VARCHAR(250), object_key VARCHAR(64), part VARCHAR(160), "
                "state VARCHAR(16) NOT NULL, updated_at VARCHAR(32) NOT NULL, "
                "PRIMARY KEY (destination, object_key, part))"
            )
        )
    create(engine)
    inspector = inspect(engine)
    for name, table in metadata().tables.items():
        assert {c["name"] for c in inspector.get_columns(name)} == set(table.columns.keys()), name
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT run_id, status FROM {INBOX}")).all() == [("r1", None)]
    assert migrate(engine) == []  # nothing left to add


def test_many_parts_are_set_at_once_as_one_at_a_time_would_set_them(any_ledger):
    parts = any_ledger.parts
    parts.record("d", "k0", "cv", "isolated", fingerprint="f-old", remote_id="file-1", reason="over the cap")
    keys = [f"k{i}" for i in range(1200)]  # more than one chunk of rows per statement
    changes = [{"object_key": "k0", "part": "cv", "state": "sent"}]  # no fingerprint given: the stored one stays
    changes += [{"object_key": k, "part": "cv", "state": "sent", "fingerprint": f"f-{k}"} for k in keys[1:]]
    jobs = [{"object_key": k, "part": "job:7", "state": "sent"} for k in keys[1:]]
    jobs.insert(1, {"object_key": "k1", "part": "job:7", "state": "left"})  # one part twice in a chunk: the last holds
    changes += jobs

    parts.record_many("d", changes)

    found = parts.of("d", keys)
    assert found["k0"]["cv"].state == "sent" and found["k0"]["cv"].fingerprint == "f-old"
    assert found["k0"]["cv"].remote_id == "file-1" and found["k0"]["cv"].reason is None
    assert {(k, p.state, p.fingerprint) for k in keys[1:] for name, p in found[k].items() if name == "cv"} == {
        (k, "sent", f"f-{k}") for k in keys[1:]
    }
    assert found["k1"]["job:7"].state == "left" and found["k2"]["job:7"].state == "sent"
    assert sum(len(p) for p in found.values()) == 1 + 2 * 1199
