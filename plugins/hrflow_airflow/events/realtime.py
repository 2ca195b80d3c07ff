"""
What a webhook delivery starts in the sync DAGs: an asset event, when an announced object's record changed.

HrFlow sends an event when a profile or job is parsed, stored or indexed for the first time (``*.success``) and
when it is edited (``*.update``), with the whole object ("Create, Configure a Webhook",
https://developers.hrflow.ai/docs/connectors-webhook). In the request, each such event is reduced to its kind,
container, key and the keyed hash of its mapped record (:class:`Announced`; the object itself is not kept), and
recorded in the inbox with the delivery's SMS runs. The inbox's drain (:func:`start_syncs`) then compares each
hash with the ledger's ``synced_hash``: an object whose mapped record the ATS already holds starts nothing. That
is what keeps our own tagging PUT, which makes HrFlow send ``profile.storing.update`` for every profile we tag,
from starting a run: the profile we tag maps to the record the ATS just accepted. Otherwise it records one asset
event on ``hrflow-webhook://<plural>`` (:func:`hrflow_airflow.sync.dag_args.webhook_asset`), on which the sync
DAG is scheduled besides its timetable, unless a run of that DAG is already queued or an asset event already
waits for the scheduler: deliveries during a run make at most one more run.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hrflow_airflow.errors import TransientError
from hrflow_airflow.events.inbox import SYNC_PREFIX
from hrflow_airflow.events.sms import EventError, handled_events
from hrflow_airflow.objects import KEY_PATTERN, KINDS, MAX_KEY_LENGTH, PROFILE, ObjectKind
from hrflow_airflow.sync.dag_args import webhook_asset

log = logging.getLogger(__name__)

STEPS = ("parsing", "storing", "searching", "indexing")
SETUP_TTL = 60.0  # seconds a kind's field map and ledger key are reused by the webhook before they are read again
STARTED, COALESCED, UNCHANGED = "started", "coalesced", "unchanged"


def sync_event_types(kind: ObjectKind, new_profile_events: tuple[str, ...] | None = None) -> frozenset[str]:
    """Return the event types that may start ``kind``'s sync: new objects (for profiles, ``[hrflow] webhook_events``,
    or ``new_profile_events`` when the caller read them), then every ``*.update``."""
    if kind is PROFILE:
        new = new_profile_events or handled_events()
    else:
        new = tuple(f"{kind.name}.{step}.success" for step in STEPS)
    return frozenset((*new, *(f"{kind.name}.{step}.update" for step in STEPS)))


def all_sync_event_types(new_profile_events: tuple[str, ...] | None = None) -> dict[str, frozenset[str]]:
    """Return :func:`sync_event_types` of every kind, by kind name (read once per delivery)."""
    return {name: sync_event_types(kind, new_profile_events) for name, kind in KINDS.items()}


@dataclass(frozen=True)
class Announced:
    """One object a webhook event announced: its kind, container and key, and its mapped record's keyed hash."""

    kind: str
    container: str
    key: str
    record_hash: str | None  # None: the record could not be mapped here; the run decides

    def row(self) -> tuple[str, dict[str, Any]]:
        """Return its inbox row: an id (the same record announced again before the drain adds nothing) and conf."""
        ident = f"{self.kind}/{self.container}/{self.key}/{self.record_hash}"
        conf = {"sync": self.kind, "container": self.container, "key": self.key, "hash": self.record_hash}
        return SYNC_PREFIX + hashlib.sha256(ident.encode()).hexdigest()[:40], conf


def announced(
    event: Mapping[str, Any],
    hasher: Callable[[ObjectKind, str, Mapping], str | None],
    types: Mapping[str, frozenset[str]] | None = None,
) -> Announced | None:
    """
    Return what ``event`` announces to a sync DAG (None: nothing); raise EventError naming a bad key. ``types``:
    :func:`all_sync_event_types`, read once for a whole delivery.
    """
    kind = KINDS.get(str(event.get("type", "")).split(".")[0])
    if kind is None or event["type"] not in (types or all_sync_event_types())[kind.name]:
        return None
    obj = event.get(kind.name)
    if not isinstance(obj, Mapping):
        raise EventError(f"event has no '{kind.name}' object")
    key, container = obj.get("key"), kind.container_of(obj)
    for name, value in ((f"{kind.name}.key", key), (f"{kind.name}.{kind.container}.key", container)):
        if not isinstance(value, str) or not KEY_PATTERN.fullmatch(value):
            raise EventError(
                f"'{name}' is missing or not an HrFlow key (letters, digits, '-' or '_', at most {MAX_KEY_LENGTH})"
            )
    return Announced(kind.name, container, key, hasher(kind, key, obj))


