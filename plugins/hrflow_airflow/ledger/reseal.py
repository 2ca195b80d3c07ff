"""
Re-seal the keys the ledger keeps under the first ``[core] fernet_key``: ``python -m hrflow_airflow.ledger.reseal``.

Run it after ``airflow rotate-fernet-key`` (docs/operations.md, "Rotating secrets"), before the old key is
dropped; a sync task does the same the first time it runs after a rotation.
"""

from __future__ import annotations

from hrflow_airflow.ledger.keys import KEYS
from hrflow_airflow.sealed import record_hash_key


def main() -> None:
    """Re-seal every stored key under the first Fernet key, and say so."""
    record_hash_key(fresh=True)
    print(f"{KEYS}: every key is sealed under the first [core] fernet_key; the old key may now be dropped")


if __name__ == "__main__":
    main()
