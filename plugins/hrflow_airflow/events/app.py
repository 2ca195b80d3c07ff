"""
FastAPI app mounted on the Airflow api-server at ``/hrflow``: verify HrFlow webhooks, record what they start.

A delivery is verified (:mod:`.signing`), planned (:mod:`.planning`), recorded in the inbox and answered at once
(:mod:`.recording`); the inbox's drain thread (:mod:`.inbox`) starts the SMS runs and the syncs (:mod:`.realtime`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hrflow_airflow.events.airflow_db import CONN_ID, missing_pool, trigger_sms_run, warm_up, webhook_secrets
from hrflow_airflow.events.inbox import Drainer, Inbox
from hrflow_airflow.events.memo import POOL_TTL, SECRET_TTL, remembered
from hrflow_airflow.events.planning import plan_events
from hrflow_airflow.events.realtime import RecordHasher, start_syncs
from hrflow_airflow.events.recording import record_delivery
from hrflow_airflow.events.signing import SIGNATURE_HEADER, PayloadError, SignatureError, verify
from hrflow_airflow.events.warming import build_in_background
from hrflow_airflow.settings import setting

log = logging.getLogger(__name__)


def create_app(
    *,
    get_secret: Callable[[], str | Sequence[str]] = webhook_secrets,
    trigger: Callable[[str, dict[str, Any]], str] = trigger_sms_run,
    check_pool: Callable[[], str | None] = missing_pool,
    inbox: Callable[[], Inbox] = Inbox,
    starts_sync: bool | None = None,
    hasher: Callable[[Any, str, Any], str | None] | None = None,
    start_sync: Callable[[Any, list[dict[str, Any]]], str] | None = None,
    drain_at_start: bool = False,
) -> FastAPI:
    """
    Return the webhook app; the callables are replaceable for tests.

    Every delivery is recorded in the inbox in one statement and answered at once; a drain thread starts SMS runs
    (``trigger``; a burst's profiles share runs: ``[hrflow] sms_batch_seconds``, ``sms_batch_size``) and, unless
    ``[hrflow] webhook_starts_sync`` (``starts_sync``) is off, the sync DAGs of objects whose mapped record changed
    (``hasher``, ``start_sync``: :mod:`hrflow_airflow.events.realtime`).
    ``drain_at_start``: drain from the app's lifespan, which Airflow's api-server (3.3) enters for every app a
    plugin mounts.
    """
    syncing = setting("webhook_starts_sync") if starts_sync is None else starts_sync
    get_secret = remembered(get_secret, SECRET_TTL)
    check_pool = remembered(check_pool, POOL_TTL, keep=lambda missing: missing is None)
    hasher = hasher or RecordHasher()
    drainer = drainer_for(inbox, trigger, partial(start_syncs, hasher=hasher, start=start_sync) if syncing else None)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if drain_at_start:
            drainer.kick()
            warming = (hasher if syncing else None,)
            threading.Thread(target=warm_up, args=warming, name="hrflow-warm", daemon=True).start()
            build_in_background()  # Airflow's execution API, off the event loop (events/warming.py)
        yield

    app = FastAPI(title="HrFlow.ai webhook", description="Receives signed HrFlow.ai webhooks.", lifespan=lifespan)

    @app.get("/health")
    def health() -> JSONResponse:
        """Answer 200 when a delivery could be verified and started: the secret is set and the pool exists."""
        problems = health_problems(get_secret, check_pool)
        status = 503 if problems else 200
        return JSONResponse({"status": "unavailable" if problems else "ok", "problems": problems}, status_code=status)

    @app.post("/webhook")
    def webhook(request: Request) -> JSONResponse:
        payload = verified_payload(request.headers.get(SIGNATURE_HEADER), get_secret)
        if isinstance(payload, JSONResponse):
            return payload
        events = payload if isinstance(payload, list) else [payload]  # HrFlow posts an array
        plan = plan_events(events, hasher if syncing else None)
        if isinstance(plan, JSONResponse):
            return plan
        if any(keys for _, keys, _ in plan) and (pool := check_pool()):
            return pool_refusal(pool)
        return record_delivery(plan, drainer)

    return app


def drainer_for(inbox: Callable[[], Inbox], trigger: Callable, syncs: Callable | None) -> Drainer:
    """Return the inbox's drain: a burst's profiles share SMS runs (``[hrflow] sms_batch_seconds``, ``_size``)."""
    return Drainer(inbox, trigger, syncs, gather=setting("sms_batch_seconds"), batch=max(1, setting("sms_batch_size")))


def pool_refusal(pool: str) -> JSONResponse:
    """Return the 503 answering a delivery while ``[hrflow] pool`` names a pool that does not exist."""
    detail = (
        f"pool '{pool}' ([hrflow] pool) does not exist, so the SMS run would never be scheduled: "
        f'create it with `airflow pools set {pool} 16 "HrFlow API"` or unset [hrflow] pool'
    )
    log.error("HrFlow webhook refused: %s", detail)
    return JSONResponse({"detail": detail}, status_code=503)


def health_problems(get_secret: Callable[[], Any], check_pool: Callable[[], str | None]) -> list[str]:
    """Return what would stop a delivery from being verified or its runs from being scheduled."""
    problems = []
    try:
        get_secret()
    except Exception:
        problems.append(f"webhook secret not configured on connection '{CONN_ID}'")
    try:
        if pool := check_pool():
            problems.append(f"pool '{pool}' ([hrflow] pool) does not exist")
    except Exception as exc:
        problems.append(f"cannot read the pools: {type(exc).__name__}")
    return problems


def verified_payload(header: str | None, get_secret: Callable[[], str | Sequence[str]]) -> Any:
    """Return the delivery's payload once its signature is verified, or the answer refusing it (503, 401, 422)."""
    try:
        secret = get_secret()
    except Exception as exc:
        log.error("HrFlow webhook secret unavailable: %s", exc)
        return JSONResponse({"detail": f"webhook secret not configured on connection '{CONN_ID}'"}, status_code=503)
    try:
        return verify(header, secret)
    except SignatureError as exc:
        log.warning("Refused HrFlow webhook: %s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=401)
    except PayloadError as exc:
        log.warning("Refused HrFlow webhook: %s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=422)


app = create_app(drain_at_start=True)
