"""One sync run's batches spread over two Celery workers (PostgreSQL metadata DB, Redis broker)."""

from __future__ import annotations

import socket
import uuid

import pytest

from sandbox.airflow_home import AirflowStack
from sandbox.server import make_key

PG, REDIS = ("127.0.0.1", 5432), ("127.0.0.1", 6379)
SOURCE = make_key("source", "celery")


def _reachable(address) -> bool:
    try:
        socket.create_connection(address, timeout=2).close()
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not (_reachable(PG) and _reachable(REDIS)),
                                reason="needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379")


@pytest.fixture(scope="module")
def postgres_db():
    import psycopg2

    name = f"hrflow_airflow_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host=PG[0], port=PG[1], user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    yield f"postgres@{PG[0]}:{PG[1]}/{name}"
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def test_batches_of_one_run_spread_over_celery_workers(sandbox_server, sandbox, postgres_db, tmp_path):
    keys = sandbox.state.seed("profile", SOURCE, 60)
    sandbox.state.latency["hrflow"] = 0.2  # each tag task takes a few seconds: both workers get work
    redis_db = uuid.uuid4().int % 10 + 5
    stack = AirflowStack(tmp_path, extra_env={
        **sandbox_server.airflow_env(),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{postgres_db}",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{postgres_db}",
    })
    stack.start(wait_for_dags=("hrflow_profiles_to_ats",), celery_workers=("worker-a", "worker-b"))
    try:
        stack.unpause("hrflow_profiles_to_ats")
        run = stack.api("POST", "/api/v2/dags/hrflow_profiles_to_ats/dagRuns", json={
            "logical_date": None, "conf": {"source_keys": [SOURCE], "batch_size": 10, "concurrency": 2}}).json()
        assert stack.wait_for_run("hrflow_profiles_to_ats", run["dag_run_id"], timeout=300) == "success"
        tis = stack.api("GET", f"/api/v2/dags/hrflow_profiles_to_ats/dagRuns/{run['dag_run_id']}/taskInstances",
                        params={"limit": 100}).json()["task_instances"]
    finally:
        stack.stop()

    tag_hosts = {ti["map_index"]: ti["hostname"] for ti in tis if ti["task_id"] == "tag_profiles"}
    print("tag_profiles batch -> worker:", dict(sorted(tag_hosts.items())))
    assert len(tag_hosts) == 6
    assert set(tag_hosts.values()) == {"worker-a", "worker-b"}
    assert dict(sandbox.state.ats_area("profiles").applied) == {k: 1 for k in keys}
    assert sandbox.state.snapshot()["synced"]["profile"] == sorted(keys)
