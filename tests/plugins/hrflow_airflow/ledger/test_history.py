"""Run history and the action log of the HrFlow page: what a run records, retention, the ledger's indexes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import Column, MetaData, String, Table, create_engine, inspect, select, update

from hrflow_airflow.ledger import Ledger, LedgerHook, Refusal
from hrflow_airflow.ledger.history import ACTIONS, FAILURES, LEDGER_INDEXES, RUNS, WHOLE_RUN
from hrflow_airflow.ledger.runs import ActionLog, RunHistory, prune, run_rows
from hrflow_airflow.ledger.schema import TABLE, create, metadata

SUMMARY = {
    "found": 10,
    "posted": 6,
    "tagged": 6,
    "skipped": 1,
    "failed": 3,
    "updated": 2,
    "refused": 2,
    "quarantined": 1,
    "removal": {"removed": [{"key": "gone"}]},
    "by_container": {"s1": {"found": 10, "posted": 6, "tagged": 6, "skipped": 1, "failed": 3}},
}


def test_a_run_records_its_totals_its_sources_and_what_stayed_pending():
    rows = run_rows(SUMMARY, {"dag_id": "d", "run_id": "r"}, {"s1": (3, 1)})
    whole, source = rows
    assert whole["container"] == WHOLE_RUN and source["container"] == "s1"
    assert (whole["created"], whole["updated"], whole["removed"], whole["refused"]) == (6, 2, 1, 3)
    assert (whole["quarantined"], source["refused"], source["quarantined"]) == (1, 3, 1)
    assert whole["pending"] == source["pending"] == 3  # found 10, tagged 6, skipped 1


def refuse(ledger: Ledger, run_id: str, *keys: str, max_refusals: int = 3) -> None:
    refusals = [Refusal(key, "s1", f"hash-{key}", "ATS HTTP 422: field 'email'") for key in keys]
    ledger.refusals.record("ats_default", refusals, run_id=run_id, max_refusals=max_refusals)


def recorded(db: LedgerHook, summary: dict, run_id: str = "r") -> dict:
    RunHistory(db).record(
        summary, dag_id="d", run_id=run_id, destination="ats_default", started_at=None, failures=[], keep_days=90
    )
    with db.engine.connect() as conn:
        runs = metadata().tables[RUNS]
        query = select(runs).where(runs.c.run_id == run_id).order_by(runs.c.container)
        return {row.container: dict(row._mapping) for row in conn.execute(query)}


def test_a_runs_history_counts_every_record_refused_and_every_record_quarantined_in_that_run(ledger_path):
    ledger = Ledger()
    refuse(ledger, "r0", "again", "held", "other-run")
    refuse(ledger, "r0", "held", max_refusals=1)  # quarantined by an earlier run: held back in r, not counted
    refuse(ledger, "r", "first", "again")  # a first refusal (in failed_keys), a known one (the summary's refused)
    refuse(ledger, "r", "q1", "q2", max_refusals=1)  # quarantined in r: in failed_keys, not in the summary's counts
    summary = {**SUMMARY, "refused": 1, "quarantined": 1}  # what the summary says: refused again, held back
    rows = recorded(ledger.db, summary)
    assert (rows[WHOLE_RUN]["refused"], rows[WHOLE_RUN]["quarantined"]) == (4, 2)
    assert (rows["s1"]["refused"], rows["s1"]["quarantined"]) == (4, 2)


def test_a_scheduled_run_that_quarantined_two_keys_shows_them(ledger_path):
    ledger = Ledger()
    refuse(ledger, "scheduled__1", "q1", "q2", max_refusals=1)
    summary = {**SUMMARY, "refused": 0, "quarantined": 0, "failed": 2}
    rows = recorded(ledger.db, summary, "scheduled__1")
    assert (rows[WHOLE_RUN]["refused"], rows[WHOLE_RUN]["quarantined"]) == (2, 2)


def test_recording_a_run_twice_keeps_one_copy_and_its_failed_keys(ledger_path):
    history, db = RunHistory(LedgerHook()), LedgerHook()
    for _ in range(2):  # the summary task retried
        history.record(
            SUMMARY,
            dag_id="d",
            run_id="r",
            destination="ats_default",
            started_at=None,
            failures=[("k1", "s1", "ATS HTTP 422: field 'email'")],
            keep_days=90,
        )
    with db.engine.connect() as conn:
        assert len(conn.execute(select(metadata().tables[RUNS])).all()) == 2  # totals + one source
        assert [r.object_key for r in conn.execute(select(metadata().tables[FAILURES]))] == ["k1"]


def test_history_and_actions_older_than_history_days_are_pruned(ledger_path):
    db = LedgerHook()
    RunHistory(db).record(
        SUMMARY, dag_id="d", run_id="old", destination="a", started_at=None, failures=[("k", None, "x")], keep_days=90
    )
    ActionLog(db).record(user="ada", action="release", destination="a", key="k", outcome="released", keep_days=90)
    old = (datetime.now(timezone.utc) - timedelta(days=91)).isoformat(timespec="seconds")
    with db.engine.begin() as conn:
        for name, column in ((RUNS, "ended_at"), (FAILURES, "ended_at"), (ACTIONS, "at")):
            conn.execute(update(metadata().tables[name]).values({column: old}))
    RunHistory(db).record(
        SUMMARY, dag_id="d", run_id="new", destination="a", started_at=None, failures=[], keep_days=90
    )
    with db.engine.connect() as conn:
        assert {r.run_id for r in conn.execute(select(metadata().tables[RUNS]))} == {"new"}
        assert not conn.execute(select(metadata().tables[FAILURES])).all()
        assert not conn.execute(select(metadata().tables[ACTIONS])).all()
    assert prune(db, 90) == 0


def test_a_ledger_made_before_the_page_gains_its_indexes_on_first_use(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    old = MetaData()
    Table(
        TABLE,
        old,
        Column("destination", String(250), primary_key=True),
        Column("object_key", String(64), primary_key=True),
        Column("container", String(64)),
        Column("state", String(16)),
        Column("remote_id", String(250)),
        Column("attempts", String(8)),
        Column("updated_at", String(32)),
    )
    old.create_all(engine)
    create(engine)
    names = {index["name"] for index in inspect(engine).get_indexes(TABLE)}
    assert set(LEDGER_INDEXES) <= names


def test_a_new_ledger_has_the_pages_tables(ledger_path):
    engine = Ledger().db.engine
    assert {RUNS, FAILURES, ACTIONS} <= set(inspect(engine).get_table_names())


def test_the_page_reads_the_counts_the_last_run_took_and_counts_live_before_any(ledger_path):
    from hrflow_airflow.ledger import counts
    from hrflow_airflow.ui.queries import counts as page_counts

    ledger, dags = Ledger(), {"hrflow_profiles_to_ats": "ats_default"}
    ledger.deliveries.record_accepted("ats_default", [("k1", "s1"), ("k2", "s1")], origin="linked")
    [live] = page_counts(ledger.db, dags)
    assert live.states == {"accepted": 2} and live.linked == 2 and live.taken_at is None
    assert counts.take(ledger.db, "ats_default") == 2
    ledger.deliveries.mark_synced("ats_default", ["k1"])
    [taken] = page_counts(ledger.db, dags)
    assert taken.states == {"accepted": 2} and taken.taken_at  # as the run's end counted them
    counts.take(ledger.db, "ats_default")
    assert page_counts(ledger.db, dags)[0].states == {"accepted": 1, "synced": 1}
