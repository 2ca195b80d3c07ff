from __future__ import annotations

import pytest

from hrflow_airflow.events.sms import (
    DEFAULT_TEMPLATE,
    EventError,
    parse_event,
    render_sms,
    sms_idempotency_key,
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


def test_idempotency_key_is_stable_per_run():
    assert sms_idempotency_key("d", "r1") == sms_idempotency_key("d", "r1") != sms_idempotency_key("d", "r2")
