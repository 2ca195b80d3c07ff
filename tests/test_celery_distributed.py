"""
The sync DAG on CeleryExecutor: a fresh PostgreSQL metadata DB, Redis as the broker, two Celery workers.

These tests need PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379. Where either is unreachable they
skip, unless ``REQUIRE_SERVICES=1`` (set by ``.ci/run``), which turns the skip into a failure.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from sandbox.airflow_home import AirflowStack
from sandbox.objects import make_key
from tests.conftest import PG, REDIS

pytestmark = pytest.mark.distributed

DAG_ID = "hrflow_profiles_to_ats"
WORKERS = ("worker-a", "worker-b")
# 8 batches: more tag_profiles tasks at once than the pool's 3 slots, work for both workers (2 slots each), and a
# held batch among others; the smallest batches keep each run short (the bound and the kill are about batches)
PROFILES, BATCH_SIZE = 400, 50
POOL_SLOTS, CONCURRENCY = 3, 2  # at most 3 HrFlow tasks at once, each with 2 calls in flight


@pytest.fixture(scope="module")
def celery_stack(sandbox_server, postgres_db, tmp_path_factory):
    """api-server, scheduler, dag-processor and two Celery workers; stopped, with nothing left, at the end."""
    url = f"postgres@{PG[0]}:{PG[1]}/{postgres_db}"
    redis_db = uuid.uuid4().int % 5 + 5  # 5-9; tests/test_compose_stack.py takes 10-14: never one broker
    stack = AirflowStack(
        tmp_path_factory.mktemp("celery_home"),
        pool_slots=POOL_SLOTS,
        extra_env={
            **sandbox_server.airflow_env(),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{url}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/{redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{url}",
            # the sync ledger on the shared PostgreSQL, as docker-compose.yaml sets it: both workers see one ledger
            "AIRFLOW_CONN_HRFLOW_LEDGER": json.dumps(
                {
                    "conn_type": "postgres",
                    "host": PG[0],
                    "port": PG[1],
                    "login": "postgres",
                    "schema": postgres_db,
                }
            ),
            # a task whose worker vanished is failed (and retried) after 15 s without a heartbeat; a live task
            # heartbeats every 3 s (five chances before the timeout on a loaded machine), and the retry waits 1 s
            # instead of [hrflow] task_retry_delay_seconds' 15
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "3",
            "AIRFLOW__HRFLOW__TASK_RETRY_DELAY_SECONDS": "1",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60",
        },
    )
    stack.start(wait_for_dags=(DAG_ID,), celery_workers=WORKERS)
    try:
        stack.unpause(DAG_ID)
        yield stack
    finally:
        stack.stop()
        # checked on what SIGTERM left alive, before the teardown's SIGKILL of leftovers
        assert not stack.left_behind, f"processes left behind: {stack.left_behind}"


def _trigger(stack: AirflowStack, source: str) -> str:
    response = stack.api(
        "POST",
        f"/api/v2/dags/{DAG_ID}/dagRuns",
        json={
            "logical_date": None,
            "conf": {"source_keys": [source], "batch_size": BATCH_SIZE, "concurrency": CONCURRENCY},
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["dag_run_id"]


def _task_instances(stack: AirflowStack, run_id: str) -> list[dict]:
    response = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
    response.raise_for_status()
    return response.json()["task_instances"]


def _assert_delivered_once(sandbox, keys: list[str], postgres_db: str) -> None:
    state = sandbox.state
    assert dict(state.ats_area("profiles").applied) == {k: 1 for k in keys}, "a profile reached the ATS twice or never"
    assert {k: state.edits[k] for k in keys} == {k: 1 for k in keys}, "a profile was PUT twice or never"
    assert state.snapshot()["synced"]["profile"] == sorted(keys)
    # the ledger lived in PostgreSQL, shared by both workers: every profile synced, with the hash of what the ATS got
    import psycopg2

    with psycopg2.connect(host=PG[0], port=PG[1], user="postgres", dbname=postgres_db) as db:
        cursor = db.cursor()
        cursor.execute(
            "SELECT state, count(*) FROM hrflow_sync_ledger WHERE object_key = ANY(%s) AND synced_hash IS NOT NULL "
            "GROUP BY state",
            (keys,),
        )
        assert dict(cursor.fetchall()) == {"synced": len(keys)}


def _assert_no_candidate_data_in(postgres_db: str, sandbox, source: str, keys: list[str]) -> None:
    """pg_dump the metadata database (ledger included): no email, phone or name of the run's candidates."""
    import subprocess

    dump = subprocess.run(
        ["pg_dump", "-h", PG[0], "-p", str(PG[1]), "-U", "postgres", postgres_db],
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    assert b"hrflow_sync_ledger" in dump and b"xcom" in dump  # the dump covers what it should
    leaks = []
    for key in keys:
        info = sandbox.state.get("profile", source, key)["info"]
        for value in (info["email"], info["phone"], info["full_name"]):
            if value.encode() in dump or json.dumps(value)[1:-1].encode() in dump:
                leaks.append(f"{key}: {value}")
    assert leaks == []


def test_batches_of_one_run_spread_over_two_celery_workers(celery_stack, sandbox, postgres_db):
    source = make_key("source", "celery")
    keys = sandbox.state.seed("profile", source, PROFILES)
    sandbox.state.latency["hrflow"] = 0.01  # tagging batches overlap, so both workers get work
    run_id = _trigger(celery_stack, source)

    assert celery_stack.wait_for_run(DAG_ID, run_id, timeout=600) == "success"

    tis = _task_instances(celery_stack, run_id)
    tag_hosts = {ti["map_index"]: ti["hostname"] for ti in tis if ti["task_id"] == "batch.tag_profiles"}
    print("tag_profiles batch -> worker:", dict(sorted(tag_hosts.items())))
    assert len(tag_hosts) == PROFILES // BATCH_SIZE
    assert {ti["hostname"] for ti in tis} == set(WORKERS)
    _assert_delivered_once(sandbox, keys, postgres_db)
    _assert_no_candidate_data_in(postgres_db, sandbox, source, keys)
    in_flight = sandbox.state.max_in_flight["hrflow"]
    print(f"HrFlow requests in flight at most: {in_flight} (pool allows {POOL_SLOTS} x {CONCURRENCY})")
    assert 1 <= in_flight <= POOL_SLOTS * CONCURRENCY


def _running(stack: AirflowStack, run_id: str, task_id: str) -> list[dict]:
    return [ti for ti in _task_instances(stack, run_id) if ti["task_id"] == task_id and ti["state"] == "running"]


def _kill_the_worker_holding_the_ats_answer(
    celery_stack, sandbox, source: str, keys: list[str]
) -> tuple[str, list[str], str]:
    """Run a sync, SIGKILL the worker whose post_to_ats waits for the (applied) batch the sandbox holds; return it."""
    hold = sandbox.state.hold_next_ats_answer()  # the first batch the ATS applies keeps its answer until the kill
    run_id = _trigger(celery_stack, source)
    assert hold["held"].wait(300), "no batch reached the ATS"
    # the held POST's task is the one post_to_ats still running once the others have had their answers
    deadline = time.monotonic() + 60
    while len(running := _running(celery_stack, run_id, "batch.post_to_ats")) != 1:
        assert time.monotonic() < deadline, f"expected one post_to_ats waiting for its answer, saw {running}"
        time.sleep(0.2)
    [held_task] = running
    victim = held_task["hostname"]
    killed = celery_stack.kill_hard(victim)
    hold["release"].set()
    busy = [f"batch.post_to_ats[{held_task['map_index']}]"]
    print(f"SIGKILLed {victim} ({len(killed)} processes) while it waited for the ATS's answer to {busy[0]}")
    return run_id, busy, victim


def test_run_survives_a_worker_killed_mid_run(celery_stack, sandbox, postgres_db):
    sandbox.state.honour_idempotency = True  # the JSON wire format's replay: the retried batch is applied once
    source = make_key("source", "celery-kill")
    keys = sandbox.state.seed("profile", source, PROFILES)
    sandbox.state.latency["hrflow"] = 0.03
    run_id, busy, victim = _kill_the_worker_holding_the_ats_answer(celery_stack, sandbox, source, keys)
    survivor = next(w for w in WORKERS if w != victim)

    assert celery_stack.wait_for_run(DAG_ID, run_id, timeout=900) == "success"

    tis = _task_instances(celery_stack, run_id)
    retried = [f"{ti['task_id']}[{ti['map_index']}]" for ti in tis if ti["try_number"] > 1]
    print("retried after the kill:", retried)
    assert set(busy) <= set(retried), "the batches the dead worker held were not retried"
    assert all(ti["hostname"] == survivor for ti in tis if ti["try_number"] > 1)
    _assert_delivered_once(sandbox, keys, postgres_db)


def test_worker_killed_mid_run_with_an_ats_that_ignores_idempotency_keys(celery_stack, sandbox, postgres_db):
    """
    The same kill against an ATS that ignores Idempotency-Key (most real ones): the batch whose answer the
    dead worker never got is sent again by the retry, and only that batch arrives twice, the documented
    at-least-once case (docs/sync.md). Every profile is still tagged exactly once, and nothing else repeats.
    """
    celery_stack.add_celery_worker("worker-c")  # the previous test killed one of the two
    sandbox.state.honour_idempotency = False
    source = make_key("source", "celery-kill-ignoring")
    keys = sandbox.state.seed("profile", source, PROFILES)
    sandbox.state.latency["hrflow"] = 0.03
    run_id, busy, _victim = _kill_the_worker_holding_the_ats_answer(celery_stack, sandbox, source, keys)

    assert celery_stack.wait_for_run(DAG_ID, run_id, timeout=900) == "success"

    ats = sandbox.state.ats_area("profiles")
    held_batch = {r["hrflow_key"] for r in ats.bodies[0]["profiles"]}
    print(
        f"an ATS ignoring Idempotency-Key received {len(held_batch)} profiles twice (the held batch), "
        f"{len(keys) - len(held_batch)} once"
    )
    assert dict(ats.applied) == {k: 2 if k in held_batch else 1 for k in keys}
    assert {k: sandbox.state.edits[k] for k in keys} == {k: 1 for k in keys}
    assert sandbox.state.snapshot()["synced"]["profile"] == sorted(keys)
