"""
The run plan: how one sync run cuts its work into batches, and how many HrFlow calls a tagging task keeps in
flight, from the work found and what the deployment allows; explicit params win.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# -- the automatic choice of batch size and HrFlow concurrency ----------------------------------------------
# Objects per batch at most when chosen automatically (one ATS request, one XCom file, three task instances).
# A tagging task takes 2-3 s to start and end, with its share of the run's HrFlow calls idle meanwhile:
# at a million objects, 100 batches of 10,000 instead of 200 of 5,000 (docs/performance.md).
MAX_AUTO_BATCH = 10_000
# airflow dags test: one process runs every task, on top of Airflow's own ~285 MB; 5,000-object batches keep
# its peak under 300 MB at any run size (docs/performance.md)
MAX_SEQUENTIAL_BATCH = 5_000
MIN_AUTO_BATCH = 100
# Batches and listing pages are bounded by bytes too: a batch is cut once its trimmed objects hold this much JSON,
# a page asks for no more objects than fit this many bytes (from the first page's objects). Each task holds a few
# copies of its batch (sealed, opened, sent); under `airflow dags test` one process runs every task on top of
# Airflow's own ~235 MB, so its bounds are tight (docs/performance.md, "Memory").
BATCH_BYTES, SEQUENTIAL_BATCH_BYTES = 32 << 20, 6 << 20
PAGE_BYTES, SEQUENTIAL_PAGE_BYTES = 8 << 20, 2 << 20


def batch_bytes(sequential: bool) -> int:
    """Return the most bytes of trimmed JSON one batch holds."""
    return SEQUENTIAL_BATCH_BYTES if sequential else BATCH_BYTES


def page_bytes(sequential: bool) -> int:
    """Return the bytes a listing page may hold, about: its object count is cut to fit."""
    return SEQUENTIAL_PAGE_BYTES if sequential else PAGE_BYTES


MAX_BATCH_PARAM = 10_000


@dataclass(frozen=True)
class Plan:
    """How one run cuts its work: batch size, batches, HrFlow calls in flight per tagging task, and why."""

    batch_size: int
    batches: int
    concurrency: int
    why: str


def plan_run(
    found: int,
    *,
    batch_size: int | None,
    concurrency: int | None,
    requests_per_minute: int | None,
    sequential: bool,
    parallel_batches: int = 4,
    max_in_flight: int = 40,
    max_batches: int = 1024,
) -> Plan:
    """
    Return the run's plan from the work found and what the deployment allows; explicit params win.

    * Batches: each costs three mapped task instances, about a second each to start. `airflow dags test`
      (``sequential``) runs them one after another, so it gets as few batches as possible (up to
      ``MAX_SEQUENTIAL_BATCH`` objects each: its one process holds Airflow and one batch). Under a scheduler
      they run in parallel, so the work is cut into ``parallel_batches`` batches (``[hrflow] parallel_batches``)
      for workers to share, of at least ``MIN_AUTO_BATCH`` objects. Never more than ``max_batches``
      (Airflow's ``[core] max_map_length``).
    * HrFlow concurrency: ``max_in_flight`` calls per run (``[hrflow] max_in_flight``), shared by the tagging
      tasks that run at once; with ``requests_per_minute``, no more threads than requests per second.
    """
    reasons = []
    if batch_size:
        size = batch_size
        reasons.append(f"batch_size {batch_size} (param)")
    else:
        target = 1 if sequential else max(1, parallel_batches)
        most = MAX_SEQUENTIAL_BATCH if sequential else MAX_AUTO_BATCH
        size = min(most, max(MIN_AUTO_BATCH, math.ceil(max(found, 1) / target)))
        how = (
            "airflow dags test runs mapped tasks one after another: as few batches as possible"
            if sequential
            else f"tasks run in parallel: about {target} batches for the workers to share"
        )
        reasons.append(f"batch_size {size} (auto: {found} objects; {how}; {MIN_AUTO_BATCH}-{most} per batch)")
    if found > size * max_batches:
        size = math.ceil(found / max_batches)
        reasons.append(f"grown to {size} to stay within {max_batches} mapped tasks")
    batches = math.ceil(found / size) if found else 0
    if concurrency:
        threads = concurrency
        reasons.append(f"concurrency {concurrency} (param)")
    else:
        at_once = 1 if sequential else max(1, min(batches, parallel_batches))
        threads = max(2, max_in_flight // at_once)
        why = f"{max_in_flight} HrFlow calls in flight per run / {at_once} tagging task(s) at once"
        if requests_per_minute:
            threads = min(threads, max(1, requests_per_minute // 60))
            why += f", at most requests_per_minute/60 = {max(1, requests_per_minute // 60)}"
        reasons.append(f"concurrency {threads} (auto: {why})")
    return Plan(size, batches, threads, "; ".join(reasons))
