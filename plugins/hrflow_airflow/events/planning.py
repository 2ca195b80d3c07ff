"""
A delivery's plan: for each event, the SMS run it asks for (its run id, one per profile) and what it announces to a
sync DAG. Pure but for reading the handled event types.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse

from hrflow_airflow.events.realtime import Announced, all_sync_event_types, announced
from hrflow_airflow.events.sms import EventError, handled_events, parse_event

Planned = tuple[dict, tuple[str, str] | None, Announced | None]


def run_id_for(source_key: str, profile_key: str) -> str:
    """
    Return the run id for a profile: one per (source, profile), so however many new-profile events arrive for
    it (parsing, storing, searching; in one delivery or several; redelivered), it gets one run and one SMS.
    """
    return "hrflow_webhook__" + hashlib.sha256(f"{source_key}/{profile_key}".encode()).hexdigest()[:40]


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
