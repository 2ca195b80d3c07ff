"""The ``hrflow_profile_sms`` DAG's parts: the event, the text, its params and its task."""

from __future__ import annotations

import hashlib
import logging
import string
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property, partial
from typing import Any

from airflow.sdk import Param, Variable, task
from airflow.sdk.exceptions import AirflowSkipException

from hrflow_airflow.alerts.metrics import emit_counts
from hrflow_airflow.alerts.monitoring import HrFlowAlertNotifier, deadline_alert, sms_deadline, under_dags_test
from hrflow_airflow.errors import BadConfigError, fails_fast
from hrflow_airflow.events.digest import DIGEST, SEND, Bursts, decide, digest_over, digest_text
from hrflow_airflow.events.sms_batch import run_members, text_each
from hrflow_airflow.hooks.api_key import MessageUnknownError, MessagingHook
from hrflow_airflow.hooks.hrflow_api import HrFlowHook
from hrflow_airflow.hooks.messaging import messaging_hook
from hrflow_airflow.objects import KEY_PATTERN, MAX_KEY_LENGTH, PROFILE
from hrflow_airflow.settings import setting
from hrflow_airflow.sync.dag_args import START_DATE

log = logging.getLogger(__name__)

DAG_ID = "hrflow_profile_sms"
# HrFlow's new-profile events, each sent "for the 1st time" ("Create, Configure a Webhook",
# https://developers.hrflow.ai/docs/connectors-webhook), plus the seed's `profile.indexing.success`.
# `*.update` and `*.error` events are answered "ignored". `[hrflow] webhook_events` (comma-separated) replaces the list.
DEFAULT_EVENTS = (
    "profile.parsing.success",
    "profile.storing.success",
    "profile.searching.success",
    "profile.indexing.success",
)


def handled_events() -> tuple[str, ...]:
    """Return the webhook event types that trigger an SMS: ``[hrflow] webhook_events`` or :data:`DEFAULT_EVENTS`."""
    raw = setting("webhook_events")
    configured = tuple(dict.fromkeys(e.strip() for e in raw.split(",") if e.strip()))
    return configured or DEFAULT_EVENTS


DEFAULT_TEMPLATE = "{first_name} {last_name} just applied ! Send a message to {phone}."
TEMPLATE_VARIABLE = "hrflow_sms_template"
PLACEHOLDERS = ("first_name", "last_name", "phone", "email", "profile_key")


class EventError(BadConfigError):
    """Raise when a webhook event (DAG conf) is not a usable profile event; the message names the field."""

    label = "Bad event"


def parse_event(event: Any, handled: tuple[str, ...] | None = None) -> tuple[str, str]:
    """
    Return ``(source_key, profile_key)`` of a handled profile event, or raise EventError naming what is wrong.

    A real delivery carries the whole profile object; only its key and its source key (``profile.source.key``
    or ``profile.source_key``) are read here.
    """
    handled = handled or handled_events()
    if not isinstance(event, Mapping):
        raise EventError(f"event must be a JSON object, got {type(event).__name__}")
    if event.get("type") not in handled:
        raise EventError(f"event type must be one of {', '.join(handled)}, got {event.get('type')!r}")
    profile = event.get("profile")
    if not isinstance(profile, Mapping):
        raise EventError("event has no 'profile' object")
    key = profile.get("key")
    source = profile.get("source")
    source_key = source.get("key") if isinstance(source, Mapping) else None
    source_key = source_key or profile.get("source_key")
    if not isinstance(key, str) or not key.strip():
        raise EventError("event has no profile key ('profile.key')")
    if not isinstance(source_key, str) or not source_key.strip():
        raise EventError("event has no source key ('profile.source.key' or 'profile.source_key')")
    for name, value in (("profile.key", key), ("profile.source.key", source_key)):
        if not KEY_PATTERN.fullmatch(value.strip()):
            raise EventError(
                f"'{name}' is not an HrFlow key (letters, digits, '-' or '_', at most {MAX_KEY_LENGTH} characters)"
            )
    return source_key.strip(), key.strip()


