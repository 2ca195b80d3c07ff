"""Runs that overlap take turns writing a destination's objects of one kind (hrflow_airflow.ledger.turns)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from hrflow_airflow.errors import NotYourTurnError, for_task
from hrflow_airflow.ledger import Ledger, Turns
from hrflow_airflow.ledger.schema import TURNS, table
from hrflow_airflow.ledger.turns import wait

TURN = "ats_default/profiles"


def test_the_tasks_of_one_run_share_the_turn_and_another_run_waits_until_they_are_done(ledger_path):
    turns = Ledger().turns
    with turns.hold(TURN, "backfill__1"):
        with turns.hold(TURN, "backfill__1"):  # another mapped task of the same run
            with pytest.raises(NotYourTurnError, match=f"run backfill__1 is writing {TURN}") as waited:
                with turns.hold(TURN, "scheduled__2"):
                    pytest.fail("a second run wrote while the first held the turn")
        assert waited.value.holder == "backfill__1"
        with turns.hold("ats_default/jobs", "scheduled__2"):  # another kind, another turn
            pass
        assert turns.holder(TURN, "scheduled__2") == "backfill__1"  # one of its tasks still holds it
    assert turns.holder(TURN, "scheduled__2") is None  # both tasks done: free at once
    with turns.hold(TURN, "scheduled__2"):
        assert turns.holder(TURN, "backfill__1") == "scheduled__2"


def test_a_killed_tasks_turn_goes_stale_and_a_live_tasks_heartbeat_keeps_its_turn(ledger_path):
    db = Ledger().db
    turns = Turns(db, heartbeat=0.05, stale_after=1.0)
    long_ago = (datetime.now(timezone.utc) - timedelta(seconds=2)).isoformat(timespec="milliseconds")
    with db.engine.begin() as conn:  # what a SIGKILLed task leaves: its row, no longer touched
        conn.execute(table(TURNS).insert().values(name=TURN, holding="killed", run_id="killed__1", touched_at=long_ago))
    assert turns.holder(TURN, "scheduled__2") is None
    with turns.hold(TURN, "scheduled__2"):
        started = time.monotonic()
        while time.monotonic() - started < 2.5:  # well past stale_after: only the heartbeat keeps the row fresh
            assert turns.holder(TURN, "killed__1") == "scheduled__2"
            time.sleep(0.2)


def test_a_failing_task_gives_the_turn_back_and_a_lapsed_turn_is_not_revived(ledger_path, caplog):
    db = Ledger().db
    turns = Turns(db, heartbeat=0.05, stale_after=1.0)
    with pytest.raises(RuntimeError, match="ATS down"):
        with turns.hold(TURN, "backfill__1"):
            raise RuntimeError("ATS down")
    assert turns.holder(TURN, "scheduled__2") is None  # given back at once, not after stale_after
    assert not [t for t in threading.enumerate() if t.name == "turn-heartbeat"]
    with turns.hold(TURN, "backfill__1"):
        long_ago = (datetime.now(timezone.utc) - timedelta(seconds=2)).isoformat(timespec="milliseconds")
        with db.engine.begin() as conn:  # as if the database had been unreachable past stale_after
            conn.execute(table(TURNS).update().values(touched_at=long_ago))
        time.sleep(0.3)  # several heartbeats
        assert turns.holder(TURN, "scheduled__2") is None  # lapsed stays lapsed: another run may go
    assert "lapsed while its task still ran" in caplog.text


def test_a_waiting_task_asks_again_less_often_the_longer_it_waits():
    assert [wait(n) for n in range(7)] == [5, 10, 20, 40, 60, 60, 60]
    assert wait(10_000) == 60


def _hold_often(run_id: str, times: int, spans: multiprocessing.Queue) -> None:
    """Take the turn ``times`` times as ``run_id`` (waiting while another run holds it); report each span held."""
    turns = Ledger().turns
    while times:
        try:
            with turns.hold(TURN, run_id):
                start = time.time()
                time.sleep(0.03)
                spans.put((run_id, start, time.time()))
                times -= 1
        except NotYourTurnError:
            time.sleep(0.01)


def test_processes_of_two_runs_asking_at_once_never_hold_the_turn_together(any_ledger):
    assert any_ledger.turns.holder(TURN, "anyone") is None  # the tables exist before the processes race
    spans = multiprocessing.get_context("fork").Queue()
    procs = [
        multiprocessing.get_context("fork").Process(target=_hold_often, args=(run, 5, spans))
        for run in ("backfill__1", "scheduled__2", "backfill__1", "scheduled__2")
    ]
    for proc in procs:
        proc.start()
    held = [spans.get(timeout=120) for _ in range(20)]
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    overlapping = [
        (a, b) for a in held for b in held if a[0] < b[0] and a[1] < b[2] and b[1] < a[2]
    ]  # spans of different runs that intersect
    assert not overlapping
    assert {run for run, *_ in held} == {"backfill__1", "scheduled__2"}


def test_a_task_told_to_wait_is_rescheduled_not_failed():
    from airflow.sdk.exceptions import AirflowRescheduleException

    before = datetime.now(timezone.utc)
    raised = for_task(NotYourTurnError(TURN, "scheduled__2", 5))
    assert isinstance(raised, AirflowRescheduleException)
    assert before + timedelta(seconds=5) <= raised.reschedule_date <= datetime.now(timezone.utc) + timedelta(seconds=5)
