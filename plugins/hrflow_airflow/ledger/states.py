"""
The ledger's vocabulary: the states an object goes through at a destination, how its remote record came to be
its own (``origin``), and :class:`Entry`, what one row says (the state machine is :mod:`.deliveries`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

INTENT, ACCEPTED, SYNCED, REFUSED, QUARANTINED = "intent", "accepted", "synced", "refused", "quarantined"
UNKNOWN = "unknown"  # a create lost its answer: looked up again in later runs, created again only once settled
# how the remote record came to be the object's (column ``origin``)
CREATED = "created"  # our create made it (answered, or found later carrying our marker): ours to remove
LINKED = "linked"  # the ATS already held the person (e.g. a unique email): updated, never removed or erased
HINT = "hint"  # taken from the object's ats_id tag (a baseline): anyone can edit a tag, so never removed
UNLINKED = "unlinked"  # audit_links dropped an id that failed the proof
REMOVABLE = (CREATED, None)  # None: recorded before 0.3, taken as created until audit_links says otherwise
REMOVED = "removed"  # archived or deleted in the destination (reason: how); erased: a tombstone, never re-created
DELIVERED = (ACCEPTED, SYNCED)  # the destination holds the object: never create it again
ENTRY_COLUMNS = (
    "state", "container", "remote_id", "attempts", "record_hash", "refusals", "reason", "refused_run", "synced_hash",
    "group_key", "sent_hash", "origin", "sent_at",
)  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """What the ledger knows of one object at one destination."""

    state: str
    container: str
    remote_id: str | None = None
    attempts: int = 1
    record_hash: str | None = None  # of the last record refused (keyed: see sealed.record_hash)
    refusals: int = 0  # refusals of that same record
    reason: str | None = None  # the last refusal's reason, redacted
    refused_run: str | None = None  # the run that counted the last refusal
    synced_hash: str | None = None  # of the last record the destination accepted (keyed)
    group_key: str | None = None  # intent: the Idempotency-Key of the request that carried it (JSON endpoint)
    sent_hash: str | None = None  # intent: the hash of the record that request carried
    origin: str | None = None  # created, linked, hint, unlinked (None: recorded before 0.3)
    sent_at: str | None = None  # intent / unknown: when the first create since the last outcome was sent

    @property
    def ours(self) -> bool:
        """Return True when the remote record is one our own create made: the only kind removal may touch."""
        return bool(self.remote_id) and self.origin in REMOVABLE


def entry_of(values: Iterable[Any]) -> Entry:
    """Return the entry of a row's :data:`ENTRY_COLUMNS` values."""
    return Entry(**dict(zip(ENTRY_COLUMNS, values)))