def event_conf(event: Mapping[str, Any], source_key: str, profile_key: str) -> dict[str, Any]:
    """
    Return the run conf for an event: its type, origin, and the two keys. Nothing else.

    The delivery's profile object (names, emails, phones, resume text) never reaches ``dag_run.conf``,
    which Airflow keeps in its database and shows in the UI; the run fetches the profile itself.
    """
    origin = event.get("origin")
    return {
        "type": event["type"],
        "origin": origin if isinstance(origin, str) else None,
        "profile": {"key": profile_key, "source": {"key": source_key}},
    }


def validate_template(template: str, where: str = "SMS template") -> str:
    """Return ``template`` if it only uses known placeholders, else raise BadConfigError naming ``where`` and why."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise BadConfigError(f"{where} is malformed: {exc}") from None
    for name in fields:
        if name not in PLACEHOLDERS:
            raise BadConfigError(f"{where} uses unknown placeholder {{{name}}}; use {', '.join(PLACEHOLDERS)}")
    return template


def render_sms(template: str, fields: Mapping[str, Any]) -> str:
    """Return the SMS text: placeholders filled from ``fields``; a missing value renders as an empty string."""
    validate_template(template)
    return template.format_map({name: "" if fields.get(name) is None else fields[name] for name in PLACEHOLDERS})


def sms_fields(profile_key: str, profile: Mapping[str, Any]) -> dict[str, Any]:
    """Return the placeholders' values from a stored profile."""
    info = profile.get("info") or {}
    return {
        "profile_key": profile_key,
        **{name: info.get(name) for name in ("first_name", "last_name", "phone", "email")},
    }


def sms_idempotency_key(dag_id: str, run_id: str) -> str:
    """Return the key that makes every try of one DAG run send at most one SMS."""
    return "sms-" + hashlib.sha256(f"{dag_id}/{run_id}".encode()).hexdigest()[:40]


def sms_params() -> dict[str, Param]:
    """Return the params, which are HrFlow's webhook payload fields, for the trigger form and validation."""
    return {
        "type": Param(
            handled_events()[0],
            type="string",
            enum=list(handled_events()),
            title="Event type",
            description="HrFlow webhook event that announced the profile.",
        ),
        "profile": Param(
            type="object",
            title="Profile",
            description='The profile to text about: {"key": "<profile key>", "source": {"key": "<source key>"}}. '
            "Keys only: the run fetches the profile from HrFlow.",
            required=["key", "source"],
            properties={
                "key": {"type": "string", "minLength": 1, "title": "Profile key"},
                "source": {
                    "type": "object",
                    "required": ["key"],
                    "properties": {"key": {"type": "string", "minLength": 1, "title": "Source key"}},
                },
            },
        ),
        "origin": Param("api", type=["null", "string"], title="Origin", description="Event origin, as sent by HrFlow."),
    }


def sms_dag_defaults() -> dict[str, Any]:
    """Return the SMS DAG's arguments: many runs at once, retries, alerts, deadline."""
    return {
        "start_date": START_DATE,
        "catchup": False,
        "is_paused_upon_creation": False,  # runs only when an event arrives
        "max_active_runs": 32,
        # `airflow dags test` builds a failure callback's context from the serialized DAG, whose required
        # `profile` param has no default there, and crashes before any callback runs: attach none under it
        "on_failure_callback": [] if under_dags_test() else [HrFlowAlertNotifier()],
        # None, not []: DAG.test() runs a success callback whenever the DAG has one set, an empty list included
        "on_success_callback": None if under_dags_test() else [HrFlowAlertNotifier(event="recovery")],
        "deadline": deadline_alert(sms_deadline()),
        "default_args": {"retries": 3, "retry_delay": timedelta(seconds=10), "retry_exponential_backoff": True},
    }


