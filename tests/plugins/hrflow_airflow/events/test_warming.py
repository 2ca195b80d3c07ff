"""Airflow's execution API built at the api-server's start, off the event loop (hrflow_airflow.events.warming)."""

from __future__ import annotations

import asyncio
import threading

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from hrflow_airflow.events import app as webhook_app
from hrflow_airflow.events.warming import (
    Build,
    ExecutionApiGate,
    build_in_background,
    execution_app,
    warm_execution_api,
)


def versioned_routes(app) -> int:
    return sum(len(router.routes) for router in app.router.versioned_routers.values())


def test_the_real_execution_api_is_built_by_the_warm_up_not_by_the_first_task():
    from airflow.api_fastapi.execution_api.app import create_task_execution_api_app

    execution = create_task_execution_api_app()
    root = FastAPI()
    root.mount("/execution", execution)
    assert execution_app(root) is execution
    assert versioned_routes(execution) == 0  # Cadwyn builds its routes when it serves its first request

    took = warm_execution_api(root)

    assert took is not None and versioned_routes(execution) > 0
    built = versioned_routes(execution)
    assert warm_execution_api(root) is not None and versioned_routes(execution) == built  # built once


def test_the_warm_up_serves_one_request_where_it_is_called_and_leaves_a_process_without_the_api_alone():
    seen: list[str] = []

    async def app(scope, receive, send):
        seen.append(threading.current_thread().name)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    root = FastAPI()
    root.mount("/execution", app)
    assert isinstance(root.routes[-1], Mount)
    assert warm_execution_api(root) is not None and seen == [threading.current_thread().name]
    assert warm_execution_api(FastAPI()) is None  # no execution API here (AIRFLOW_API_APPS=core): nothing to do
    assert execution_app(None) is None  # not an api-server: airflow.api_fastapi.main is not imported


def test_the_api_server_lifespan_starts_the_build_and_serves_at_once(ledger_path, monkeypatch):
    started: list[int] = []
    served: list[str] = []
    monkeypatch.setattr(webhook_app, "build_in_background", lambda: started.append(len(served)))
    app = webhook_app.create_app(
        get_secret=lambda: "s",
        trigger=lambda run_id, conf: "triggered",
        check_pool=lambda: None,
        drain_at_start=True,
        starts_sync=False,
    )
    with TestClient(app) as client:
        served.append(client.get("/health").json()["status"])
    assert started == [0] and served == ["ok"]


def test_while_the_build_runs_an_execution_api_request_waits_for_it_and_any_other_passes(monkeypatch):
    monkeypatch.setattr(Build, "started", threading.Event())
    monkeypatch.setattr(Build, "done", threading.Event())
    calls: list[str] = []

    async def app(scope, receive, send):
        calls.append(scope["path"])

    def http(path: str) -> dict:
        return {"type": "http", "path": path}

    async def scenario() -> None:
        gate = ExecutionApiGate(app)
        Build.started.set()
        waiting = asyncio.create_task(gate(http("/execution/task-instances/x/run"), None, None))
        await gate(http("/hrflow/webhook"), None, None)  # the event loop is free: a delivery passes at once
        assert calls == ["/hrflow/webhook"] and not waiting.done()
        Build.done.set()
        await waiting
        await gate(http("/execution/health"), None, None)  # built: nothing waits any more

    asyncio.run(scenario())
    assert calls == ["/hrflow/webhook", "/execution/task-instances/x/run", "/execution/health"]


def test_the_background_build_builds_the_real_execution_api_once(monkeypatch):
    from airflow.api_fastapi.execution_api.app import create_task_execution_api_app

    monkeypatch.setattr(Build, "started", threading.Event())
    monkeypatch.setattr(Build, "done", threading.Event())
    execution = create_task_execution_api_app()
    root = FastAPI()
    root.mount("/execution", execution)

    build_in_background(root).join()

    assert Build.started.is_set() and Build.done.is_set() and versioned_routes(execution) > 0
    assert build_in_background(FastAPI()) is None  # no execution API in this process: no build, no gate
