"""
The destination interface: what the sync DAG needs from an ATS adapter, and the types and helpers they share.

A destination is chosen by the connection type (:data:`hrflow_airflow.destinations.ADAPTERS`) and built from a
client, the hook that only speaks HTTP to the ATS. It sends one batch once and answers, per object, what was
accepted (with the ATS's id when it gives one) and what was refused (that record fails alone). The caller reads
the ledger once per batch and hands the destination what it knows (``known``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NotRequired, Protocol, TypedDict

from hrflow_airflow.candidate import plain
from hrflow_airflow.errors import AuthError
from hrflow_airflow.mapping import RECORD_KEY, MappingError

if TYPE_CHECKING:
    from hrflow_airflow.ledger import Entry, Ledger

ATS_ID_TAG = "ats_id"


class Failure(TypedDict):
    """One object that did not get through, and why (no candidate data in ``reason``)."""

    key: str
    container: str | None
    reason: str


class Delivered(TypedDict):
    """A destination's answer for one batch."""

    accepted: list[list[str]]  # [key, container]
    rejected: list[Failure]  # refused by the destination (the ledger counts these refusals)
    failed: list[Failure]  # not refused, but not delivered either: the run fails for them
    resumed: int
    remote_ids: dict[str, str]  # key -> "<destination>:<id>"
    unknown: NotRequired[list[Failure]]  # a create lost its answer: settled by a later run's lookup, not a failure
    linked: NotRequired[list[str]]  # keys linked to a record the ATS already held (accepted too; never removed)
    cvs: NotRequired[int]  # CVs sent in this batch
    cv_isolated: NotRequired[list[Failure]]  # CVs that could not be sent: the candidate stays, the CV follows later
    applications: NotRequired[int]  # applications made in this batch
    unknown_jobs: NotRequired[list[str]]  # job references the ATS does not know (the candidates stay)
    left_applications: NotRequired[list[list[str]]]  # [key, job]: tag removed in HrFlow, application left in the ATS
    applied_jobs: NotRequired[list[str]]  # the job references applied to in this batch


class Removed(TypedDict):
    """A destination's answer to removals: what left it, what it cannot remove (and why), what failed."""

    removed: list[list[str]]  # [key, container, how]: "delete", "archive", "gone" (a 404: done, not failed)
    unsupported: list[Failure]  # the ATS lacks the action: kept, reported once by key
    failed: list[Failure]
    not_ours: NotRequired[list[Failure]]  # linked to a record the sync did not make: left in place


@dataclass(frozen=True)
class Outcome:
    """What became of one object: ``created``, ``adopted`` (found carrying our marker after a lost answer),
    ``linked`` (the ATS already held the person: their record, not ours), ``resumed`` (accepted in an earlier run,
    per the ledger), ``updated``, ``refused`` (with the reason), or ``unknown`` (a create lost its answer and the
    lookup has not found it yet: not created again until it settles)."""

    key: str
    container: str
    state: str
    remote_id: str | None = None
    reason: str | None = None
    extras: Any = None  # what went with it beyond its record (:class:`~.completion.Extras`)


def delivered(outcomes: list[Outcome]) -> Delivered:
    """Return a batch's result from its objects' outcomes."""
    accepted = [o for o in outcomes if o.state not in ("refused", "unknown")]

    def failures(state: str) -> list[Failure]:
        return [Failure(key=o.key, container=o.container, reason=o.reason or "") for o in outcomes if o.state == state]

    return Delivered(
        accepted=[[o.key, o.container] for o in accepted],
        rejected=failures("refused"),
        failed=[],
        resumed=sum(1 for o in outcomes if o.state == "resumed"),
        remote_ids={o.key: o.remote_id for o in accepted if o.remote_id},
        unknown=failures("unknown"),
        linked=[o.key for o in outcomes if o.state == "linked"],
        **whole_candidate(outcomes),
    )


def whole_candidate(outcomes: list[Outcome]) -> dict[str, Any]:
    """Return the batch's counts of CVs and applications from its outcomes' extras."""
    extras = [(o, o.extras) for o in outcomes if o.extras is not None]
    return {
        "cvs": sum(1 for _, e in extras if e.cv == "sent"),
        "cv_isolated": [
            Failure(key=o.key, container=o.container, reason=e.cv[len("isolated: ") :])
            for o, e in extras
            if (e.cv or "").startswith("isolated: ")
        ],
        "applications": sum(len(e.applied) for _, e in extras),
        "unknown_jobs": sorted({ref for _, e in extras for ref in e.unknown_jobs}),
        "left_applications": [[o.key, ref] for o, e in extras for ref in e.left],
        "applied_jobs": sorted({ref for _, e in extras for ref in e.applied}),
    }


class Destination(Protocol):
    """What the sync DAG needs from an ATS adapter."""

    name: str  # short name, the prefix of the ats_id tag: "smartrecruiters"
    kinds: frozenset[str]  # object kinds it can create: {"profile"}
    ledger_key: str  # its rows in the sync ledger

    def default_field_map(self, kind_name: str) -> dict[str, str] | None:
        """Return this ATS's record field -> object path map for ``kind_name`` (None: the kind's own)."""

    def check_field_map(self, field_map: Mapping[str, str]) -> None:
        """Raise BadConfigError naming each field map entry this ATS cannot fill (its custom fields' listing)."""

    def deliver(
        self,
        *,
        plural: str,
        index: int,
        items: list[list[str]],
        records: list[dict[str, Any]],
        ledger: Ledger,
        known: Mapping[str, Entry] | None = None,
        store: Any = None,
        lanes: int = 1,
    ) -> Delivered:
        """
        Send one batch once; return what was accepted, refused, already accepted earlier, and the ATS's ids.

        ``known``: the ledger's entries of the batch's keys, read once by the caller (None: read here).
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


class AtsAuthError(AuthError):
    """Raise when the ATS refused the credentials (401/403): the run fails at once, naming the connection."""

    def __init__(self, message: str, status: int = 401, reason: str = "credentials refused") -> None:
        super().__init__(message, status, reason)


def nest(record: Mapping[str, Any]) -> dict[str, Any]:
    """
    Return the request body of a flat record: dotted names build nested objects, empty values are left out.

    ``{"firstName": "Zoë", "location.city": "Paris", "location.country": None}`` ->
    ``{"firstName": "Zoë", "location": {"city": "Paris"}}``. The ``hrflow_key`` field is not sent, nor the CV,
    the applications and the custom fields (:func:`hrflow_airflow.candidate.plain`): each adapter sends those
    its own way.
    """
    body: dict[str, Any] = {}
    for name, value in plain(record).items():
        if name == RECORD_KEY or value is None or value == "" or value == []:
            continue
        *parents, leaf = name.split(".")
        node = body
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise MappingError(f"record field '{name}' nests under a field that already holds a value")
        node[leaf] = value
    return body
