"""
The whole candidate in the per-object engine: after an object's record is created (or found created by an earlier
run), its CV and its applications go once (:class:`~.completion.Completion`); where the vendor makes one record per
job (the adapter declares ``one_record_per_job``: SmartRecruiters and Workable candidates, Lever opportunities), the
first job rides on the create and each other job is its own record, created exactly once like any object: it has its
own ledger row (key ``<key>~<job tag>``, never tagged in HrFlow) and its own marker, and the ledger's part
``job:<id>`` points the object to it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hrflow_airflow.candidate import APPLICATIONS, RESUME, custom_name, unknown_custom_fields
from hrflow_airflow.dates import read_datetime
from hrflow_airflow.destinations.base import AtsAuthError, Outcome
from hrflow_airflow.destinations.completion import Completion, Extras, Pending, cv_pending, screen_cv
from hrflow_airflow.errors import BadConfigError, RefusedError
from hrflow_airflow.ledger import DELIVERED, INTENT, UNKNOWN
from hrflow_airflow.ledger.parts import SENT, SUB, UNKNOWN_JOB, job_part
from hrflow_airflow.mapping import RECORD_KEY

if TYPE_CHECKING:
    from hrflow_airflow.destinations.candidate_api import CandidateApiHook
    from hrflow_airflow.ledger import Ledger, Part

UNKNOWN_JOB_REASON = "the ATS does not know the job"
ACCEPTED_STATES = ("created", "adopted", "linked", "resumed", "updated")


def sub_key(key: str, ats_job_id: str) -> str:
    """Return the ledger key of object ``key``'s own record on job ``ats_job_id``."""
    return f"{key}{SUB}{hashlib.sha256(ats_job_id.encode()).hexdigest()[:16]}"


