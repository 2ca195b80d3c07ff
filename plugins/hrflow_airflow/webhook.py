"""FastAPI app mounted on the Airflow api-server at ``/hrflow``: verify HrFlow webhooks, trigger the SMS DAG."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hrflow_airflow.sms import DAG_ID, HANDLED_EVENTS, EventError, parse_event

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "HTTP-HRFLOW-SIGNATURE"
CONN_ID = "hrflow_default"


class SignatureError(ValueError):
    """Raise when the signature header is missing, malformed or does not match the payload."""


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _b64url_decode(text: str) -> bytes:
    try:
        standard = text.translate(str.maketrans("-_", "+/"))
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("signature header is not base64url") from None


def sign(secret: str, payload: bytes) -> str:
    """Return the ``HTTP-HRFLOW-SIGNATURE`` value HrFlow sends for ``payload``."""
    digest = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return f"{_b64url_encode(digest.encode('ascii'))}.{_b64url_encode(payload)}"


def verify(header: str | None, secret: str) -> Any:
    """Return the signed event (or list of events), or raise SignatureError saying why it is refused."""
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    parts = header.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise SignatureError(f"{SIGNATURE_HEADER} must be '<signature>.<payload>'")
    signature, payload = _b64url_decode(parts[0]), _b64url_decode(parts[1])
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest().encode("ascii")
    if not hmac.compare_digest(expected, signature):
        raise SignatureError("signature does not match the payload")
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SignatureError("signed payload is not JSON") from None


def run_id_for(event: Any) -> str:
    """Return a run id derived from the event, so a redelivered event maps to the same run."""
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "hrflow_webhook__" + hashlib.sha256(canonical.encode()).hexdigest()[:40]


def _webhook_secret() -> str:
    from hrflow_airflow.hooks.hrflow_api import HrFlowHook

    return HrFlowHook(hrflow_conn_id=CONN_ID).webhook_secret


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
            trigger_dag(DAG_ID, triggered_by=DagRunTriggeredByType.REST_API, run_id=run_id, conf=conf,
                        logical_date=None, session=session)
    except (DagRunAlreadyExists, IntegrityError):
        return "duplicate"
    return "triggered"


def create_app(*, get_secret: Callable[[], str] = _webhook_secret,
               trigger: Callable[[str, dict[str, Any]], str] = _trigger) -> FastAPI:
    """Return the webhook app; ``get_secret`` and ``trigger`` are replaceable for tests."""
    app = FastAPI(title="HrFlow.ai webhook", description="Receives signed HrFlow.ai webhooks and triggers DAG runs.")

    @app.post("/webhook")
    def webhook(request: Request) -> JSONResponse:
        try:
            secret = get_secret()
        except Exception as exc:
            log.error("HrFlow webhook secret unavailable: %s", exc)
            return JSONResponse({"detail": f"webhook secret not configured on connection '{CONN_ID}'"}, status_code=503)
        try:
            payload = verify(request.headers.get(SIGNATURE_HEADER), secret)
        except SignatureError as exc:
            log.warning("Refused HrFlow webhook: %s", exc)
            return JSONResponse({"detail": str(exc)}, status_code=401)
        events = payload if isinstance(payload, list) else [payload]
        plan: list[tuple[dict, str | None]] = []
        for position, event in enumerate(events):
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                return JSONResponse({"detail": f"event {position} has no 'type'"}, status_code=422)
            if event["type"] not in HANDLED_EVENTS:
                plan.append((event, None))
                continue
            try:
                parse_event(event)
            except EventError as exc:
                return JSONResponse({"detail": f"event {position}: {exc}"}, status_code=422)
            plan.append((event, run_id_for(event)))
        results = []
        for event, run_id in plan:
            if run_id is None:
                results.append({"type": event["type"], "status": "ignored"})
                continue
            try:
                status = trigger(run_id, event)
            except Exception as exc:  # e.g. the DAG is not parsed yet: let HrFlow redeliver
                log.exception("Could not trigger %s", DAG_ID)
                return JSONResponse({"detail": f"could not trigger {DAG_ID}: {exc}"}, status_code=503)
            log.info("HrFlow event %s for profile %s: %s run %s", event["type"], event["profile"]["key"], status, run_id)
            results.append({"type": event["type"], "status": status, "dag_id": DAG_ID, "run_id": run_id})
        return JSONResponse({"results": results}, status_code=200)

    return app


app = create_app()
