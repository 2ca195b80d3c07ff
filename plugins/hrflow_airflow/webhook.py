"""FastAPI app mounted on the Airflow api-server at ``/hrflow``: verify HrFlow webhooks, record what they start."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hrflow_airflow.errors import HrFlowAirflowError
from hrflow_airflow.inbox import Drainer, Inbox
from hrflow_airflow.realtime import Announced, RecordHasher, all_sync_event_types, announced, start_syncs
from hrflow_airflow.settings import setting
from hrflow_airflow.sms import DAG_ID, EventError, event_conf, handled_events, parse_event

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "HTTP-HRFLOW-SIGNATURE"
CONN_ID = "hrflow_default"


class SignatureError(HrFlowAirflowError, ValueError):
    """Raise when the signature header is missing, malformed or does not match the payload."""


class PayloadError(HrFlowAirflowError, ValueError):
    """Raise when a correctly signed payload cannot be used (answered 422, naming why)."""


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _b64url_decode(text: str) -> bytes:
    try:
        standard = text.translate(str.maketrans("-_", "+/"))
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("signature header is not base64url") from None


def sign(secret: str, payload: bytes, *, raw: bool = False) -> str:
    """
    Return the ``HTTP-HRFLOW-SIGNATURE`` value HrFlow sends for ``payload``: ``<signature>.<payload>``, base64url.

    The signature is the HMAC-SHA256 of the payload with the webhook secret. HrFlow's official SDKs disagree
    on its form: the Python SDK (``hrflow.webhook``) compares the **hex** digest, the PHP SDK the **raw**
    32-byte digest (``raw=True``). Both are accepted by :func:`verify`.
    """
    mac = hmac.new(secret.encode(), payload, hashlib.sha256)
    digest = mac.digest() if raw else mac.hexdigest().encode("ascii")
    return f"{_b64url_encode(digest)}.{_b64url_encode(payload)}"


def verify(header: str | None, secret: str | Sequence[str]) -> Any:
    """
    Return the signed event (or list of events), or raise SignatureError saying why it is refused.

    ``secret`` may be several secrets (the current one and, during a rotation, the next): any one signs.
    """
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    parts = header.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise SignatureError(f"{SIGNATURE_HEADER} must be '<signature>.<payload>'")
    signature, payload = _b64url_decode(parts[0]), _b64url_decode(parts[1])
    if not any(_signed_by(one, payload, signature) for one in ([secret] if isinstance(secret, str) else secret)):
        raise SignatureError("signature does not match the payload")
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SignatureError("signed payload is not JSON") from None
    except RecursionError:  # signed, but nested past what the parser takes: bad input, not a server error
        raise PayloadError("signed payload is nested too deeply") from None


def _signed_by(secret: str, payload: bytes, signature: bytes) -> bool:
    mac = hmac.new(secret.encode(), payload, hashlib.sha256)
    hex_ok = hmac.compare_digest(mac.hexdigest().encode("ascii"), signature)  # Python SDK form
    raw_ok = hmac.compare_digest(mac.digest(), signature)  # PHP SDK form
    return hex_ok or raw_ok


def run_id_for(source_key: str, profile_key: str) -> str:
    """
    Return the run id for a profile: one per (source, profile), so however many new-profile events arrive for
    it (parsing, storing, searching; in one delivery or several; redelivered), it gets one run and one SMS.
    """
    return "hrflow_webhook__" + hashlib.sha256(f"{source_key}/{profile_key}".encode()).hexdigest()[:40]


SECRET_TTL = 10.0  # seconds a read of the webhook secrets is reused: a rotation is seen within this
POOL_TTL = 30.0  # seconds "the pool exists" is reused (a missing pool is looked up on every delivery)


def remembered(read: Callable[[], Any], seconds: float, keep: Callable[[Any], bool] = lambda _: True) -> Callable:
    """
    Return ``read``, its result reused for ``seconds`` when ``keep(result)``; errors are never reused. Deliveries
    then read nothing of Airflow's metadata database (SQLite blocks readers while a writer commits).
    """
    lock, memo = threading.Lock(), {}

    def call() -> Any:
        with lock:
            if "value" in memo and time.monotonic() - memo["at"] < seconds:
                return memo["value"]
        value = read()
        if keep(value):
            with lock:
                memo.update(value=value, at=time.monotonic())
        return value

    return call


def missing_pool() -> str | None:
    """Return the name of the configured ``[hrflow] pool`` if it does not exist in this Airflow, else None."""
    name = setting("pool")
    if not name:
        return None
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return None if session.scalar(select(Pool.id).where(Pool.pool == name)) else name


def _webhook_secret() -> tuple[str, ...]:
    """Return the connection's webhook secrets: ``webhook_secret``, then ``webhook_secret_next`` during a rotation."""
    from hrflow_airflow.hooks.hrflow_api import HrFlowHook

    return HrFlowHook(hrflow_conn_id=CONN_ID).webhook_secrets


