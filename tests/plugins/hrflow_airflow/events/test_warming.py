"""Airflow's execution API built at the api-server's start, off the event loop (hrflow_airflow.events.warming)."""

from __future__ import annotations

import asyncio
import threading

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount

from hrflow_airflow.events import app as webhook_app
from hrflow_airflow.events.warming import execution_app, warm_execution_api


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


def test_the_api_server_lifespan_warms_up_off_its_event_loop_before_it_serves(ledger_path, monkeypatch):
    calls: list[tuple[bool, int]] = []
    served: list[str] = []

    def warm() -> None:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:  # a worker thread: the event loop goes on meanwhile
            on_loop = False
        calls.append((on_loop, len(served)))

    monkeypatch.setattr(webhook_app, "warm_execution_api", warm)
    app = webhook_app.create_app(
        get_secret=lambda: "s",
        trigger=lambda run_id, conf: "triggered",
        check_pool=lambda: None,
        drain_at_start=True,
        starts_sync=False,
    )
    with TestClient(app) as client:
        served.append(client.get("/health").json()["status"])
    assert calls == [(False, 0)] and served == ["ok"]
