"""
The api-server's cold start, paid aside: Airflow's task execution API built at start in a thread, off the event loop.

Airflow's execution API (mounted at ``/execution``) is a Cadwyn app, which builds its versioned routes when it
serves its first request. That first request comes from the first task instance to start, and the build (4.7 s
of CPU on a loaded 2-core machine, measured in the api-server) ran on the event loop: every webhook answer
already computed waited for it, 8 s at p99 for a burst sent 20 s after the api-server started.

So the webhook app's lifespan starts :func:`build_in_background`: a thread sends one request (``GET /health``, as
a probe would) through that app, in its own event loop (httpx's ASGI transport, no socket,
https://www.python-httpx.org/advanced/transports), and the api-server serves meanwhile. Until the build is done,
:class:`ExecutionApiGate` (a root middleware of the plugin) makes an execution API request wait for it, off the
event loop: the app is never built twice, nor on the loop. Built before serving instead, the api-server answered
10 s later on a loaded machine.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

API_MODULE = "airflow.api_fastapi.main"  # what `airflow api-server` serves (uvicorn and gunicorn alike): its `app`
EXECUTION_PREFIX = "/execution"
GATE_TIMEOUT = 120.0  # seconds an execution API request waits for the build at most, then goes on as before


class Build:
    """Whether this process builds the execution API in the background (``started``), and when it is ``done``."""

    started = threading.Event()
    done = threading.Event()


def execution_app(root: Any = None) -> Any:
    """Return the execution API app mounted on the api-server's app (``root``, else the one being served), or None."""
    from starlette.routing import Mount

    if root is None:
        root = getattr(sys.modules.get(API_MODULE), "app", None)
    for route in getattr(root, "routes", ()):
        if isinstance(route, Mount) and route.path == EXECUTION_PREFIX:
            return route.app
    return None


def build_in_background(root: Any = None) -> threading.Thread | None:
    """Start building the execution API in a thread (see the module); return it, or None when there is none."""
    if execution_app(root) is None:
        return None
    Build.started.set()

    def build() -> None:
        try:
            warm_execution_api(root)
        finally:
            Build.done.set()

    thread = threading.Thread(target=build, name="hrflow-execution-api", daemon=True)
    thread.start()
    return thread


def warm_execution_api(root: Any = None) -> float | None:
    """
    Serve one ``GET /health`` through the execution API app, in this thread's own event loop, so that it builds
    its routes now; return the seconds it took, or None when this process serves no execution API.
    """
    app = execution_app(root)
    if app is None:
        return None
    started = time.monotonic()
    try:
        status = asyncio.run(health(app))
    except Exception:  # never stops the api-server: the first task instance then pays for it, as before
        log.warning("HrFlow webhook: could not build Airflow's execution API at start", exc_info=True)
        return None
    took = time.monotonic() - started
    log.info("HrFlow webhook: Airflow's execution API built at start in %.1f s (health %s)", took, status)
    return took


async def health(app: Any) -> int:
    """Return the status of ``GET /health`` served by ``app`` in process (httpx's ASGI transport, no socket)."""
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api-server.local") as client:
        return (await client.get("/health")).status_code


class ExecutionApiGate:
    """
    A root middleware (the plugin's ``fastapi_root_middlewares``): while the execution API is being built, a
    request to it waits for the build in a worker thread; every other request, and every request after, passes.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            Build.started.is_set()
            and not Build.done.is_set()
            and scope["type"] == "http"
            and f"{EXECUTION_PREFIX}/" in scope.get("path", "")
        ):
            await asyncio.to_thread(Build.done.wait, GATE_TIMEOUT)
        await self.app(scope, receive, send)
