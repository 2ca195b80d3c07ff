"""Monitoring end to end (``airflow dags test``): failure alerts, asset events, the log table and metrics."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading

import pytest

from hrflow_airflow.objects import JOB, PROFILE, ObjectKind
from sandbox.connections import alert_connection
from sandbox.objects import make_key
from sandbox.state import Fault

CONTAINER = make_key("container", "monitoring")
ON_CALL = "+33 6 00 00 00 01"


@pytest.fixture(params=[PROFILE, JOB], ids=lambda k: k.plural)
def kind(request) -> ObjectKind:
    return request.param


@pytest.fixture
def alert_env(sandbox) -> dict[str, str]:
    """The on-call alert connection: the sandbox's messaging service, to ON_CALL."""
    return {"AIRFLOW_CONN_HRFLOW_ALERT": json.dumps(alert_connection(sandbox.url, ON_CALL))}


SENTINEL = b"#drained"


class StatsdListener:
    """A UDP StatsD server that keeps every metric line it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._drained = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except OSError:
                continue
            if data == SENTINEL:
                self._drained.set()
                continue
            self.lines += data.decode().splitlines()

    def drain(self) -> None:
        """Return once every datagram already sent has been read: a sentinel sent now is read after them."""
        self._drained.clear()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(SENTINEL, ("127.0.0.1", self.port))
        assert self._drained.wait(10), "the StatsD listener did not read its sentinel"

    def env(self) -> dict[str, str]:
        return {
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(self.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
            "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True",
        }

    def counters(self, prefix: str) -> dict[tuple[str, frozenset], int]:
        """Return ``{(name, tags): total}`` for counters whose name starts with ``prefix``."""
        self.drain()  # the run's process has exited: its datagrams are queued before the sentinel
        totals: dict[tuple[str, frozenset], int] = {}
        for line in self.lines:
            name_tags, _, value = line.partition(":")
            name, *tags = name_tags.split(",")
            if name.startswith(prefix) and value.endswith("|c"):
                key = (name, frozenset(tuple(t.split("=", 1)) for t in tags))
                totals[key] = totals.get(key, 0) + int(value.split("|")[0])
        return totals

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def statsd():
    listener = StatsdListener()
    yield listener
    listener.close()


def asset_events(home, uri: str) -> list[dict]:
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute(
            "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.uri = ? ORDER BY e.id", (uri,)
        ).fetchall()
    return [json.loads(extra) for (extra,) in rows]


def alerts(sandbox) -> list[dict]:
    return [body for body in sandbox.state.sms.bodies if body.get("to") == ON_CALL]


def test_successful_run_reports_an_asset_event_a_log_table_and_metrics(
    run_dag, sandbox, airflow_home, alert_env, statsd, kind
):
    container = make_key("container", "report")
    keys = sandbox.state.seed(kind.name, container, 7)
    sandbox.state.seed(kind.name, container, 2, start=100, tags=[{"name": "sync", "value": "1"}])  # already synced

    result = run_dag(
        kind.dag_id, {kind.containers_param: [container], "batch_size": 3}, env={**alert_env, **statsd.env()}
    )

    assert result.succeeded, result.output[-3000:]
    [event] = asset_events(airflow_home, f"hrflow://{kind.plural}/{container}")
    assert event == {
        "dag_id": kind.dag_id,
        "run_id": result.run_id,
        "found": 7,
        "posted": 7,
        "tagged": 7,
        "skipped": 0,
        "failed": 0,
        "failed_keys": [],
    }
    # the summary task's log ends with the table: a row for the source or board, then the total
    table = result.output[result.output.index("Run summary:") :].splitlines()[1:6]
    assert table[0].split() == [kind.container, "found", "posted", "tagged", "skipped", "failed"]
    assert table[2].split() == [container, "7", "7", "7", "0", "0"]
    assert table[4].split()[:6] == ["TOTAL", "7", "7", "7", "0", "0"]  # then the logger name
    tags = frozenset({("dag_id", kind.dag_id), (kind.container, container)})
    counters = statsd.counters("airflow.hrflow.objects.")
    assert {name.rsplit(".", 1)[1]: n for (name, t), n in counters.items() if t == tags} == {
        "found": 7,
        "posted": 7,
        "tagged": 7,
        "skipped": 0,
        "failed": 0,
    }
    assert alerts(sandbox) == []
    assert set(sandbox.state.ats_area(kind.plural).applied) == set(keys)  # the 7 the event counts, not the 2 synced


def test_failing_run_alerts_once_without_candidate_data(run_dag, sandbox, airflow_home, alert_env):
    keys = sandbox.state.seed("profile", CONTAINER, 6, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    sandbox.state.ats_reject_keys[keys[0]] = "field 'email' is invalid"  # refused for good; keys 1-2 go on
    # the other batch's first try exhausts its HTTP retries: Airflow retries that task, which must not re-alert
    sandbox.state.faults.append(Fault(path="/ats/", status=503, times=5, match_key=keys[4]))

    result = run_dag("hrflow_profiles_to_ats", {"source_keys": [CONTAINER], "batch_size": 3}, env=alert_env)

    assert not result.succeeded
    assert "new_state=up_for_retry" in result.output  # post_to_ats went through an Airflow retry
    [alert] = alerts(sandbox)
    # (`dags test` runs the callback without the XCom access the dag-processor gives it: no counts here;
    # tests/test_monitoring_stack.py checks them on a real dag-processor)
    assert alert["text"] == (
        f"[Airflow] hrflow_profiles_to_ats run {result.run_id} failed at summary. http://localhost:8080"
        f"/dags/hrflow_profiles_to_ats/runs/{result.run_id.replace(':', '%3A').replace('+', '%2B')}"
        " HrFlow page: http://localhost:8080/plugin/hrflow"
    )
    for key in keys:
        info = sandbox.state.get("profile", CONTAINER, key)["info"]
        for value in (info["first_name"], info["last_name"], info["email"], info["phone"]):
            assert value not in alert["text"]  # keys may be named (they are in the summary), never candidate data
    # the failed run still reports its source, with the failed keys
    [event] = asset_events(airflow_home, f"hrflow://profiles/{CONTAINER}")
    assert (event["found"], event["posted"], event["tagged"], event["failed"]) == (6, 5, 5, 1)
    assert event["failed_keys"] == [keys[0]]


def test_failing_run_without_alert_target_logs_it(run_dag, sandbox):
    result = run_dag("hrflow_profiles_to_ats", {"source_keys": [make_key("source", "unknown")]})

    assert not result.succeeded
    assert "No alert target is set (connection 'hrflow_alert' or Variable 'hrflow_alert_phone')" in result.output
    assert "[Airflow] hrflow_profiles_to_ats run" in result.output
    assert sandbox.state.sms.requests == 0


def test_sms_runs_count_sent_and_skipped(run_dag, sandbox, statsd):
    source = make_key("source", "sms-metrics")
    with_phone, without_phone = sandbox.state.seed("profile", source, 2)
    sandbox.state.update("profile", source, without_phone, lambda p: p["info"].update(phone=None))

    def event(key: str) -> dict:
        return {"type": "profile.indexing.success", "profile": {"key": key, "source": {"key": source}}}

    assert run_dag("hrflow_profile_sms", event(with_phone), env=statsd.env()).succeeded
    assert run_dag("hrflow_profile_sms", event(without_phone), env=statsd.env()).succeeded

    tags = frozenset({("dag_id", "hrflow_profile_sms"), ("source", source)})
    counters = statsd.counters("airflow.hrflow.sms.")
    assert {name: n for (name, t), n in counters.items() if t == tags} == {
        "airflow.hrflow.sms.sent": 1,
        "airflow.hrflow.sms.skipped": 1,
    }


def test_failure_alert_goes_through_twilio_once_to_a_normalized_number(run_dag, sandbox):
    from sandbox.connections import twilio_connection

    on_call = twilio_connection(sandbox.url, to="06 00 00 00 02", default_region="FR")  # typed in local form
    result = run_dag(
        "hrflow_profiles_to_ats",
        {"source_keys": [make_key("source", "unknown")]},
        env={"AIRFLOW_CONN_HRFLOW_ALERT": json.dumps(on_call)},
    )

    assert not result.succeeded
    [message] = sandbox.state.twilio_messages
    assert message["to"] == "+33600000002"
    assert message["body"].startswith(f"[Airflow] hrflow_profiles_to_ats run {result.run_id} failed at ")
