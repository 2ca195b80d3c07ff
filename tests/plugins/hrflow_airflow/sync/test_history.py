"""The run history's line of each finished sync run: counts from summary, the state Airflow gave the run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from sqlalchemy import select

from hrflow_airflow.ledger import LedgerHook
from hrflow_airflow.ledger.history import RUNS, WHOLE_RUN
from hrflow_airflow.ledger.runs import RunHistory
from hrflow_airflow.ledger.schema import metadata
from hrflow_airflow.sync.dag_args import sync_dag_defaults
from hrflow_airflow.sync.history import record_failure, record_success
from hrflow_airflow.ui import queries

PROFILES = "hrflow_profiles_to_ats"
SUMMARY = {
    "found": 3,
    "posted": 3,
    "tagged": 3,
    "skipped": 0,
    "failed": 0,
    "by_container": {"src": {"found": 3, "posted": 3, "tagged": 3, "skipped": 0, "failed": 0}},
}


def context(run_id: str, dag_id: str = PROFILES, **params) -> dict:
    started = datetime.now(timezone.utc) - timedelta(minutes=2)
    dag_run = SimpleNamespace(dag_id=dag_id, run_id=run_id, start_date=started, conf={})
    return {"dag": SimpleNamespace(dag_id=dag_id), "run_id": run_id, "dag_run": dag_run, "params": params}


def rows(run_id: str) -> dict[str, dict]:
    runs = metadata().tables[RUNS]
    with LedgerHook().engine.connect() as conn:
        return {r.container: dict(r._mapping) for r in conn.execute(select(runs).where(runs.c.run_id == run_id))}


def summarised(run_id: str, summary: dict) -> None:
    RunHistory(LedgerHook()).record(
        summary,
        dag_id=PROFILES,
        run_id=run_id,
        destination="ats_default",
        started_at=None,
        failures=[],
        keep_days=90,
    )


def test_a_run_that_failed_before_summary_is_in_the_history_and_is_the_last_run(sandbox, ledger_db):
    record_failure(context("scheduled__search_failed"))  # search raised: report and summary never recorded it
    [whole] = rows("scheduled__search_failed").values()
    assert whole["container"] == WHOLE_RUN and whole["state"] == "failed" and whole["destination"] == "ats_default"
    assert whole["found"] == whole["created"] == whole["failed"] == 0 and whole["duration_s"] >= 119
    db, dags = LedgerHook(), {PROFILES: "ats_default"}
    assert [r["run_id"] for r in queries.run_history(db, dags)] == ["scheduled__search_failed"]
    assert queries.last_runs(db, dags)[PROFILES]["state"] == "failed"


def test_the_state_is_airflows_not_the_summarys_and_the_counts_stay(sandbox, ledger_db):
    summarised("manual__stale", SUMMARY)  # every object went through; a stale unknown alert failed the run after
    assert {r["state"] for r in rows("manual__stale").values()} == {"success"}
    record_failure(context("manual__stale"))
    after = rows("manual__stale")
    assert set(after) == {WHOLE_RUN, "src"} and {r["state"] for r in after.values()} == {"failed"}
    assert after[WHOLE_RUN]["created"] == 3

    summarised("manual__green", SUMMARY)
    record_success(context("manual__green"))
    assert {r["state"] for r in rows("manual__green").values()} == {"success"} and len(rows("manual__green")) == 2


def test_the_summary_records_a_stale_unknown_alert_as_a_failure(sandbox, ledger_db):
    summarised("manual__stale_alert", {**SUMMARY, "stale_unknown": "2 profiles unknown past the settle time"})
    assert rows("manual__stale_alert")[WHOLE_RUN]["state"] == "failed"


def test_dry_runs_and_other_dags_record_nothing(sandbox, ledger_db):
    record_failure(context("manual__dry", dry_run=True))
    record_failure(context("manual__sms", dag_id="hrflow_profile_sms"))
    assert rows("manual__dry") == {} and rows("manual__sms") == {}


def test_a_destination_badly_set_up_still_gets_its_line_under_its_connection(sandbox, ledger_db, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_ATS_DEFAULT", raising=False)
    record_failure(context("manual__no_ats"))
    assert rows("manual__no_ats")[WHOLE_RUN]["destination"] == "ats_default"


def test_both_sync_dags_record_each_runs_end():
    defaults = sync_dag_defaults()
    assert record_failure in defaults["on_failure_callback"] and record_success in defaults["on_success_callback"]
