"""The inbox's drain: a burst's profiles share SMS runs, each profile in exactly one run (events/inbox.py)."""

from __future__ import annotations

import threading
import time

from hrflow_airflow.events import inbox as inbox_module
from hrflow_airflow.events.inbox import BATCH_PREFIX, Drainer, Inbox, batch_conf, members_of


def rows(count: int, start: int = 0) -> list[tuple[str, dict]]:
    return [(f"hrflow_webhook__{i:040d}", {"profile": {"key": f"{i:040d}"}}) for i in range(start, start + count)]


class Gateway:
    """Airflow's side: one run per run id (a second start is ``duplicate``), and what each run carries."""

    def __init__(self) -> None:
        self.runs: dict[str, list[str]] = {}

    def trigger(self, run_id: str, conf: dict) -> str:
        if run_id in self.runs:
            return "duplicate"
        self.runs[run_id] = [member for member, _ in members_of(run_id, conf)]
        return "triggered"

    def profiles(self) -> list[str]:
        return sorted(member for members in self.runs.values() for member in members)


def test_a_burst_is_texted_in_runs_of_up_to_the_batch_each_profile_once(ledger_path):
    inbox, airflow = Inbox(), Gateway()
    inbox.record(rows(120))

    assert inbox.drain(airflow.trigger, batch=50) == 120

    assert sorted(len(members) for members in airflow.runs.values()) == [20, 50, 50]
    assert airflow.profiles() == sorted(run_id for run_id, _ in rows(120)) and inbox.pending() == 0
    assert all(run_id.startswith(BATCH_PREFIX) for run_id in airflow.runs)


def test_a_lone_profile_keeps_its_own_run_id_and_conf(ledger_path):
    inbox, airflow = Inbox(), Gateway()
    [(run_id, conf)] = rows(1)
    inbox.record([(run_id, conf)])

    inbox.drain(airflow.trigger, batch=50)

    assert airflow.runs == {run_id: [run_id]} and batch_conf([(run_id, conf)]) == conf


def test_a_batch_conf_keeps_the_first_profile_as_the_run_params_and_lists_each_by_its_run_id():
    members = rows(3)
    conf = batch_conf(members)
    assert conf["profile"] == members[0][1]["profile"]
    assert members_of("any", conf) == members


def test_rows_a_stopped_drain_claimed_are_started_again_as_the_same_run_with_the_same_profiles(ledger_path):
    inbox, airflow = Inbox(), Gateway()
    inbox.record(rows(5))
    [(run_id, members)] = inbox.claim(limit=200, batch=50)  # then the api-server died before starting the run
    inbox.record(rows(3, start=5))  # later deliveries join another run, not that one

    inbox.drain(airflow.trigger, batch=50)
    inbox.drain(airflow.trigger, batch=50)

    assert airflow.runs[run_id] == [member for member, _ in members] and len(airflow.runs) == 2
    assert airflow.profiles() == sorted(r for r, _ in rows(8)) and inbox.pending() == 0


def test_two_drains_at_once_never_put_a_profile_in_two_runs(ledger_path):
    first, second, airflow = Inbox(), Inbox(), Gateway()
    first.record(rows(10))
    claimed = first.claim(limit=200, batch=4)  # the other api-server's drain reads the same oldest rows after

    assert second.claim(limit=200, batch=4) == []
    for run_id, members in claimed:
        airflow.trigger(run_id, batch_conf(members))
    assert airflow.profiles() == sorted(r for r, _ in rows(10))


def test_the_drain_starts_a_lone_delivery_at_once_and_gathers_a_burst(ledger_path, monkeypatch):
    gather = 2.0
    naps: list[float] = []
    sleep = inbox_module.time.sleep

    def nap(seconds: float) -> None:  # the drain thread's naps are counted, not slept
        if threading.current_thread().name == "hrflow-webhook-drain":
            naps.append(seconds)
        else:
            sleep(seconds)

    monkeypatch.setattr(inbox_module.time, "sleep", nap)
    airflow = Gateway()

    def trigger(run_id: str, conf: dict) -> str:
        if not airflow.runs:  # deliveries arrive while the drain starts the first run: a burst
            drainer.inbox.record(rows(3, start=1))
            drainer.kick()
        return airflow.trigger(run_id, conf)

    drainer = Drainer(Inbox, trigger, gather=gather, batch=50)
    drainer.inbox.record(rows(1))
    drainer.kick()  # to an idle drain: started at once
    wait_for(lambda: len(airflow.runs) == 2)

    assert naps == [gather]  # no wait for the lone delivery, one before the burst's round
    assert sorted(len(members) for members in airflow.runs.values()) == [1, 3]


def wait_for(condition) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the drain thread did not get there"
        time.sleep(0.01)
