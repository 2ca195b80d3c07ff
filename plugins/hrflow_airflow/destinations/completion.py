"""
The whole candidate, once: after a candidate's record is created (or updated), send its CV and its applications
unless the ledger's parts say they went already (:mod:`hrflow_airflow.ledger.parts`).

* **The CV** goes once per file: the ledger keeps the fingerprint sent (``alt@updated_at``); an unchanged one is
  never sent again, a replaced one is sent with the next update. Before a CV call the intent is recorded; after
  a lost answer the candidate's files are listed and the upload is adopted only if a file with our name (unique
  to the object and the file, :func:`~.whole.cv_file_name`) is there; else it is *unknown*, looked up again by
  later runs and sent again once ``[hrflow] lookup_settle_seconds`` have passed. A CV that cannot be fetched,
  or is over ``[hrflow] max_cv_mb``, is *isolated* for its candidate with its reason: the candidate stays
  created, and a later run sends the CV (``Parts.to_retry``).
* **The applications**: one per job the profile applied to (``applications`` of the record), the same way; a job
  the ATS does not know is counted (``unknown_jobs``), and the candidate stays. An application whose tag was
  removed in HrFlow stays in the ATS (the recruiter decides) and is reported once (``left``). Where the adapter
  declares ``one_record_per_job`` (SmartRecruiters, Workable, Lever), each job is a record of its own instead
  (:mod:`.whole_delivery`).
* **Fields an update leaves out.** ``[hrflow] update_fields`` governs the CV and the applications like any field:
  an update record without ``resume`` or ``applications`` does not govern them. Nothing of them is sent, an
  absent list is no removed tag, and a part awaiting a retry is *held* (:func:`hold_ungoverned`): no later run
  reads the profile again for it; an update that governs the field again sends it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from hrflow_airflow.candidate import APPLICATIONS, RESUME
from hrflow_airflow.dates import read_datetime
from hrflow_airflow.destinations.base import AtsAuthError
from hrflow_airflow.destinations.whole import cv_file_name
from hrflow_airflow.errors import AnswerUnknownError, RefusedError
from hrflow_airflow.hooks.cv_screen import CvScreen
from hrflow_airflow.hooks.files import ONE_AT_A_TIME, CvError, CvStream
from hrflow_airflow.ledger.db import now
from hrflow_airflow.ledger.parts import (
    CV,
    HELD,
    ISOLATED,
    LEFT,
    PART_INTENT,
    PART_UNKNOWN,
    RETRY,
    SENT,
    UNKNOWN_JOB,
    job_part,
)
from hrflow_airflow.settings import setting

if TYPE_CHECKING:
    from hrflow_airflow.destinations.candidate_api import CandidateApiHook
    from hrflow_airflow.ledger import Ledger, Part

log = logging.getLogger(__name__)


class Pending(NamedTuple):
    """What the ledger says of an object before its create: an earlier create may have made it, since when."""

    since: datetime | None  # the first send of the earlier create (None: none, or not recorded)
    maybe_created: bool
    settle: timedelta  # [hrflow] lookup_settle_seconds


@dataclass
class Extras:
    """What went with one candidate in this run beyond its record."""

    cv: str | None = None  # "sent", "unknown", "isolated: <reason>"; None: nothing to send (or sent before)
    applied: list[str] = field(default_factory=list)  # job references applied to in this run
    unknown_jobs: list[str] = field(default_factory=list)  # references of jobs the ATS does not know
    left: list[str] = field(default_factory=list)  # references whose tag was removed in HrFlow: left in the ATS


def cv_pending(record: Mapping[str, Any], parts: Mapping[str, Part]) -> bool:
    """Return True when the record's CV has not gone to the destination yet (a new or a replaced file)."""
    resume = record.get(RESUME)
    prior = parts.get(CV)
    sent = prior is not None and prior.state == SENT and prior.fingerprint == resume["fingerprint"] if resume else True
    return not sent


def screen_cv(record: dict[str, Any], timeout: float = 30.0) -> tuple[dict[str, Any], str | None]:
    """
    Check that the record's CV can be fetched and is within ``[hrflow] max_cv_mb`` (one GET whose body is not
    read), for an ATS that fetches the URL itself; return the record (without its CV when it cannot go) and why.
    """
    resume = record.get(RESUME)
    why = cv_screen(timeout).reasons([resume["url"]])[resume["url"]] if resume else None
    return (record, None) if why is None else (without_cv(record), why)


