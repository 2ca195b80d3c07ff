"""
The JSON batch endpoint's wire format, pure: the refused records an answer names, the keyed hash of each record
the ledger keeps, and the ``Idempotency-Key`` of a request (docs/destinations.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hrflow_airflow.mapping import RECORD_KEY, idempotency_key
from hrflow_airflow.sealed import record_hashes


def named_refusals(body: Any, keys: Iterable[str]) -> dict[str, str]:
    """Return ``{hrflow_key: message}`` of the records an answer's ``errors`` list names among ``keys``."""
    wanted = set(keys)
    errors = body.get("errors") if isinstance(body, dict) else None
    named = {}
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict) and error.get("hrflow_key") in wanted:
            named[error["hrflow_key"]] = str(error.get("message") or error.get("code") or "refused")
    return named


def hashes_of(records: list[dict[str, Any]], items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Return the keyed hash of the record of each ``(key, container)`` item (what the ledger keeps)."""
    wanted = {key for key, _ in items}
    chosen = [record for record in records if record[RECORD_KEY] in wanted]
    return dict(zip((record[RECORD_KEY] for record in chosen), record_hashes(chosen)))


def request_key(
    plural: str, records: list[dict[str, Any]], items: list[tuple[str, str]], bases: dict[str, str | None] | None
) -> str:
    """Return the ``Idempotency-Key`` of a request: its records, and for an upsert the hash each replaces."""
    if bases is None:
        return idempotency_key(plural, records)
    return idempotency_key(f"{plural}-upsert", [*records, {k: bases.get(k) for k, _ in items}])