@task(show_return_value_in_logs=False, multiple_outputs=False)  # the DAG file sets its pool (hrflow_pool)
@fails_fast
def send_sms(**context: Any) -> dict[str, Any]:
    """
    Fetch the profile the event names and send one SMS, at most once per DAG run; skip a profile without a phone
    number. Unknown profiles and sources fail without retry. One task: the name and phone never leave it (no
    XCom), and a burst of new profiles schedules half the task instances two tasks would.

    A run the webhook started for a burst carries several profiles (``batch``, :mod:`.sms_batch`): each is texted
    once, under its own idempotency key, as its own run would have.
    """
    members, parts = run_members(context), RunParts()
    if len(members) == 1:
        return text_profile(*members[0], context, parts)
    return text_each(members, partial(text_profile, context=context, parts=parts))


class RunParts:
    """What every profile of a run uses, read once per run when first needed: the hooks and the SMS template."""

    @cached_property
    def hrflow(self) -> HrFlowHook:
        return HrFlowHook()

    @cached_property
    def messenger(self) -> Any:
        return messaging_hook(MessagingHook.default_conn_name)  # by the connection's type: endpoint or Twilio

    @cached_property
    def template(self) -> str:
        template = Variable.get(TEMPLATE_VARIABLE, default=DEFAULT_TEMPLATE)
        return validate_template(template, f"SMS template (Variable '{TEMPLATE_VARIABLE}')")  # @fails_fast fails it


def text_profile(member_id: str, params: Mapping[str, Any], context: Any, parts: RunParts) -> dict[str, Any]:
    """Fetch one profile and send its SMS, at most once for ``member_id`` (its run id); see :func:`send_sms`."""
    source_key, key = parse_event(dict(params))  # an EventError: "Bad event: ...", failed by @fails_fast
    fields = sms_fields(key, parts.hrflow.get_object(PROFILE, source_key, key))
    log.info("Fetched profile %s from source %s", key, source_key)
    tags = {"dag_id": context["dag"].dag_id, "source": source_key}
    if not fields.get("phone"):
        emit_counts("sms", {"skipped": 1}, tags)
        raise AirflowSkipException(f"Profile {key} has no phone number: no SMS sent")
    idempotency_key = sms_idempotency_key(context["dag"].dag_id, member_id)
    text = render_sms(parts.template, fields)
    hook, store = parts.messenger, context.get("task_state_store")
    if (over := digest_over()) is not None and not (store is not None and store.get(idempotency_key)):
        window, runs = Bursts().count()  # a try that already sent (or began to) is not counted again
        if (what := decide(runs, over)) != SEND:
            return send_digest(hook, what, over, window, key, tags, context)
    try:
        reference, sent_now = hook.send_sms(text, idempotency_key=idempotency_key, store=store)
    except MessageUnknownError:  # may have been sent: reported by key, never sent twice
        emit_counts("sms", {"unknown": 1}, tags)
        raise
    if sent_now:
        emit_counts("sms", {"sent": 1}, tags)
        log.info("SMS for profile %s sent (%s)", key, reference)
    else:
        log.info("SMS for profile %s was sent in an earlier try (%s)", key, reference)
    return {"profile_key": key, "sent": True}


def send_digest(
    hook: Any, what: str, over: int, window: int, key: str, tags: dict[str, str], context: Any
) -> dict[str, Any]:
    """Send the window's one digest SMS (``digest``) or nothing (``skip``): past ``sms_digest_over`` in 10 min."""
    emit_counts("sms", {"digested": 1}, tags)
    if what == DIGEST:
        from hrflow_airflow.events.outbox import MessageRecords

        digest_key = f"digest-{context['dag'].dag_id}-{window}"
        hook.send_sms(digest_text(over, window), idempotency_key=digest_key, store=MessageRecords("digest"))
        log.info("SMS for profile %s: more than %s in 10 min, the digest was sent instead", key, over)
    else:
        log.info("SMS for profile %s: more than %s in 10 min, covered by the digest", key, over)
    return {"profile_key": key, "sent": False, "digest": what == DIGEST}
