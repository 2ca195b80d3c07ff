from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from hrflow_airflow.errors import fails_fast
from hrflow_airflow.events import sms
from hrflow_airflow.events.sms import (
    DEFAULT_TEMPLATE,
    EventError,
    RunParts,
    parse_event,
    render_sms,
    sms_idempotency_key,
    text_profile,
    validate_template,
)

KEY, SOURCE = "p" * 40, "s" * 40


@pytest.mark.parametrize(
    "event_type",
    ["profile.parsing.success", "profile.storing.success", "profile.searching.success", "profile.indexing.success"],
)
def test_parse_event(event_type):
    assert parse_event({"type": event_type, "profile": {"key": KEY, "source": {"key": SOURCE}}}) == (SOURCE, KEY)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (None, "must be a JSON object"),
        ({"type": "job.train.success"}, "event type must be one of"),
        ({"type": "profile.indexing.success"}, "no 'profile' object"),
        (
            {"type": "profile.indexing.success", "profile": {"source": {"key": SOURCE}}},
            r"no profile key \('profile.key'\)",
        ),
        ({"type": "profile.indexing.success", "profile": {"key": " ", "source": {"key": SOURCE}}}, "no profile key"),
        (
            {"type": "profile.indexing.success", "profile": {"key": KEY}},
            r"no source key \('profile.source.key' or 'profile.source_key'\)",
        ),
        ({"type": "profile.indexing.success", "profile": {"key": KEY, "source": "x"}}, "no source key"),
    ],
)
def test_parse_event_names_what_is_missing(event, message):
    with pytest.raises(EventError, match=message):
        parse_event(event)


def test_default_text():
    fields = {
        "first_name": "Zoë",
        "last_name": "O'Brien",
        "phone": "+33600000000",
        "email": "z@x.io",
        "profile_key": KEY,
    }
    assert render_sms(DEFAULT_TEMPLATE, fields) == "Zoë O'Brien just applied ! Send a message to +33600000000."


def test_custom_template_placeholders_and_missing_values():
    assert render_sms("{profile_key}: {email} / {last_name}", {"profile_key": "k", "email": None}) == "k:  / "


@pytest.mark.parametrize(("template", "message"), [("Hi {name}", "unknown placeholder {name}"), ("Hi {", "malformed")])
def test_bad_template(template, message):
    with pytest.raises(ValueError, match=message):
        validate_template(template)


def test_a_bad_event_or_template_fails_the_task_through_fails_fast_alone(monkeypatch):
    """The task's parts raise the package's errors; ``@fails_fast`` alone turns them into AirflowFailException."""
    event = {"type": "profile.indexing.success"}
    with pytest.raises(EventError, match="no 'profile' object"):
        text_profile("run", event, {}, RunParts())
    with pytest.raises(AirflowFailException, match=r"^Bad event: event has no 'profile' object$"):
        fails_fast(text_profile)("run", event, {}, RunParts())
    monkeypatch.setattr(sms.Variable, "get", staticmethod(lambda key, default=None: "Hi {name}"))
    with pytest.raises(
        AirflowFailException,
        match=r"^Bad configuration: SMS template \(Variable 'hrflow_sms_template'\) uses unknown placeholder \{name\}",
    ):
        fails_fast(lambda: RunParts().template)()


def test_idempotency_key_is_stable_per_run():
    assert sms_idempotency_key("d", "r1") == sms_idempotency_key("d", "r1") != sms_idempotency_key("d", "r2")