def cv_screen(timeout: float = 30.0) -> CvScreen:
    """Return a screen for CVs an ATS fetches itself, at the cap ``[hrflow] max_cv_mb``."""
    return CvScreen(max_bytes=int(setting("max_cv_mb") * 1_000_000), timeout=timeout)


def without_cv(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return the record without its CV."""
    return {name: value for name, value in record.items() if name != RESUME}


def hold_ungoverned(
    ledger: Ledger, ledger_key: str, key: str, record: Mapping[str, Any], parts: Mapping[str, Part]
) -> None:
    """
    Hold the parts awaiting a retry whose field the update record leaves out (``[hrflow] update_fields``): not
    governed by this update, they are neither sent nor read again by later runs (``Parts.to_retry``).
    """
    for part, prior in parts.items():
        field = RESUME if part == CV else APPLICATIONS if part.startswith("job:") else None
        if field is not None and field not in record and prior.state in RETRY:
            reason = f"[hrflow] update_fields leaves '{field}' out of updates"
            ledger.parts.record(ledger_key, key, part, HELD, reason=reason)


def settled(part: Part, settle: timedelta) -> bool:
    """Return True when a part sent without answer was sent ``settle`` ago or more (a lookup is trusted now)."""
    since = read_datetime(part.sent_at)
    return since is None or datetime.now(timezone.utc) - since >= settle


class Completion:
    """Send one candidate's CV and applications through ``api``, recording each part in ``ledger``."""

    def __init__(self, api: CandidateApiHook, ledger: Ledger, ledger_key: str) -> None:
        self.api, self.ledger, self.ledger_key = api, ledger, ledger_key
        self.settle = timedelta(seconds=setting("lookup_settle_seconds"))
        self.max_bytes = int(setting("max_cv_mb") * 1_000_000)

    def complete(
        self, key: str, remote: str, record: Mapping[str, Any], parts: Mapping[str, Part], *, cv_in_body: bool
    ) -> Extras:
        """Send what the record holds and ``parts`` lack; ``cv_in_body``: the create or update carried the CV's URL."""
        extras = Extras()
        remote_id = remote.split(":", 1)[1]
        resume = record.get(RESUME)
        if resume and self.api.cv_route and cv_pending(record, parts):
            if cv_in_body:
                self.parts(key, CV, SENT, fingerprint=resume["fingerprint"])
                extras.cv = "sent"
            elif self.api.cv_route != "body":
                extras.cv = self.send_cv(key, remote_id, resume, parts.get(CV))
        if self.api.applies and not self.api.one_record_per_job and APPLICATIONS in record:  # absent: not governed
            self.apply_all(key, remote_id, record.get(APPLICATIONS) or [], parts, extras)
        return extras

    def parts(self, key: str, part: str, state: str, **values: Any) -> None:
        self.ledger.parts.record(self.ledger_key, key, part, state, **values)

    # -- the CV ---------------------------------------------------------------------------------
    def send_cv(self, key: str, remote_id: str, resume: Mapping[str, Any], prior: Part | None) -> str:
        """Send the CV once (or adopt the upload a lost answer left); return what became of it."""
        name, fingerprint = cv_file_name(key, resume), resume["fingerprint"]
        if prior is not None and prior.state in (PART_INTENT, PART_UNKNOWN, HELD) and prior.fingerprint == fingerprint:
            if (outcome := self.find_cv(key, remote_id, name, fingerprint, prior)) is not None:
                return outcome
        self.parts(key, CV, PART_INTENT, fingerprint=fingerprint, sent_at=now())
        try:
            answer = self.cv_call(key, remote_id, resume, name)
        except AtsAuthError:
            raise
        except CvError as exc:
            return self.isolate(key, fingerprint, exc.reason)
        except RefusedError as exc:
            return self.isolate(key, fingerprint, f"{self.api.name} refused the file: HTTP {exc.status}: {exc.reason}")
        except AnswerUnknownError:
            return self.find_cv(key, remote_id, name, fingerprint, None) or "unknown"
        self.parts(key, CV, SENT, fingerprint=fingerprint, remote_id=self.api.cv_id(answer))
        return "sent"

    def cv_call(self, key: str, remote_id: str, resume: Mapping[str, Any], name: str) -> Any:
        """Make the CV call of the adapter's route; return its JSON answer (or None)."""
        stream = CvStream(resume["url"], max_bytes=self.max_bytes, timeout=self.api.timeout)
        stream.check()  # unreachable, refused or over the cap: isolated before anything reaches the ATS
        if self.api.cv_route == "url":  # the ATS fetches it: checked the same, never read here
            method, path, payload = self.api.cv_request(remote_id, resume, name)
            response = self.api.request(method, path, json=payload, safe_to_repeat=False)
        else:
            with ONE_AT_A_TIME:  # one CV in flight per task process: memory stays bounded
                return self.api.cv_send(remote_id, resume, name, stream)
        return response.json() if response.content else None

    def find_cv(self, key: str, remote_id: str, name: str, fingerprint: str, prior: Part | None) -> str | None:
        """After a lost answer: adopt our file if the list has it; else record *unknown* (None: send it again)."""
        try:
            files = self.api.file_names(self.api.request("GET", self.api.files_request(remote_id)).json())
        except (RefusedError, AnswerUnknownError) as exc:
            if isinstance(exc, AtsAuthError):
                raise
            files = None
        if files and name in files:
            self.parts(key, CV, SENT, fingerprint=fingerprint, remote_id=files[name])
            log.info("%s: the CV upload whose answer was lost is in %s: adopted", key, self.api.name)
            return "sent"
        if prior is not None and files is not None and settled(prior, self.settle):
            return None  # looked up long enough after the send: not there, send it again
        self.parts(key, CV, PART_UNKNOWN, fingerprint=fingerprint, reason="the CV upload got no answer")
        log.warning("%s: the CV upload to %s got no answer and is not listed yet: outcome unknown", key, self.api.name)
        return "unknown"

    def isolate(self, key: str, fingerprint: str, reason: str) -> str:
        self.parts(key, CV, ISOLATED, fingerprint=fingerprint, reason=reason)
        log.warning("%s: CV isolated (the candidate stays; a later run sends it): %s", key, reason)
        return f"isolated: {reason}"

    # -- applications ---------------------------------------------------------------------------
    def apply_all(
        self, key: str, remote_id: str, applications: list[Mapping[str, str]], parts: Mapping[str, Part], extras: Extras
    ) -> None:
        """Apply the candidate to each job it applied to in HrFlow and not yet in the ATS; note the tags removed."""
        for application in applications:
            part = job_part(application["ats_job_id"])
            prior = parts.get(part)
            if prior is not None and prior.state in (SENT, UNKNOWN_JOB, LEFT):
                continue
            self.apply_once(key, remote_id, application, prior, extras)
        self.note_left(key, applications, parts, extras)

    def note_left(
        self, key: str, applications: list[Mapping[str, str]], parts: Mapping[str, Part], extras: Extras
    ) -> None:
        """Note once each job sent earlier whose application tag is gone from HrFlow: it stays in the ATS."""
        wanted = {job_part(a["ats_job_id"]) for a in applications}
        for part, prior in parts.items():
            if part.startswith("job:") and part not in wanted and prior.state == SENT:
                self.parts(key, part, LEFT)
                extras.left.append(part[4:])

    def apply_once(
        self, key: str, remote_id: str, application: Mapping[str, str], prior: Part | None, extras: Extras
    ) -> None:
        job, reference = application["ats_job_id"], application["job_reference"]
        part = job_part(job)
        if prior is not None and prior.state in (PART_INTENT, PART_UNKNOWN, HELD):  # it may have gone: look it up
            if self.find_application(key, remote_id, job, prior, extras):
                return
        self.parts(key, part, PART_INTENT, sent_at=now())
        method, path, payload = self.api.apply_request(remote_id, job)
        try:
            response = self.api.request(method, path, safe_to_repeat=False, **({"json": payload} if payload else {}))
        except AtsAuthError:
            raise
        except RefusedError as exc:
            if self.api.unknown_job(exc):
                self.parts(key, part, UNKNOWN_JOB, reason=f"HTTP {exc.status}: {exc.reason}")
                extras.unknown_jobs.append(reference)
                log.warning("%s: %s does not know job %s: the candidate stays without it", key, self.api.name, job)
            else:
                self.parts(key, part, ISOLATED, reason=f"{self.api.name} HTTP {exc.status}: {exc.reason}")
                log.error("%s: %s refused the application to job %s: HTTP %s", key, self.api.name, job, exc.status)
            return
        except AnswerUnknownError:
            self.find_application(key, remote_id, job, None, extras)
            return
        self.parts(key, part, SENT, remote_id=self.api.applied_id(response.json() if response.content else None))
        extras.applied.append(reference)

    def find_application(self, key: str, remote_id: str, job: str, prior: Part | None, extras: Extras) -> bool:
        """After a lost answer: adopt the application if listed; else record *unknown*. Return False: apply again."""
        try:
            jobs = self.api.applied_jobs(self.api.request("GET", self.api.applications_request(remote_id)).json())
        except (RefusedError, AnswerUnknownError) as exc:
            if isinstance(exc, AtsAuthError):
                raise
            jobs = None
        if jobs is not None and job in jobs:
            self.parts(key, job_part(job), SENT, remote_id=jobs[job])
            extras.applied.append(job)
            return True
        if prior is not None and jobs is not None and settled(prior, self.settle):
            return False
        self.parts(key, job_part(job), PART_UNKNOWN, reason="the application got no answer")
        return True


class CarriedInRecord:
    """
    The whole candidate where the record carries it (the JSON endpoint: ``resume`` and ``applications`` are in
    the record itself): each CV is screened before it is sent (a receiver fetches the URL itself) and the ledger's
    parts note what went, so an isolated CV is sent by a later run and counts say what this batch carried.
    """

    def __init__(self, ledger: Ledger, ledger_key: str) -> None:
        self.ledger, self.ledger_key = ledger, ledger_key

    def screen(
        self, group: list[tuple[Any, dict[str, Any]]]
    ) -> tuple[list[tuple[Any, dict[str, Any]]], dict[str, str]]:
        """Return ``(item, record)`` pairs, a record whose new CV cannot go without it, and ``{key: why}``."""
        wanted = [item[0] for item, record in group if record.get(RESUME)]
        parts = self.ledger.parts.of(self.ledger_key, wanted) if wanted else {}
        pending = {
            item[0]: record[RESUME]["url"]
            for item, record in group
            if record.get(RESUME) and cv_pending(record, parts.get(item[0], {}))
        }
        reasons = cv_screen().reasons(pending.values())  # checked a few at once, each URL once
        screened, isolated = [], {}
        for item, record in group:
            if item[0] in pending and (why := reasons[pending[item[0]]]) is not None:
                record, isolated[item[0]] = without_cv(record), why
                self.ledger.parts.record(self.ledger_key, item[0], CV, ISOLATED, reason=why)
            screened.append((item, record))
        return screened, isolated

    def note(self, records: list[Mapping[str, Any]], isolated: Mapping[str, str], items: list[Any]) -> dict[str, Any]:
        """Note in the ledger what the accepted ``records`` carried; return the batch's counts for the summary."""
        keys = [str(record["hrflow_key"]) for record in records]
        parts = self.ledger.parts.of(self.ledger_key, keys) if keys else {}
        cvs = applications = 0
        jobs: set[str] = set()
        sent: list[dict[str, Any]] = []  # noted in one statement per kind, not one per part
        for key, record in zip(keys, records):
            own = parts.get(key, {})
            if key not in isolated:  # without its CV because the screen left it out: isolated, not held
                hold_ungoverned(self.ledger, self.ledger_key, key, record, own)  # a field the update leaves out
            if (resume := record.get(RESUME)) and cv_pending(record, own):
                sent.append({"object_key": key, "part": CV, "state": SENT, "fingerprint": resume["fingerprint"]})
                cvs += 1
            for application in record.get(APPLICATIONS) or []:
                if (part := job_part(application["ats_job_id"])) not in own:
                    sent.append({"object_key": key, "part": part, "state": SENT})
                    applications += 1
                    jobs.add(application["job_reference"])
        self.ledger.parts.record_many(self.ledger_key, sent)
        container = {item[0]: item[1] for item in items}
        return {
            "cvs": cvs,
            "applications": applications,
            "applied_jobs": sorted(jobs),
            "cv_isolated": [{"key": k, "container": container.get(k), "reason": why} for k, why in isolated.items()],
        }
