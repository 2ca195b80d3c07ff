"""
What one sync task hands to the next: keys, counts and references, never candidate data in plain text.

Each count keeps one name from the listing to the summary: ``found``, ``transformed``, ``posted``, ``tagged``,
``skipped`` (already carried ``sync=1``), ``failed``, and ``resumed`` (the ATS accepted it in an earlier run:
tagged only). Candidate data travels sealed, under the key ``sealed`` (:mod:`hrflow_airflow.sealed`).
"""

from __future__ import annotations

from typing import TypedDict

from typing_extensions import NotRequired

from hrflow_airflow.destinations.base import Delivered, Failure

__all__ = ["Batch", "Delivered", "Failure", "Posted", "Stats", "Summary", "Tagged", "Transformed", "UPDATE"]

UPDATE = "update"  # a batch's mode: synced objects whose record changed, sent as updates (see sync.changes)


class Batch(TypedDict):
    """One batch as ``search`` returns it: whole and sealed, or a reference to its file (``ref``)."""

    index: int
    items: NotRequired[list[list[str]]]  # [key, container], when the batch travels whole
    sealed: NotRequired[str]  # the records (update batches: trimmed objects), when the batch travels whole
    records: NotRequired[bool]  # True: it holds records, mapped as the listing read them (sync.find)
    failed: NotRequired[list[Failure]]  # the objects whose mapping failed, when the batch travels whole
    ref: NotRequired[str]  # the batch file, when batches are written to object storage
    count: NotRequired[int]
    containers: NotRequired[dict[str, int]]
    concurrency: int | None  # HrFlow calls in flight in one tagging task (the run's plan)
    lanes: int  # delivering tasks of the run that may run at once (they share the ATS's limits)
    mode: NotRequired[str]  # "update": synced objects whose record changed (see sync.changes)
    remote_ids: NotRequired[dict[str, str]]  # update batches: key -> the ATS's id
    bases: NotRequired[dict[str, str | None]]  # update batches: key -> hash of the record the update replaces


class Stats(TypedDict):
    """What ``search`` found (its XCom ``stats``)."""

    found: int
    batches: int
    found_by_container: dict[str, int]
    listing: str  # "search" or "sweep"
    found_only_by_sweep: int | None
    dirs: list[str]  # batch directories of stopped runs this listing resumed
    why: str
    changes: NotRequired[dict | None]  # the changes listing (sync.changes.ChangeStats); None when updates are off
    gone: NotRequired[dict | None]  # a full sweep's archived and deleted synced objects (sync.removals.Gone)


class Transformed(TypedDict):
    """One batch's ATS records (sealed) and the objects whose mapping failed."""

    index: int
    items: list[list[str]]
    failed: list[Failure]
    count: int
    concurrency: int | None
    lanes: int
    ref: str | None
    sealed: NotRequired[str | list[str]]  # the records, when no object storage holds them
    records_ref: NotRequired[str]  # where the sealed records were written, beside the batch file
    mode: NotRequired[str]
    remote_ids: NotRequired[dict[str, str]]
    bases: NotRequired[dict[str, str | None]]


class Posted(Delivered):
    """
    One batch after ``post_to_ats``: what to tag, and what the destination refused.

    ``rejected`` holds what is new and fails the run (a first refusal, a quarantine); ``refused`` the records
    refused again below ``[hrflow] max_refusals`` (reported only); ``quarantined`` the objects not sent
    because they are quarantined with an unchanged record.
    """

    refused: list[Failure]
    quarantined: list[Failure]
    index: int
    concurrency: int | None
    ledger_key: str
    ref: str | None
    mapped_all: bool
    mode: NotRequired[str]  # "update": ``updated`` holds what the destination updated; nothing to tag
    updated: NotRequired[list[list[str]]]


class Tagged(TypedDict):
    """One batch after tagging: counts in total and per container, and the objects that failed."""

    index: int
    tagged: int
    skipped: int
    failed: list[Failure]
    by_container: dict[str, dict[str, int]]
    newest: NotRequired[str | None]  # the newest updated_at HrFlow gave our tagging PUTs


class Summary(TypedDict):
    """The run's counts, in total and per container: the ``summary`` XCom and the asset events' source."""

    kind: str
    container: str
    found: int
    transformed: int
    posted: int
    tagged: int
    skipped: int
    failed: int
    failed_keys: list[Failure]
    refused: int
    refused_keys: list[Failure]
    quarantined: int
    quarantined_keys: list[Failure]
    dry_run: bool
    by_container: dict[str, dict[str, int]]
    listing: str
    found_only_by_sweep: int | None
    resumed: int
    why: str
    unknown: NotRequired[int]  # creates whose answer was lost, not found yet: settled by a later run's lookup
    unknown_keys: NotRequired[list[str]]
    linked: NotRequired[int]  # records the ATS already held, linked to (never removed or erased by the sync)
    cvs: NotRequired[int]  # CVs sent
    cv_isolated: NotRequired[list[Failure]]  # CVs that could not go (unreachable, over max_cv_mb): they follow later
    applications: NotRequired[int]  # applications made
    unknown_jobs: NotRequired[list[str]]  # job references the ATS does not know (candidates created without them)
    left_applications: NotRequired[list[list[str]]]  # [key, job]: tag removed in HrFlow, application left in place
    jobs: NotRequired[int]  # distinct jobs applied to in this run
    stale_unknown: NotRequired[str | None]  # the once-only alert for objects unknown past the settle time + a run
    updated: NotRequired[int]  # synced objects whose changed record the destination accepted as an update
    changes: NotRequired[dict | None]  # how the changes were listed (sync.changes.ChangeStats)
    newest_write: NotRequired[str | None]  # the newest updated_at of the run's own tagging PUTs
    removal: NotRequired[dict | None]  # what the full sweep found archived or deleted, and what left the ATS
