"""
The api-server's cold start, paid before it serves: Airflow's task execution API built at start, off the event loop.

Airflow's execution API (mounted at ``/execution``) is a Cadwyn app, which builds its versioned routes when it
serves its first request. That first request comes from the first task instance to start, and the build (4.7 s
of CPU on a loaded 2-core machine, measured in the api-server) ran on the event loop: every webhook answer
already computed waited for it, 8 s at p99 for a burst sent 20 s after the api-server started. Here one request
(``GET /execution/health``, as a probe would) is sent through that app in the app's lifespan, in a thread: the
build happens while the api-server is still starting (uvicorn binds its socket once every lifespan has started,
https://www.uvicorn.org/concepts/lifespan), so no delivery and no task waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

log = logging.getLogger(__name__)

API_MODULE = "airflow.api_fastapi.main"  # what `airflow api-server` serves (uvicorn and gunicorn alike): its `app`
EXECUTION_PREFIX = "/execution"


def execution_app(root: Any = None) -> Any:
    """Return the execution API app mounted on the api-server's app (``root``, else the one being served), or None."""
    from starlette.routing import Mount

    if root is None:
        root = getattr(sys.modules.get(API_MODULE), "app", None)
    for route in getattr(root, "routes", ()):
        if isinstance(route, Mount) and route.path == EXECUTION_PREFIX:
            return route.app
    return None


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
    """Return the status of ``GET /health`` served by ``app`` in process (httpx's ASGI transport, no socket).

    https://www.python-httpx.org/advanced/transports
    """
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api-server.local") as client:
        return (await client.get("/health")).status_code
