"""
AirflowPlugin that mounts the HrFlow webhook app on the api-server at ``/hrflow``, and starts its inbox's drain
when the api-server starts.

A mounted app gets no lifespan event of its own, so the drain is started by a root middleware
(:class:`DrainAtStart`): Starlette builds the root app's middleware when the api-server process starts (its
lifespan), so whatever a stopped or killed api-server left in the inbox drains at once, with no probe and no
delivery. With several api-servers, each drains; a run id starts one run, so each event still makes one run.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from hrflow_airflow.webhook import app


class DrainAtStart:
    """Pure ASGI middleware: start the webhook inbox's drain at the api-server's lifespan, then pass every call on."""

    def __init__(self, asgi: Any) -> None:
        self.asgi = asgi

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            app.state.drainer.kick()
        await self.asgi(scope, receive, send)


class HrFlowPlugin(AirflowPlugin):
    name = "hrflow"
    fastapi_apps = [{"app": app, "url_prefix": "/hrflow", "name": "HrFlow.ai webhook"}]
    fastapi_root_middlewares = [{"middleware": DrainAtStart, "name": "HrFlow.ai webhook inbox drain"}]
