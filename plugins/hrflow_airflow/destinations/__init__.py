"""
ATS destinations, chosen by the connection type of ``ats_default`` (profiles) or ``ats_jobs_default`` (jobs).

A destination is built from a client, by composition: the client is the hook that speaks the ATS's HTTP API
(one small module per ATS), the engine owns exactly once. Two engines: the JSON batch endpoint
(:class:`~.json_batch.JsonBatchDestination`) and one candidate per request
(:class:`~.per_object.PerObjectDestination`). Adding an ATS means one client module here, its emulator in
``sandbox/``, one entry in the contract suite (``tests/contract/``) and one line in :data:`ADAPTERS`
(docs/destinations.md, "Add an ATS").

Every destination offers :class:`~hrflow_airflow.destinations.base.Destination`: ``deliver()`` sends one
batch's records and reports, per object, what was accepted (with the ATS's id) and what was refused.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from hrflow_airflow.errors import BadConfigError

if TYPE_CHECKING:
    from hrflow_airflow.destinations.base import Destination

JSON_BATCH = "hrflow_airflow.destinations.json_batch:JsonBatchDestination"
PER_OBJECT = "hrflow_airflow.destinations.per_object:PerObjectDestination"
# connection type -> (engine "module:class", client "module:class")
ADAPTERS = {
    "http": (JSON_BATCH, "hrflow_airflow.hooks.api_key:AtsHook"),
    "hrflow_ats": (JSON_BATCH, "hrflow_airflow.hooks.api_key:AtsHook"),
    "smartrecruiters": (PER_OBJECT, "hrflow_airflow.destinations.smartrecruiters:SmartRecruitersHook"),
    "workable": (PER_OBJECT, "hrflow_airflow.destinations.workable:WorkableHook"),
    "greenhouse": (PER_OBJECT, "hrflow_airflow.destinations.greenhouse:GreenhouseHook"),
    "lever": (PER_OBJECT, "hrflow_airflow.destinations.lever:LeverHook"),
    "teamtailor": (PER_OBJECT, "hrflow_airflow.destinations.teamtailor:TeamtailorHook"),
}


class DestinationError(BadConfigError):
    """Raise when the destination connection is missing or of a type no adapter handles."""


def load(path: str) -> Any:
    """Return the object ``"module:name"`` names."""
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)


def destination_for(conn_id: str, kind_name: str | None = None) -> Destination:
    """
    Return the adapter for connection ``conn_id``, picked by its ``conn_type``.

    ``kind_name`` ("profile" / "job") is checked against what the adapter can create.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise DestinationError(
            f"Connection '{conn_id}' (the ATS destination) is not defined: create it with one of "
            f"the types {', '.join(sorted(ADAPTERS))}"
        ) from None
    conn_type = (conn.conn_type or "").lower()
    if conn_type not in ADAPTERS:
        raise DestinationError(
            f"Connection '{conn_id}' has type '{conn.conn_type}', which no ATS adapter handles; "
            f"use one of {', '.join(sorted(ADAPTERS))}"
        )
    engine, client = ADAPTERS[conn_type]
    destination = load(engine)(load(client)(ats_conn_id=conn_id))
    if kind_name and kind_name not in destination.kinds:
        raise DestinationError(
            f"Connection '{conn_id}' is a {conn_type} connection, which creates "
            f"{' and '.join(sorted(destination.kinds))}s only, not {kind_name}s"
        )
    return destination
