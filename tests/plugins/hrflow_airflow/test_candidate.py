"""The whole candidate's pure part: which file is the CV, which jobs a profile applied to, what a map may name."""

from __future__ import annotations

import pytest

from hrflow_airflow.candidate import applications, pick_cv, validate_job_map
from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.mapping import validate_field_map
from sandbox.objects import example


def test_the_cv_is_the_original_file_else_hrflows_resume():
    attachments = example()["attachments"]
    cv = pick_cv(attachments)
    assert cv["url"] == "https://documents.example.com/original.pdf" and cv["content_type"] == "application/pdf"
    assert cv["file_name"] == "original.pdf" and cv["size"] == 67406
    assert cv["fingerprint"] == "5957f0484e526e07fd4edac925a99208f9dc3b8e@2021-02-21T02:18:12+0000"
    assert pick_cv([a for a in attachments if a["type"] == "resume"])["url"].endswith("/resume.pdf")
    assert pick_cv([{"type": "original"}]) is None and pick_cv(None) is None  # no URL, no attachments: no CV


def test_a_replaced_file_has_a_new_fingerprint():
    (original,) = [a for a in example()["attachments"] if a["type"] == "original"]
    replaced = {**original, "alt": "f" * 40, "updated_at": "2026-01-01T00:00:00+0000"}
    assert pick_cv([original])["fingerprint"] != pick_cv([replaced])["fingerprint"]


def test_applications_follow_hrflows_tag_convention_and_the_job_map():
    tags = [
        {"name": "application_boardKey_jobReference", "value": "b1_job-2"},
        {"name": "application_boardKey_jobReference", "value": "b1_job_with_underscores"},
        {"name": "application_boardKey_jobReference", "value": "b1_job-2"},  # twice: once
        {"name": "application_boardKey_jobReference", "value": "no-reference"},  # not <board>_<reference>
        {"name": "application_boardKey_jobKey", "value": "b1_abc"},  # the optional key tag: not a reference
        {"name": "sync", "value": "1"},
    ]
    assert applications(tags, {"job-2": "4411"}) == [
        {"board_key": "b1", "job_reference": "job-2", "ats_job_id": "4411"},
        {"board_key": "b1", "job_reference": "job_with_underscores", "ats_job_id": "job_with_underscores"},
    ]
    assert applications(None) == []


@pytest.mark.parametrize(
    ("raw", "named"),
    [(["a"], "JSON object"), ({"job-1": ""}, "job reference 'job-1'"), ({"job-1": True}, "job reference 'job-1'")],
)
def test_a_bad_job_map_is_named(raw, named):
    with pytest.raises(BadConfigError, match=named):
        validate_job_map(raw)


@pytest.mark.parametrize(
    ("field", "named"),
    [("resume", "'resume' is filled by the sync"), ("applications", "'applications'"), ("custom:", "custom:<name>"),
     ("custom:bad/name", "custom:<name>")],
)  # fmt: skip
def test_a_field_map_naming_what_the_sync_fills_or_a_malformed_custom_field_is_refused(field, named):
    with pytest.raises(BadConfigError, match=named):
        validate_field_map({"email": "info.email", field: "info.summary"})
    assert validate_field_map({"custom:salary_expectation": "info.summary"})  # a custom field, well formed
