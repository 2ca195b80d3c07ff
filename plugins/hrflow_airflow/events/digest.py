"""
The SMS digest: past ``[hrflow] sms_digest_over`` new profiles within 10 minutes, one digest SMS replaces the rest.

A bulk import announces thousands of profiles at once; a recruiter should not get thousands of texts. Opt-in:
with ``[hrflow] sms_digest_over`` = N, the SMS runs of one 10-minute window count themselves in table
``hrflow_sms_bursts`` (the ledger's database: one row per window, a count). The first N send their SMS as usual;
the next one sends a single digest ("N+ new profiles in 10 min..."), at most once per window (the message
record); the others send nothing and count as ``digested``. A new window starts afresh. Counts only, no keys.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any

from hrflow_airflow.ledger import LedgerHook
from hrflow_airflow.ledger.schema import BURSTS, table
from hrflow_airflow.settings import settings

WINDOW_SECONDS = 600
SEND, DIGEST, SKIP = "send", "digest", "skip"


def digest_over() -> int | None:
    """Return ``[hrflow] sms_digest_over`` (None: off, every profile gets its SMS)."""
    value = settings().sms_digest_over
    return value if value > 0 else None


class Bursts:
    """Count the SMS runs of each 10-minute window."""

    def __init__(self, ledger: LedgerHook | None = None) -> None:
        self.ledger = ledger or LedgerHook()

    @cached_property
    def table(self) -> Any:
        """Return the burst table (created with the ledger's engine)."""
        return table(BURSTS)

    def count(self, now: float | None = None) -> tuple[int, int]:
        """Count one more run in the current window; return (the window's start, runs counted so far)."""
        window = int((now if now is not None else time.time()) // WINDOW_SECONDS * WINDOW_SECONDS)
        stmt = self.ledger.insert(self.table).values(window_start=window, runs=1)
        stmt = stmt.on_conflict_do_update(index_elements=["window_start"], set_={"runs": self.table.c.runs + 1})
        with self.ledger.engine.begin() as conn:
            return window, conn.execute(stmt.returning(self.table.c.runs)).scalar_one()


def decide(runs: int, over: int | None) -> str:
    """Return what the run counted ``runs``-th in its window does: send its SMS, send the digest, or skip."""
    if over is None or runs <= over:
        return SEND
    return DIGEST if runs == over + 1 else SKIP


def digest_text(over: int, window_start: int) -> str:
    """Return the digest SMS: counts and times only."""
    until = time.strftime("%H:%M UTC", time.gmtime(window_start + WINDOW_SECONDS))
    return (
        f"[HrFlow] More than {over} new profiles in 10 min (a bulk import?): one SMS each is paused until "
        f"{until}. See them in HrFlow."
    )
