"""
Candidate data that must travel between tasks, sealed with Airflow's Fernet key.

XComs sit in the metadata database (or the XCom object storage) and Airflow also keeps each task's rendered
arguments; both outlive the run and show in the UI. So whatever carries names, emails or phones between tasks
travels as a Fernet token made with ``[core] fernet_key``, the key that already protects Connections: keys and
counts stay readable, candidate data does not. A successful run deletes the sealed XComs when it ends; a failed
run keeps them (still sealed) so that "clear failed tasks" can retry, until the run succeeds, is cleared, or
``airflow db clean`` removes it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from hrflow_airflow.errors import HrFlowAirflowError

SEALED = "sealed"


class SealError(HrFlowAirflowError, RuntimeError):
    """Raise when candidate data cannot be sealed or opened: no Fernet key, or a token from another key."""


@lru_cache(maxsize=4)
def _fernet(keys: str):
    from cryptography.fernet import Fernet, MultiFernet

    parts = [k.strip() for k in keys.split(",") if k.strip()]
    if not parts:
        raise SealError(
            "[core] fernet_key is not set: candidate data passed between tasks is encrypted with it "
            '(as Connections are). Generate one with `python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"` and set AIRFLOW__CORE__FERNET_KEY on every component.'
        )
    try:
        return MultiFernet([Fernet(k.encode()) for k in parts])  # a comma-separated list supports key rotation
    except ValueError as exc:
        raise SealError(f"[core] fernet_key is not a valid Fernet key: {exc}") from None


def _keys() -> str:
    from airflow.sdk import conf

    return conf.get("core", "fernet_key", fallback="") or ""


CHUNK_CHARS = 1 << 20  # a list is sealed in tokens of about this many characters of JSON (see seal_items)


def seal(value: Any) -> dict[str, Any]:
    """Return ``{"sealed": <Fernet token>}`` holding ``value`` as JSON; a list is sealed in chunks (seal_items)."""
    if isinstance(value, list):
        return seal_items(json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in value)
    return seal_json(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def seal_json(text: str) -> dict[str, str]:
    """Return ``{"sealed": <Fernet token>}`` holding ``text``, which is already JSON."""
    return {SEALED: _encrypt(text)}


def seal_items(texts: Iterable[str]) -> dict[str, list[str]]:
    """
    Return ``{"sealed": [<token>, ...]}`` holding the list of the JSON values ``texts``: one token per ~1 MB of JSON,
    each an array. Encrypting makes several copies of its input; chunks keep those copies small whatever the list.
    """
    tokens, part, size = [], [], 0
    for text in texts:
        part.append(text)
        size += len(text)
        if size >= CHUNK_CHARS:
            tokens.append(_encrypt("[" + ",".join(part) + "]"))
            part, size = [], 0
    if part or not tokens:
        tokens.append(_encrypt("[" + ",".join(part) + "]"))
    return {SEALED: tokens}


def _encrypt(text: str) -> str:
    return _fernet(_keys()).encrypt(text.encode()).decode("ascii")


def unseal(box: Any) -> Any:
    """Return the value :func:`seal` (or :func:`seal_items`) put in ``box``."""
    sealed = box.get(SEALED) if isinstance(box, dict) else None
    if isinstance(sealed, str):
        return _decrypt(sealed)
    return list(unsealed(box))


def unsealed(box: Any) -> Iterator[Any]:
    """Yield the items of the list sealed in ``box``, opening one chunk at a time (a whole list holds one)."""
    sealed = box.get(SEALED) if isinstance(box, dict) else None
    if not isinstance(sealed, (str, list)):
        raise SealError("expected sealed candidate data ({'sealed': <token>})")
    for token in [sealed] if isinstance(sealed, str) else sealed:
        yield from _decrypt(token)


def _decrypt(token: str) -> Any:
    from cryptography.fernet import InvalidToken

    try:
        return json.loads(_fernet(_keys()).decrypt(token.encode("ascii")))
    except InvalidToken:
        raise SealError(
            "sealed candidate data does not open with [core] fernet_key: was the key changed "
            "without keeping the old one (comma-separated) during rotation?"
        ) from None


def delete_xcoms(context: dict[str, Any], task_ids: dict[str, int | None]) -> int:
    """
    Delete the ``return_value`` XComs of ``task_ids`` in this run (``task_id -> number of mapped instances``,
    None when not mapped), from the database and the XCom object storage. Return how many were deleted.
    """
    from airflow.sdk.bases.xcom import BaseXCom
    from airflow.sdk.execution_time.xcom import resolve_xcom_backend

    backend: type[BaseXCom] = resolve_xcom_backend()
    dag_id, run_id, deleted = context["dag"].dag_id, context["run_id"], 0
    for task_id, mapped in task_ids.items():
        for map_index in range(mapped) if mapped is not None else [-1]:
            try:
                backend.delete(key="return_value", task_id=task_id, dag_id=dag_id, run_id=run_id, map_index=map_index)
                deleted += 1
            except Exception as exc:  # an XCom that was never written (task failed early) is not an error
                context["ti"].log.debug("No XCom to delete for %s[%s]: %s", task_id, map_index, exc)
        _delete_offloaded(dag_id, run_id, task_id)
    return deleted


def _delete_offloaded(dag_id: str, run_id: str, task_id: str) -> None:
    """
    Delete the files the XCom object storage backend wrote for ``task_id`` in this run
    (``<xcom_objectstorage_path>/<dag_id>/<run_id>/<task_id>/``): deleting an XCom through the Task SDK
    removes its database row, not the file its value was offloaded to.
    """
    from airflow.sdk import conf

    base = conf.get("common.io", "xcom_objectstorage_path", fallback="") or ""
    if not base:
        return
    from airflow.sdk import ObjectStoragePath

    from hrflow_airflow.sync.spill import remove_tree

    directory = ObjectStoragePath(base) / dag_id / run_id / task_id
    if directory.exists():
        remove_tree(directory)


def record_hash(record: Any) -> str:
    """
    Return a keyed hash of ``record`` (HMAC-SHA256 under the ledger's record-hash key, :func:`record_hash_key`).

    It tells whether a record changed without holding it, and, being keyed, cannot confirm a guessed value
    (an email, a phone) the way a plain hash could. Rotating the Fernet key changes no hash.
    """
    return _digest(_hash_key(_keys()), record)


def record_hashes(records: Iterable[Any]) -> list[str]:
    """Return the keyed hash of each of ``records`` (:func:`record_hash`), the key read once for them all."""
    records = list(records)
    if not records:
        return []  # no key needed: none read, no ledger touched
    key = _hash_key(_keys())
    return [_digest(key, record) for record in records]


def _digest(key: bytes, record: Any) -> str:
    text = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def record_hash_key(*, fresh: bool = False) -> bytes:
    """Return the record-hash key (``fresh``: read it from the ledger again, re-sealing it if a rotation asks)."""
    if fresh:
        _hash_key.cache_clear()
    return _hash_key(_keys())


@lru_cache(maxsize=4)
def _hash_key(keys: str) -> bytes:
    """
    Return the record-hash key the ledger keeps sealed (:mod:`hrflow_airflow.ledger.keys`), read once per process.

    Made the first time from the first Fernet key, as versions up to 0.2.0 derived it on every use: a ledger
    written by them keeps its hashes, and from then on no rotation changes the key.
    """
    from cryptography.fernet import Fernet

    from hrflow_airflow.ledger import LedgerHook
    from hrflow_airflow.ledger.keys import stored_key

    first = keys.split(",")[0].strip()
    fernet = _fernet(keys)  # raises a clear SealError without a key
    derived = hashlib.sha256(b"hrflow-airflow record hash\0" + first.encode()).digest()
    return stored_key(LedgerHook(), "record_hash", fernet, Fernet(first.encode()), make=lambda: derived)
