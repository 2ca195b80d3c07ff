"""
Keys the ledger keeps for the package, sealed under ``[core] fernet_key`` (table ``hrflow_keys``).

The record-hash key (:func:`hrflow_airflow.sealed.record_hash`) lives here, so rotating the Fernet key changes no
hash: the key is generated once, stored sealed, opened with any configured Fernet key (``new,old`` during a
rotation) and re-sealed under the first one the first time it is read after a rotation, so the old key can then
be dropped. ``python -m hrflow_airflow.ledger.reseal`` re-seals at once (the rotation runbook's step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hrflow_airflow.ledger.db import now
from hrflow_airflow.ledger.schema import KEYS, table

if TYPE_CHECKING:
    from cryptography.fernet import Fernet, MultiFernet

    from hrflow_airflow.ledger.db import LedgerHook


def keys_table() -> Any:
    """Return the keys table (created with the ledger's engine)."""
    return table(KEYS)


def stored_key(db: LedgerHook, name: str, fernet: MultiFernet, primary: Fernet, make: Callable[[], bytes]) -> bytes:
    """
    Return key ``name``: made by ``make`` and stored sealed the first time, opened with ``fernet`` (every
    configured key) afterwards, and re-sealed under ``primary`` (the first key) when an older key sealed it.
    """
    from sqlalchemy import select, update

    table = keys_table()
    with db.engine.begin() as conn:
        token = conn.execute(select(table.c.sealed).where(table.c.name == name)).scalar_one_or_none()
        if token is None:
            sealed = fernet.encrypt(make()).decode("ascii")
            row = {"name": name, "sealed": sealed, "created_at": now(), "sealed_at": now()}
            conn.execute(db.insert(table).values(**row).on_conflict_do_nothing(index_elements=["name"]))
            token = conn.execute(select(table.c.sealed).where(table.c.name == name)).scalar_one()  # a racer's too
        key = fernet.decrypt(token.encode("ascii"))
        if not opens(primary, token):  # sealed under a key being rotated out: re-seal under the current one
            resealed = fernet.rotate(token.encode("ascii")).decode("ascii")
            conn.execute(update(table).where(table.c.name == name).values(sealed=resealed, sealed_at=now()))
    return key


def opens(key: Fernet, token: str) -> bool:
    """Tell whether ``key`` alone opens ``token``."""
    from cryptography.fernet import InvalidToken

    try:
        key.decrypt(token.encode("ascii"))
    except InvalidToken:
        return False
    return True
