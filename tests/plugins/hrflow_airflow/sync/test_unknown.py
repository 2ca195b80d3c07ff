"""Objects still outcome unknown past the settle time plus a run alert once; then only a log; settled, it re-arms."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from hrflow_airflow.ledger import Ledger
from hrflow_airflow.ledger.schema import ledger_table
from hrflow_airflow.objects import PROFILE
from hrflow_airflow.sync.unknown import still_unknown

DEST = "ats_default/lever"


def lost(ledger: Ledger, keys: list[str], hours_ago: float) -> None:
    ledger.deliveries.record_intent(DEST, [(k, "src") for k in keys])
    ledger.deliveries.record_unknown(DEST, keys, "a create got no answer")
    sent = (datetime.now(timezone.utc) - timedelta(hours=hours_ago)).isoformat(timespec="milliseconds")
    table = ledger_table()
    with ledger.db.engine.begin() as conn:
        conn.execute(update(table).where(table.c.object_key.in_(keys)).values(sent_at=sent))


def test_unknown_past_the_settle_time_and_a_run_alerts_once_then_logs_then_re_arms(ledger_db, caplog):
    ledger = Ledger()
    lost(ledger, ["fresh"], hours_ago=0.5)  # within the settle time (5 min) plus a run (1 h): not yet
    assert still_unknown(PROFILE, DEST, ledger) is None
    lost(ledger, ["old1", "old2"], hours_ago=2)
    alert = still_unknown(PROFILE, DEST, ledger)
    assert alert is not None and "2 profiles" in alert and "old1" in alert and "fresh" not in alert
    assert still_unknown(PROFILE, DEST, ledger) is None and "alerted already" in caplog.text  # once
    ledger.deliveries.record_accepted(DEST, [("old1", "src"), ("old2", "src")], {"old1": "lever:a", "old2": "lever:b"})
    assert still_unknown(PROFILE, DEST, ledger) is None  # settled: the watermark is cleared
    lost(ledger, ["old3"], hours_ago=3)
    assert "old3" in (still_unknown(PROFILE, DEST, ledger) or "")  # a new case alerts again
