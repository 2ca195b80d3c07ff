"""
Removal for the per-object engine: archive or delete each object's record once, only records our own create made
(a linked one is left in place), and the records the ATS made per job with it (:mod:`hrflow_airflow.ledger.parts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from hrflow_airflow.destinations.base import AtsAuthError, Failure, Removed
from hrflow_airflow.errors import RefusedError
from hrflow_airflow.ledger.parts import LEFT, SENT

if TYPE_CHECKING:
    from hrflow_airflow.destinations.candidate_api import CandidateApiHook
    from hrflow_airflow.ledger import Ledger, Part


def job_records(parts: Mapping[str, Part], remote: str) -> list[str]:
    """Return the ids of an object's own records on its other jobs (one record per job), besides ``remote``."""
    ours = (SENT, LEFT)  # a job whose tag was removed keeps its record: still ours to update, remove and erase
    found = {p.remote_id for name, p in parts.items() if name.startswith("job:") and p.state in ours and p.remote_id}
    return sorted(found - {remote})


class Removal:
    """The removal half of :class:`~.per_object.PerObjectDestination` (``client``, ``ledger_key``)."""

    client: CandidateApiHook
    ledger_key: str

    # -- removals ---------------------------------------------------------------------------------
    def remove(
        self,
        *,
        plural: str,
        items: list[list[str]],
        remote_ids: Mapping[str, str],
        mode: str,
        ledger: Ledger,
        lanes: int = 1,
    ) -> Removed:
        """
        Archive or delete (``mode``) each object's record once, the client's concurrency at a time. Ids come from
        the ledger, never from ``remote_ids`` (an ``ats_id`` tag anyone can edit), and only records our own create
        made are touched: a linked one is left in place, reported as not ours.
        """
        api = self.client.paced(lanes)
        result = Removed(removed=[], unsupported=[], failed=[], not_ours=[])
        known = ledger.deliveries.lookup(self.ledger_key, [key for key, _ in items])
        parts = ledger.parts.of(self.ledger_key, [key for key, _ in items]) if api.one_record_per_job else {}

        def one(item: list[str]) -> None:
            key, container = item
            entry = known.get(key)
            remote = (entry.remote_id if entry else None) or ""
            if entry is not None and remote and not entry.ours:
                why = (
                    f"{api.name} record {remote} is {entry.origin or 'not ours'}, not made by this sync: left in place"
                )
                result["not_ours"].append(Failure(key=key, container=container, reason=why))
                return
            if not remote.startswith(f"{api.name}:"):
                result["failed"].append(Failure(key=key, container=container, reason=f"no {api.name} id is known"))
                return
            try:
                how = api.remove(remote, mode)
                others = job_records(parts.get(key, {}), remote) if api.one_record_per_job else []
                for job_record in others:  # its own records on its other jobs (not applications' ids)
                    api.remove(job_record, mode)
            except AtsAuthError:
                raise
            except RefusedError as exc:
                reason = f"{api.name} HTTP {exc.status}: {exc.reason}"
                result["failed"].append(Failure(key=key, container=container, reason=reason))
                return
            if how.startswith("unsupported: "):
                result["unsupported"].append(Failure(key=key, container=container, reason=how[13:]))
            else:
                result["removed"].append([key, container, mode if how == "removed" else how])

        workers = max(1, min(api.max_concurrency, len(items) or 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{api.name}-remove") as pool:
            list(pool.map(one, items))
        for how in {entry[2] for entry in result["removed"]}:
            keys = [key for key, _, done in result["removed"] if done == how]
            ledger.deliveries.record_removed(self.ledger_key, keys, how)
        return result
