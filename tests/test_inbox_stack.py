"""
The webhook inbox drains by itself: real api-servers on a shared PostgreSQL (metadata and ledger), no probe, no
delivery. One api-server is killed with 201 events queued in the inbox (one past a drain chunk of 200); when it
starts again they all become runs;
then the same with two api-servers starting at once: each event in exactly one run either way (a burst's events
share runs).
"""

from __future__ import annotations

import json
import time

import pytest

from hrflow_airflow.events.inbox import DRAIN_CHUNK
from sandbox.airflow_home import AirflowStack, free_port
from sandbox.objects import make_key
from tests.conftest import PG

DAG_ID = "hrflow_profile_sms"
EVENTS = DRAIN_CHUNK + 1  # the smallest number that needs a second drain chunk
pytestmark = pytest.mark.distributed


@pytest.fixture(scope="module")
def stack(sandbox_server, postgres_db, tmp_path_factory):
    """An api-server and a dag-processor on PostgreSQL; no scheduler, so the runs the drain starts stay queued."""
    ledger = {"conn_type": "postgres", "host": PG[0], "port": PG[1], "login": "postgres", "schema": postgres_db}
    stack = AirflowStack(
        tmp_path_factory.mktemp("inbox_home"),
        extra_env={
            **sandbox_server.airflow_env(),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@{PG[0]}:{PG[1]}/{postgres_db}",
            "AIRFLOW_CONN_HRFLOW_LEDGER": json.dumps(ledger),
        },
    )
    stack.start(
        wait_for_dags=(DAG_ID,),
        commands=[
            ("api-server", ["api-server", "--port", str(stack.port)], {}),
            ("dag-processor", ["dag-processor"], {}),
        ],
    )
    try:
        yield stack
    finally:
        stack.stop()


def queue(stack: AirflowStack, count: int, tag: str) -> list[str]:
    """Record ``count`` new-profile events in the inbox, as a bulk delivery does; return their run ids."""
    import os

    from hrflow_airflow.events.inbox import Inbox
    from hrflow_airflow.events.planning import run_id_for
    from hrflow_airflow.events.sms import event_conf

    source = make_key("source", "inbox", tag)
    runs = []
    for i in range(count):
        key = make_key("profile", source, i)
        event = {"type": "profile.storing.success", "profile": {"key": key, "source": {"key": source}}}
        runs.append((run_id_for(source, key), event_conf(event, source, key)))
    saved = os.environ.get("AIRFLOW_CONN_HRFLOW_LEDGER")
    os.environ["AIRFLOW_CONN_HRFLOW_LEDGER"] = stack.env["AIRFLOW_CONN_HRFLOW_LEDGER"]
    try:
        statuses = Inbox().record(runs)
    finally:
        if saved is None:
            os.environ.pop("AIRFLOW_CONN_HRFLOW_LEDGER")
        else:
            os.environ["AIRFLOW_CONN_HRFLOW_LEDGER"] = saved
    assert list(statuses.values()) == ["queued"] * count
    return [run_id for run_id, _ in runs]


def runs_of(stack: AirflowStack, run_ids: list[str]) -> int:
    """
    Return how many of ``run_ids`` (profiles' run ids) DAG runs carry, read from the metadata database, not the
    webhook; a profile two runs carried counts twice. A burst's profiles share a run (``batch``: events/inbox.py).
    """
    import psycopg2

    from hrflow_airflow.events.inbox import members_of

    db = stack.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].rsplit("/", 1)[1]
    with psycopg2.connect(host=PG[0], port=PG[1], user="postgres", dbname=db) as conn, conn.cursor() as cur:
        cur.execute("SELECT run_id, conf FROM dag_run WHERE dag_id = %s", (DAG_ID,))
        runs = [(run_id, json.loads(conf) if isinstance(conf, str | bytes) else conf or {}) for run_id, conf in cur]
    wanted = set(run_ids)
    return sum(member in wanted for run_id, conf in runs for member, _ in members_of(run_id, conf))


def wait_for_runs(stack: AirflowStack, run_ids: list[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while (started := runs_of(stack, run_ids)) < len(run_ids):
        assert time.monotonic() < deadline, f"{started} of {len(run_ids)} queued events became runs"
        time.sleep(2)


def test_what_a_killed_api_server_left_in_the_inbox_drains_when_one_or_two_start(stack):
    stack.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": True}).raise_for_status()
    stack.kill_hard("api-server")
    first = queue(stack, EVENTS, "one")
    stack.spawn("api-server", ["api-server", "--port", str(stack.port)], {})  # no probe, no delivery follows
    wait_for_runs(stack, first)
    assert runs_of(stack, first) == EVENTS

    stack.kill_hard("api-server")
    second = queue(stack, EVENTS, "two")
    other = free_port()
    stack.spawn("api-server", ["api-server", "--port", str(stack.port)], {})
    stack.spawn("api-server-2", ["api-server", "--port", str(other)], {"AIRFLOW__API__PORT": str(other)})
    wait_for_runs(stack, second)
    time.sleep(5)  # both drained: any second start of a run id would show now
    assert runs_of(stack, second) == EVENTS and runs_of(stack, first) == EVENTS
    with_logs = [(stack.home / f"{name}.log").read_text() for name in ("api-server", "api-server-2")]
    assert not any("Traceback" in log and "hrflow" in log for log in with_logs)