def _trigger(run_id: str, conf: dict[str, Any]) -> str:
    """Create the DAG run; return ``triggered`` or ``duplicate``."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagRunAlreadyExists
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    with create_session() as session:
        if session.scalar(select(DagRun.id).where(DagRun.dag_id == DAG_ID, DagRun.run_id == run_id)):
            return "duplicate"
    try:
        with create_session() as session:
            trigger_dag(
                DAG_ID,
                triggered_by=DagRunTriggeredByType.REST_API,
                run_id=run_id,
                conf=conf,
                logical_date=None,
                session=session,
            )
    except (DagRunAlreadyExists, IntegrityError):
        return "duplicate"
    return "triggered"


def create_app(
    *,
    get_secret: Callable[[], str | Sequence[str]] = _webhook_secret,
    trigger: Callable[[str, dict[str, Any]], str] = _trigger,
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
    (``trigger``) and, unless ``[hrflow] webhook_starts_sync`` (``starts_sync``) is off, the sync DAGs of objects
    whose mapped record changed (``hasher``, ``start_sync``: :mod:`hrflow_airflow.realtime`). ``drain_at_start``:
    drain from the app's lifespan, which Airflow's api-server (3.3) enters for every app a plugin mounts.
    """
    from contextlib import asynccontextmanager

    syncing = setting("webhook_starts_sync") if starts_sync is None else starts_sync
    get_secret = remembered(get_secret, SECRET_TTL)
    check_pool = remembered(check_pool, POOL_TTL, keep=lambda missing: missing is None)
    hasher = hasher or RecordHasher()

    drainer = Drainer(inbox, trigger, partial(start_syncs, hasher=hasher, start=start_sync) if syncing else None)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if drain_at_start:
            drainer.kick()
            threading.Thread(
                target=warm_up, args=(hasher if syncing else None,), name="hrflow-warm", daemon=True
            ).start()
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


def warm_up(hasher: Any) -> None:
    """
    Import what the drain runs and read the sync setup at the api-server's start: the first deliveries of a burst
    otherwise wait seconds for the drain's first ``trigger_dag`` (its imports and the DAG's first load).
    """
    import airflow.api.common.trigger_dag  # noqa: F401
    import airflow.assets.manager  # noqa: F401

    if isinstance(hasher, RecordHasher):
        hasher.warm()


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


Planned = tuple[dict, tuple[str, str] | None, Announced | None]


def plan_events(
    events: list[Any], hasher: Callable[[Any, str, Any], str | None] | None
) -> list[Planned] | JSONResponse:
    """
    Return each event with its SMS run's (source key, profile key) and what it announces to a sync DAG (None:
    nothing; ``hasher`` None: the webhook does not start syncs); or a 422 naming the bad event.
    """
    handled = handled_events()
    types = all_sync_event_types(handled)
    plan: list[Planned] = []
    for position, event in enumerate(events):
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return JSONResponse({"detail": f"event {position} has no 'type'"}, status_code=422)
        try:
            keys = parse_event(event, handled) if event["type"] in handled else None
            plan.append((event, keys, announced(event, hasher, types) if hasher else None))
        except EventError as exc:
            return JSONResponse({"detail": f"event {position}: {exc}"}, status_code=422)
    return plan


def record_delivery(plan: list[Planned], drainer: Drainer) -> JSONResponse:
    """
    Record a delivery's SMS runs and sync announcements in the inbox (one statement), wake the drain, and answer
    per event: ``queued`` / ``duplicate`` (its SMS run), ``sync`` (what it announced); 503 if nothing was recorded.
    """
    run_ids = [run_id_for(*keys) if keys else None for _, keys, _ in plan]
    rows: dict[str, dict[str, Any]] = {}
    for (event, keys, _), run_id in zip(plan, run_ids):
        if run_id and run_id not in rows:  # the first event of a profile names its run
            rows[run_id] = event_conf(event, *keys)
    syncs = [news.row() if news else None for _, _, news in plan]
    rows.update(row for row in syncs if row)
    try:
        statuses = drainer.inbox.record(rows.items())
    except Exception as exc:  # nothing recorded: let HrFlow redeliver
        log.exception("Could not record a delivery of %s events", len(plan))
        return JSONResponse({"detail": f"could not record the delivery: {type(exc).__name__}"}, status_code=503)
    drainer.kick()
    log.info(
        "HrFlow delivery of %s events: %s SMS runs and %s sync announcements queued", len(plan),
        sum(statuses.get(r) == "queued" for r in run_ids if r), sum(statuses.get(r[0]) == "queued" for r in syncs if r),
    )  # fmt: skip
    results, answered = [], set()  # a run id's second event in one delivery is a duplicate too
    for (event, _, _), run_id, sync in zip(plan, run_ids, syncs):
        status = ("duplicate" if run_id in answered else statuses[run_id]) if run_id else "ignored"
        answered.add(run_id)
        result: dict[str, Any] = {"type": event["type"], "status": status}
        if run_id:
            result.update(dag_id=DAG_ID, run_id=run_id)
        if sync:
            result["sync"] = statuses[sync[0]]
            result["status"] = result["status"] if run_id else statuses[sync[0]]
        results.append(result)
    return JSONResponse({"results": results}, status_code=200)


app = create_app(drain_at_start=True)