class RecordHasher:
    """
    Map an announced object as the sync DAG's transform does, and return its record's keyed hash.

    The field map and the destination's ledger key are read once a minute (:data:`SETUP_TTL`), not per delivery.
    An object that cannot be mapped here (no ATS connection yet, a bad field map) hashes to None: its run
    decides, and fails naming the problem.
    """

    def __init__(self, ttl: float = SETUP_TTL) -> None:
        self.ttl = ttl
        self.cached: dict[str, tuple[float, dict[str, str], str, dict[str, str] | None]] = {}
        self.warned: dict[str, float] = {}  # kind -> when it last logged an object it could not map
        self.lock = threading.Lock()

    def setup(self, kind: ObjectKind) -> tuple[dict[str, str], str, dict[str, str] | None]:
        """
        Return ``kind``'s field map, its destination's ledger key and (for profiles, whose records carry their
        jobs) the job map, as the sync run resolves them.
        """
        from airflow.sdk import Variable

        from hrflow_airflow.destinations import destination_for
        from hrflow_airflow.sync.config import resolve_field_map, resolve_job_map

        with self.lock:  # the first deliveries of a burst wait for one read, not make one each
            hit = self.cached.get(kind.name)
            if hit and time.monotonic() - hit[0] < self.ttl:
                return hit[1], hit[2], hit[3]
            destination = destination_for(kind.ats_conn_id, kind.name)
            field_map = resolve_field_map(
                kind,
                lambda name: Variable.get(name, default=None),
                default=destination.default_field_map(kind.name),
            )
            job_map = resolve_job_map(Variable.get) if kind.whole_candidate else None
            self.cached[kind.name] = (time.monotonic(), field_map, destination.ledger_key, job_map)
        return field_map, destination.ledger_key, job_map

    def warm(self) -> None:
        """Read each kind's setup and the record-hash key now (the api-server's start), not in the first delivery."""
        from hrflow_airflow.sealed import record_hash_key

        try:
            record_hash_key()
            for kind in KINDS.values():
                self.setup(kind)
        except Exception as exc:  # e.g. no jobs destination: its deliveries decide later
            log.info("HrFlow webhook: not every sync setup could be read at start (%s)", exc)

    def __call__(self, kind: ObjectKind, key: str, obj: Mapping[str, Any]) -> str | None:
        from hrflow_airflow.sealed import record_hash

        try:
            field_map, _, job_map = self.setup(kind)
            return record_hash(kind.record(key, obj, field_map, job_map))  # the sync's record: CV and jobs too
        except Exception as exc:  # the run maps it again and names the problem
            with self.lock:  # once a minute per kind, not once per event of a bulk delivery
                now = time.monotonic()
                loud = now - self.warned.get(kind.name, now - self.ttl) >= self.ttl
                if loud:
                    self.warned[kind.name] = now
            if loud:
                log.warning("HrFlow webhook: %s %s not mapped here (%s); its run decides", kind.name, key, exc)
            return None


def changed(kind: ObjectKind, confs: list[dict[str, Any]], hasher: RecordHasher) -> list[dict[str, Any]]:
    """Return the announced objects whose mapped record is not the one the ATS last accepted (ledger)."""
    from hrflow_airflow.ledger import Ledger

    try:
        ledger_key = hasher.setup(kind)[1]
    except Exception:  # no destination to compare with: the run decides, and names what is missing
        return confs
    known = Ledger().deliveries.lookup(ledger_key, {conf["key"] for conf in confs})
    return [c for c in confs if c["hash"] is None or c["key"] not in known or known[c["key"]].synced_hash != c["hash"]]


def start_syncs(
    confs: Iterable[dict[str, Any]],
    hasher: RecordHasher,
    start: Callable[[ObjectKind, list[dict[str, Any]]], str] | None = None,
) -> dict[str, str]:
    """Start each kind's sync for its changed objects (``start``: :func:`request_run`); return a status per kind."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for conf in confs:
        by_kind.setdefault(conf["sync"], []).append(conf)
    statuses = {}
    for name, group in by_kind.items():
        kind = KINDS[name]
        moved = changed(kind, group, hasher)
        statuses[name] = (start or request_run)(kind, moved) if moved else UNCHANGED
        log.info(
            "HrFlow webhook: %s %s(s) announced, %s changed: %s %s",
            len(group),
            name,
            len(moved),
            statuses[name],
            kind.dag_id,
        )
    return statuses


def request_run(kind: ObjectKind, objects: list[dict[str, Any]]) -> str:
    """
    Record an asset event that makes the scheduler start ``kind``'s sync DAG; return ``started`` or ``coalesced``.

    Coalesced: a run of the DAG is queued (it reads HrFlow after this object was stored) or an asset event already
    waits for the scheduler. Raise TransientError if the asset is unknown (the DAG is not parsed yet): the rows wait.
    """
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetDagRunQueue, AssetModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    asset = webhook_asset(kind)
    with create_session() as session:
        waiting = session.scalar(
            select(DagRun.id).where(DagRun.dag_id == kind.dag_id, DagRun.state == DagRunState.QUEUED).limit(1)
        ) or session.scalar(
            select(AssetDagRunQueue.asset_id).where(AssetDagRunQueue.target_dag_id == kind.dag_id).limit(1)
        )
        if waiting:
            return COALESCED
        model = session.scalar(select(AssetModel).where(AssetModel.name == asset.name, AssetModel.uri == asset.uri))
        if model is None:
            raise TransientError(f"asset {asset.uri} is unknown: is DAG {kind.dag_id} parsed, on its asset schedule?")
        containers = sorted({conf["container"] for conf in objects})
        extra = {"announced": len(objects), f"{kind.container}_keys": containers[:20]}  # keys and counts only
        asset_manager.register_asset_change(asset=model, extra=extra, source_is_api=True, session=session)
    return STARTED
