"""
ATS destinations: one small adapter per ATS, chosen by the connection type of ``ats_default`` (profiles) or
``ats_jobs_default`` (jobs). Adding an ATS means adding one module here, its emulator in ``sandbox/`` and its
tests, and one line in :data:`ADAPTERS`.

Every adapter offers :class:`~hrflow_airflow.destinations.base.Destination`: ``deliver()`` sends one batch's
records and reports, per object, what was accepted (with the ATS's id when it gives one) and what was refused.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hrflow_airflow.destinations.base import Destination

# connection type -> "module:class"
ADAPTERS = {
    "http": "hrflow_airflow.destinations.json_batch:JsonBatchDestination",
    "hrflow_ats": "hrflow_airflow.destinations.json_batch:JsonBatchDestination",
    "smartrecruiters": "hrflow_airflow.destinations.smartrecruiters:SmartRecruitersHook",
    "workable": "hrflow_airflow.destinations.workable:WorkableHook",
}


class DestinationError(ValueError):
    """Raise when the destination connection is missing or of a type no adapter handles."""


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
    module, _, name = ADAPTERS[conn_type].partition(":")
    destination = getattr(import_module(module), name)(conn_id=conn_id)
    if kind_name and kind_name not in destination.kinds:
        raise DestinationError(
            f"Connection '{conn_id}' is a {conn_type} connection, which creates "
            f"{' and '.join(sorted(destination.kinds))}s only, not {kind_name}s"
        )
    return destination
