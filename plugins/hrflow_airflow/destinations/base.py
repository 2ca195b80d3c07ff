"""
The destination interface: what the sync DAG needs from an ATS adapter, and the helpers adapters share.

An adapter is chosen by the connection type (:data:`hrflow_airflow.destinations.ADAPTERS`). It sends one
batch once and answers, per object, what was accepted (with the ATS's id when it gives one) and what was
refused (:class:`hrflow_airflow.hooks.http.RefusedError`: that record fails alone).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from airflow.sdk.exceptions import AirflowFailException

from hrflow_airflow.mapping import RECORD_KEY

if TYPE_CHECKING:
    from hrflow_airflow.ledger import LedgerHook
    from hrflow_airflow.sync.payloads import Delivered

ATS_ID_TAG = "ats_id"


class Destination(Protocol):
    """What the sync DAG needs from an ATS adapter."""

    name: str  # short name, the prefix of the ats_id tag: "smartrecruiters"
    kinds: frozenset[str]  # object kinds it can create: {"profile"}
    ledger_key: str  # its rows in the sync ledger

    def default_field_map(self, kind_name: str) -> dict[str, str] | None:
        """Return this ATS's record field -> object path map for ``kind_name`` (None: the kind's own)."""

    def deliver(
        self,
        *,
        plural: str,
        index: int,
        items: list[list[str]],
        records: list[dict[str, Any]],
        ledger: LedgerHook,
        store: Any = None,
        lanes: int = 1,
    ) -> Delivered:
        """
        Send one batch once; return what was accepted, refused, already accepted earlier, and the ATS's ids.

        ``lanes`` is how many delivering tasks of the run may run at once: they share the rate limits.
        """

    def update_batch(
        self,
        *,
        plural: str,
        index: int,
        items: list[list[str]],
        records: list[dict[str, Any]],
        remote_ids: dict[str, str],
        bases: dict[str, str | None],
        store: Any = None,
        lanes: int = 1,
    ) -> Delivered:
        """
        Update objects the destination already holds with their changed records (only the fields an update may
        overwrite); return what was updated (``accepted``) and refused. ``remote_ids``: the ATS's ids
        (``"<name>:<id>"``); ``bases``: the hash of the record each update replaces.
        """


class AtsAuthError(AirflowFailException):
    """Raise when the ATS refused the credentials (401/403): the run fails at once, naming the connection."""


def nest(record: Mapping[str, Any]) -> dict[str, Any]:
    """
    Return the request body of a flat record: dotted names build nested objects, empty values are left out.

    ``{"firstName": "Zoë", "location.city": "Paris", "location.country": None}`` ->
    ``{"firstName": "Zoë", "location": {"city": "Paris"}}``. The ``hrflow_key`` field is not sent.
    """
    body: dict[str, Any] = {}
    for name, value in record.items():
        if name == RECORD_KEY or value is None or value == "" or value == []:
            continue
        *parents, leaf = name.split(".")
        node = body
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"record field '{name}' nests under a field that already holds a value")
        node[leaf] = value
    return body