class WholeDelivery:
    """What :class:`~.per_object.PerObjectDestination` does for the CV and the jobs."""

    ledger_key: str

    def check_field_map(self, field_map: Mapping[str, str]) -> None:
        """
        Raise BadConfigError naming each ``custom:<name>`` entry of ``field_map`` this ATS does not define (its
        custom-field listing, read once at the start of a run, before anything is sent).
        """
        client: CandidateApiHook = self.client  # type: ignore[attr-defined]
        if not any(custom_name(field) is not None for field in field_map):
            return
        if not client.custom_fields:
            raise BadConfigError(
                f"the field map fills custom fields ({', '.join(f for f in field_map if custom_name(f))}), "
                f"but the {client.name} adapter (connection '{client.ats_conn_id}') has none to fill"
            )
        known = client.custom_field_names(client.request("GET", client.custom_fields_request()).json())
        if errors := unknown_custom_fields(field_map, known, f"{client.name} (connection '{client.ats_conn_id}')"):
            raise BadConfigError("; ".join(errors))

    def whole(self, api: CandidateApiHook) -> bool:
        """Return True when this destination takes more than the record (a CV, jobs)."""
        return bool(api.cv_route or api.applies or api.one_record_per_job)

    def incomplete(self, api: CandidateApiHook, record: Mapping[str, Any], parts: Mapping[str, Part]) -> bool:
        """Return True when a record created earlier still lacks its CV or one of its jobs in the ATS."""
        if api.cv_route and api.cv_route != "body" and cv_pending(record, parts):
            return True
        if not (api.applies or api.one_record_per_job):
            return False
        return any(job_part(a["ats_job_id"]) not in parts for a in record.get(APPLICATIONS) or [])

    def for_update(self, api: CandidateApiHook, record: dict[str, Any], parts: Mapping[str, Part]) -> dict[str, Any]:
        """Return what an update sends: the record, without its CV when that file went already."""
        if record.get(RESUME) and not cv_pending(record, parts):
            return {name: value for name, value in record.items() if name != RESUME}
        return record

    def create_on_job(self, api: CandidateApiHook, ledger: Ledger, key: str, record: dict[str, Any], call: Any) -> str:
        """Create the record (on its first job, where the vendor makes one per job); a job it does not know: without."""
        try:
            return api.create(record, call)
        except RefusedError as exc:
            job = api.job_of(record)
            if isinstance(exc, AtsAuthError) or not job or not api.unknown_job(exc):
                raise
            if SUB in key:  # another job's own record: nothing to make without its job
                raise RefusedError(f"{api.name}: {UNKNOWN_JOB_REASON}", exc.status, UNKNOWN_JOB_REASON) from None
            ledger.parts.record(self.ledger_key, key, job_part(job), UNKNOWN_JOB, reason=f"HTTP {exc.status}")
        return api.create(record, api.create_call(record, on_job=False))

    def create_whole(
        self,
        api: CandidateApiHook,
        ledger: Ledger,
        item: tuple[str, str],
        record: dict[str, Any],
        pending: Pending,
        stop: threading.Event,
        parts: Mapping[str, Part],
        done: Outcome | None = None,
    ) -> Outcome | None:
        """Create one object at most once (``done``: created earlier), then send what goes with it once."""
        isolated, resume = None, record.get(RESUME)
        if done is None and api.cv_route == "body" and cv_pending(record, parts):  # the ATS fetches the URL itself
            record, isolated = screen_cv(record, api.timeout)
        outcome = done or self.create_once(api, ledger, item, record, pending, stop)  # type: ignore[attr-defined]
        if outcome is None or outcome.state not in ACCEPTED_STATES or not outcome.remote_id or not self.whole(api):
            return outcome
        cv_in_body = outcome.state in ("created", "adopted") and api.cv_route == "body"
        completed = self.complete(api, ledger, outcome, record, parts, stop, cv_in_body=cv_in_body, pending=pending)
        return self.isolated(api, ledger, completed, resume, isolated)

    def isolated(
        self, api: CandidateApiHook, ledger: Ledger, outcome: Outcome, resume: Mapping[str, Any] | None, why: str | None
    ) -> Outcome:
        """Return ``outcome``, noting a CV the screen left out (``why``): isolated, sent by a later run."""
        if why is None or resume is None:
            return outcome
        Completion(api, ledger, self.ledger_key).isolate(outcome.key, resume["fingerprint"], why)
        extras = outcome.extras or Extras()
        extras.cv = f"isolated: {why}"
        return dataclasses.replace(outcome, extras=extras)

    def complete(
        self,
        api: CandidateApiHook,
        ledger: Ledger,
        outcome: Outcome,
        record: Mapping[str, Any],
        parts: Mapping[str, Part],
        stop: threading.Event,
        *,
        cv_in_body: bool,
        pending: Pending,
    ) -> Outcome:
        """Send the CV and the applications of an accepted object; return its outcome with what went (``extras``)."""
        key = outcome.key
        if api.one_record_per_job:
            parts = ledger.parts.of(self.ledger_key, [key]).get(key, {})  # the create may have noted its job
        extras = Completion(api, ledger, self.ledger_key).complete(
            key, str(outcome.remote_id), record, parts, cv_in_body=cv_in_body
        )
        if api.one_record_per_job and APPLICATIONS in record:  # absent (update_fields): not governed, none left
            self.records_per_job(api, ledger, outcome, record, parts, stop, extras, pending)
        return dataclasses.replace(outcome, extras=extras)

    def records_per_job(
        self,
        api: CandidateApiHook,
        ledger: Ledger,
        outcome: Outcome,
        record: Mapping[str, Any],
        parts: Mapping[str, Part],
        stop: threading.Event,
        extras: Extras,
        pending: Pending,
    ) -> None:
        """
        Make each job of the object its own record once (the first rode on the object's create, if made now: a
        job added later gets a record of its own); note the jobs whose tag was removed (their records stay).
        """
        key, container = outcome.key, outcome.container
        applications = record.get(APPLICATIONS) or []
        first = api.job_of(record) if outcome.state in ("created", "adopted") else None
        Completion(api, ledger, self.ledger_key).note_left(key, applications, parts, extras)
        for application in applications:
            job = application["ats_job_id"]
            if job_part(job) in parts and parts[job_part(job)].state in (SENT, UNKNOWN_JOB):
                if parts[job_part(job)].state == UNKNOWN_JOB:
                    extras.unknown_jobs.append(application["job_reference"])
                else:  # made earlier: a new or replaced CV reaches its own record too
                    own = {**record, RECORD_KEY: sub_key(key, job), APPLICATIONS: [application]}
                    self.job_record_cv(api, ledger, own)
                continue
            if job == first:
                if outcome.state != "linked":
                    ledger.parts.record(self.ledger_key, key, job_part(job), SENT, remote_id=outcome.remote_id)
                    extras.applied.append(application["job_reference"])
                continue
            sub = sub_key(key, job)
            own = {**record, RECORD_KEY: sub, APPLICATIONS: [application]}
            entry = ledger.deliveries.lookup(self.ledger_key, [sub]).get(sub)
            if entry is not None and entry.state in DELIVERED:
                made: Outcome | None = Outcome(sub, container, "resumed", entry.remote_id)
            else:
                prior = entry is not None and entry.state in (INTENT, UNKNOWN)
                lost = Pending(read_datetime(entry.sent_at) if prior else None, prior, pending.settle)
                made = self.create_once(api, ledger, (sub, container), own, lost, stop)  # type: ignore[attr-defined]
            self.note_job(ledger, key, application, made, extras)
            if made is not None and made.remote_id and made.state in ACCEPTED_STATES:
                self.job_record_cv(api, ledger, own, made.remote_id)

    def job_record_cv(
        self, api: CandidateApiHook, ledger: Ledger, record: Mapping[str, Any], remote_id: str | None = None
    ) -> None:
        """
        Send the CV of an object's own record on another job (``record``, keyed ``<key>~<job>``) once: a new file
        or a replaced one. ``remote_id`` None: the ledger's, if that record was made (else the job rode on the
        object's own record).
        """
        sub = str(record[RECORD_KEY])
        if api.cv_route == "body" or not record.get(RESUME):  # the ATS fetched it with the record, or none
            return
        if remote_id is None:
            entry = ledger.deliveries.lookup(self.ledger_key, [sub]).get(sub)
            if entry is None or entry.state not in DELIVERED or not entry.remote_id:
                return
            remote_id = entry.remote_id
        own_parts = ledger.parts.of(self.ledger_key, [sub]).get(sub, {})  # that record's own CV
        Completion(api, ledger, self.ledger_key).complete(sub, remote_id, record, own_parts, cv_in_body=False)

    def note_job(
        self, ledger: Ledger, key: str, application: Mapping[str, str], made: Outcome | None, extras: Extras
    ) -> None:
        """Record what became of one job's own record in the object's parts."""
        job, reference = application["ats_job_id"], application["job_reference"]
        if made is None:
            return
        if made.state == "refused" and UNKNOWN_JOB_REASON in (made.reason or ""):
            ledger.parts.record(self.ledger_key, key, job_part(job), UNKNOWN_JOB, reason=UNKNOWN_JOB_REASON)
            extras.unknown_jobs.append(reference)
        elif made.remote_id and made.state in ACCEPTED_STATES:
            ledger.parts.record(self.ledger_key, key, job_part(job), SENT, remote_id=made.remote_id)
            extras.applied.append(reference)
