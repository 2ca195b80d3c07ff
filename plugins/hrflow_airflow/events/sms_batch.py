"""
An SMS run that carries a burst's profiles: each texted once, one's failure holding up none of the others.

The webhook's drain (:mod:`.inbox`) starts one ``hrflow_profile_sms`` run for the new profiles of a few seconds,
its conf listing them under ``batch`` (each profile's own run id and event: keys only). The task texts each as
its own run would have: under the idempotency key of the profile's run id, in the task state store, so a retry of
the run sends none of the SMS already sent, and a lost answer is never sent again. A run of one profile has no
``batch``, and a run triggered by hand is one profile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from hrflow_airflow.errors import for_task
from hrflow_airflow.events.inbox import members_of

log = logging.getLogger(__name__)

Text = Callable[[str, Mapping[str, Any]], dict[str, Any]]


def run_members(context: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """Return the profiles this run texts: each one's run id and event (the run itself when it has no batch)."""
    conf = getattr(context.get("dag_run"), "conf", None) or {}
    if conf.get("batch"):
        return members_of(context["run_id"], conf)
    return [(context["run_id"], context["params"])]


def text_each(members: list[tuple[str, Mapping[str, Any]]], text: Text) -> dict[str, Any]:
    """
    Text each member (``text``: one profile's SMS, raising as its own run would); return the counts. Then raise
    if any failed: a retryable error first (the retry sends only what was not sent), else the first failure.
    """
    counts = {"profiles": len(members), "sent": 0, "skipped": 0, "digested": 0, "failed": 0}
    failures: list[BaseException] = []
    for member_id, event in members:
        try:
            result = text(member_id, event)
        except AirflowSkipException:  # no phone number
            counts["skipped"] += 1
            continue
        except Exception as exc:  # the others are still texted; the run fails after them
            counts["failed"] += 1
            failures.append(exc)
            log.warning("SMS of run %s not sent: %s", member_id, type(exc).__name__)
            continue
        counts["sent" if result.get("sent") else "digested"] += 1
    log.info("SMS run of %s profiles: %s", len(members), counts)
    if failures:
        raise first_to_raise(failures)
    if counts["skipped"] == len(members):
        raise AirflowSkipException(f"None of the {len(members)} profiles has a phone number: no SMS sent")
    return counts


def first_to_raise(failures: list[BaseException]) -> BaseException:
    """Return the failure the run raises: one a task retry can help with, else the first (failing the run)."""
    for exc in failures:
        if not isinstance(for_task(exc), AirflowFailException) and not isinstance(exc, AirflowFailException):
            return exc
    return failures[0]
