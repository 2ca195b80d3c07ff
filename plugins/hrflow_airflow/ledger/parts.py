"""
What went to a destination with each object beyond its record (table ``hrflow_sync_part``): its CV (part
``cv``: the fingerprint of the file sent, so an unchanged CV is never sent again) and its applications (part
``job:<ATS job id>``: the application's id, or the record's where the ATS makes one record per job). A record of
its own on another job has its own ledger key, ``<key>~<hash of the job>`` (:data:`SUB`, :meth:`Parts.per_job`).

States: ``intent`` (sent, no answer yet), ``sent``, ``unknown`` (the answer was lost: looked up before any
resend), ``isolated`` (the CV could not be sent: its reason; it follows in a later run), ``unknown_job`` (the
ATS does not know the job), ``left`` (the application tag was removed in HrFlow: the application stays),
``held`` (not sent, and not retried: ``[hrflow] update_fields`` leaves its field out of updates; an update that
governs it sends it, after a lookup).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hrflow_airflow.ledger.db import CHUNK, now
from hrflow_airflow.ledger.schema import REASON_LIMIT, ledger_table, parts_table
from hrflow_airflow.ledger.states import SYNCED

if TYPE_CHECKING:
    from hrflow_airflow.ledger.db import LedgerHook

CV = "cv"
SUB = "~"  # a per-job record's ledger key: <object key>~<16 hex of the job> (never in an HrFlow key)
SENT, ISOLATED, UNKNOWN_JOB, LEFT, HELD = "sent", "isolated", "unknown_job", "left", "held"
PART_INTENT, PART_UNKNOWN = "intent", "unknown"
RETRY = (ISOLATED, PART_INTENT, PART_UNKNOWN)  # a later run tries these again


def job_part(ats_job_id: str) -> str:
    """Return the part name of an application to ATS job ``ats_job_id``."""
    return f"job:{ats_job_id}"[:160]


@dataclass(frozen=True)
class Part:
    """What the ledger knows of one part of one object at one destination."""

    state: str
    remote_id: str | None = None
    fingerprint: str | None = None
    reason: str | None = None
    sent_at: str | None = None


class Parts:
    """The parts of each object at each destination, in the ledger database ``db``."""

    def __init__(self, db: LedgerHook) -> None:
        self.db = db

    def of(self, destination: str, keys: Iterable[str]) -> dict[str, dict[str, Part]]:
        """Return ``{key: {part: Part}}`` for ``keys`` (objects without parts are absent)."""
        from sqlalchemy import select

        table, found, keys = parts_table(), {}, list(keys)
        columns = [
            table.c.object_key,
            table.c.part,
            table.c.state,
            table.c.remote_id,
            table.c.fingerprint,
            table.c.reason,
            table.c.sent_at,
        ]
        with self.db.engine.connect() as conn:
            for i in range(0, len(keys), CHUNK):
                where = table.c.destination == destination, table.c.object_key.in_(keys[i : i + CHUNK])
                for key, part, *values in conn.execute(select(*columns).where(*where)):
                    found.setdefault(key, {})[part] = Part(*values)
        return found

    def record(
        self,
        destination: str,
        key: str,
        part: str,
        state: str,
        *,
        remote_id: str | None = None,
        fingerprint: str | None = None,
        reason: str | None = None,
        sent_at: str | None = None,
    ) -> None:
        """Set one part's state (and what else is given; a value not given keeps the stored one)."""
        self.record_many(
            destination,
            [
                {
                    "object_key": key,
                    "part": part,
                    "state": state,
                    "remote_id": remote_id,
                    "fingerprint": fingerprint,
                    "reason": reason,
                    "sent_at": sent_at,
                }
            ],
        )

    def record_many(self, destination: str, changes: Iterable[Mapping[str, Any]]) -> None:
        """
        Set many parts' states in as few statements as possible: each change names ``object_key``, ``part`` and
        ``state``, and may give ``remote_id``, ``fingerprint``, ``reason``, ``sent_at`` (one not given keeps the
        stored value).
        """
        latest = {(change["object_key"], change["part"]): change for change in changes}  # one row per part
        by_given: dict[frozenset[str], list[dict[str, Any]]] = {}
        stamp = now()
        for change in latest.values():
            row = {
                "destination": destination,
                "object_key": change["object_key"],
                "part": change["part"],
                "state": change["state"],
                "remote_id": change.get("remote_id"),
                "fingerprint": change.get("fingerprint"),
                "reason": (change.get("reason") or "")[:REASON_LIMIT] or None,
                "sent_at": change.get("sent_at"),
                "updated_at": stamp,
            }
            given = frozenset(name for name in ("remote_id", "fingerprint", "sent_at") if row[name] is not None)
            by_given.setdefault(given, []).append(row)
        for given, rows in by_given.items():
            self.db.upsert(
                parts_table(),
                rows,
                ["destination", "object_key", "part"],
                lambda stmt, given=given: {
                    "state": stmt.excluded.state,
                    "reason": stmt.excluded.reason,
                    "updated_at": stmt.excluded.updated_at,
                    **{n: stmt.excluded[n] for n in given},
                },
            )

    def to_retry(self, destination: str, containers: Iterable[str], limit: int = 10_000) -> list[tuple[str, str]]:
        """Return ``(key, container)`` of synced objects with a part a later run must try again (a CV isolated...)."""
        from sqlalchemy import and_, select

        parts, ledger = parts_table(), ledger_table()
        query = (
            select(parts.c.object_key, ledger.c.container)
            .select_from(
                parts.join(
                    ledger, and_(ledger.c.destination == parts.c.destination, ledger.c.object_key == parts.c.object_key)
                )
            )
            .where(
                parts.c.destination == destination,
                parts.c.state.in_(RETRY),
                ledger.c.state == SYNCED,
                ledger.c.container.in_(list(containers)),
            )
            .distinct()
            .limit(limit)
        )
        with self.db.engine.connect() as conn:
            return [(key, container) for key, container in conn.execute(query)]

    def per_job(self, destination: str, keys: Iterable[str]) -> dict[str, list[str]]:
        """
        Return ``{key: [ledger keys of its own records on other jobs]}`` for ``keys`` (one record per job: rows of
        the ledger or of the parts keyed ``<key>~...``, whatever their state); keys without any are absent.
        """
        from sqlalchemy import or_, select

        found: dict[str, set[str]] = {}
        keys = list(keys)
        with self.db.engine.connect() as conn:
            for i in range(0, len(keys), 100):  # a prefix test per key: chunks keep each statement small
                for table in (ledger_table(), parts_table()):
                    prefixes = or_(
                        *(table.c.object_key.startswith(f"{k}{SUB}", autoescape=True) for k in keys[i : i + 100])
                    )
                    query = select(table.c.object_key).where(table.c.destination == destination, prefixes).distinct()
                    for (sub,) in conn.execute(query):
                        found.setdefault(sub.split(SUB, 1)[0], set()).add(sub)
        return {key: sorted(subs) for key, subs in found.items()}

    def forget(self, destination: str, keys: Iterable[str]) -> None:
        """Drop the parts of ``keys`` (an erasure: nothing of them is kept)."""
        from sqlalchemy import delete

        table, keys = parts_table(), list(keys)
        with self.db.engine.begin() as conn:
            for i in range(0, len(keys), CHUNK):
                conn.execute(
                    delete(table).where(table.c.destination == destination, table.c.object_key.in_(keys[i : i + CHUNK]))
                )
