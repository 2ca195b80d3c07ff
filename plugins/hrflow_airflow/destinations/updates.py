"""
Updates for the per-object engine: each changed candidate's record updated in place (and its records on other
jobs), then its CV and applications completed as a create's would be (:mod:`.whole_delivery`). A CV or an
applications list the update record leaves out (``[hrflow] update_fields``) is not governed by it: nothing of it
is sent, and a part awaiting a retry is held (:func:`~.completion.hold_ungoverned`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from hrflow_airflow.candidate import RESUME
from hrflow_airflow.destinations.base import AtsAuthError, Delivered, Outcome, delivered
from hrflow_airflow.destinations.completion import Pending, hold_ungoverned, screen_cv
from hrflow_airflow.destinations.removal import job_records
from hrflow_airflow.destinations.whole_delivery import WholeDelivery
from hrflow_airflow.errors import RefusedError
from hrflow_airflow.ledger import Ledger
from hrflow_airflow.settings import setting

if TYPE_CHECKING:
    from hrflow_airflow.destinations.candidate_api import CandidateApiHook
    from hrflow_airflow.ledger import Part

log = logging.getLogger(__name__)


class Updates(WholeDelivery):
    """The update half of :class:`~.per_object.PerObjectDestination` (``client``, ``ledger_key``)."""

    client: CandidateApiHook

    # -- updates ----------------------------------------------------------------------------------
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
        """Update each changed candidate of one batch, the client's concurrency at a time; return the result."""
        api = self.client.paced(lanes)
        ledger = Ledger() if self.whole(api) else None
        parts = ledger.parts.of(self.ledger_key, [key for key, _ in items]) if ledger else {}
        stop, settle = threading.Event(), timedelta(seconds=setting("lookup_settle_seconds"))

        def one(item: list[str], record: dict[str, Any]) -> Outcome:
            own = parts.get(item[0], {})
            return self.update_one(api, ledger, item, record, remote_ids.get(item[0]), own, stop, settle)

        workers = max(1, min(api.max_concurrency, len(items) or 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{api.name}-update") as pool:
            outcomes = list(pool.map(one, items, records))
        states = Counter(outcome.state for outcome in outcomes)
        log.info(
            "Batch %s: %s updated %s %s, refused %s; %s request(s) refused for rate (429)",
            index,
            api.name,
            states["updated"],
            plural,
            states["refused"],
            api.limiter.throttled,
        )
        return delivered(outcomes)

    def update_one(
        self,
        api: CandidateApiHook,
        ledger: Ledger | None,
        item: list[str],
        record: dict[str, Any],
        remote: str | None,
        own: Mapping[str, Part],
        stop: threading.Event,
        settle: timedelta,
    ) -> Outcome:
        """Update one candidate's record(s) in ``remote``, then complete its CV and jobs when ``ledger`` is given."""
        key, container = item
        if not remote or not remote.startswith(f"{api.name}:"):
            reason = f"no {api.name} candidate id is known for it (ledger, ats_id tag): cannot update"
            return Outcome(key, container, "refused", reason=reason)
        sent = self.for_update(api, record, own)  # an unchanged CV is not sent again
        why = None
        if api.cv_route == "body" and sent.get(RESUME):  # the ATS fetches the URL itself: checked first
            sent, why = screen_cv(sent, api.timeout)
        try:
            for target in (remote, *(job_records(own, remote) if api.one_record_per_job else ())):
                api.update(target, sent)
        except AtsAuthError:
            raise
        except RefusedError as exc:  # e.g. 404: deleted in the ATS; 400: a value it refuses
            log.error("%s: %s refused the update: HTTP %s: %s", key, api.name, exc.status, exc.reason)
            return Outcome(key, container, "refused", reason=f"{api.name} HTTP {exc.status}: {exc.reason}")
        outcome = Outcome(key, container, "updated", remote)
        if ledger is None:
            return outcome
        hold_ungoverned(ledger, self.ledger_key, key, record, own)  # a field update_fields leaves out: not retried
        in_body = api.cv_route == "body" and bool(sent.get(RESUME))
        pending = Pending(None, False, settle)
        done = self.complete(
            api, ledger, outcome, sent if why else record, own, stop, cv_in_body=in_body, pending=pending
        )
        return self.isolated(api, ledger, done, record.get(RESUME), why)
