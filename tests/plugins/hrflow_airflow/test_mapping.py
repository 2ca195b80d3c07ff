from __future__ import annotations

import pytest

from hrflow_airflow.mapping import (
    MappingError,
    extract,
    idempotency_key,
    is_synced,
    project,
    to_record,
    validate_field_map,
    with_sync_tag,
)
from hrflow_airflow.objects import JOB, PROFILE


@pytest.mark.parametrize(
    ("tags", "synced"),
    [
        (None, False),
        ([], False),
        ([{"name": "sync", "value": "0"}], False),
        ([{"name": "sync", "value": 0}], False),
        ([{"name": "sync", "value": "1"}], True),
        ([{"name": "sync", "value": 1}], True),
        ([{"name": "stage", "value": "1"}, {"name": "sync", "value": "1"}], True),
        (["sync=1"], False),
        ("sync", False),
    ],
)
def test_is_synced(tags, synced):
    assert is_synced(tags) is synced


@pytest.mark.parametrize("tags", [None, [], [{"name": "sync", "value": "0"}, {"name": "stage", "value": "new"}]])
def test_with_sync_tag_appends_and_keeps_existing_tags(tags):
    obj = {"key": "k", "tags": tags, "info": {"first_name": "Zoë"}}
    tagged = with_sync_tag(obj)
    assert tagged["tags"] == (tags or []) + [{"name": "sync", "value": "1"}]
    assert tagged["info"] == obj["info"] and obj["tags"] is tags  # input untouched


def test_default_profile_record_copies_info_unchanged_and_nulls_missing():
    profile = {
        "key": "p1",
        "info": {
            "first_name": "D'Arcy",
            "last_name": 'O"Neil',
            "email": "a@b.c",
            "phone": "+33",
            "gender": None,
            "summary": "“quoted”",
        },
    }
    assert to_record("p1", project(profile, PROFILE.default_field_map.values()), PROFILE.default_field_map) == {
        "hrflow_key": "p1",
        "first_name": "D'Arcy",
        "last_name": 'O"Neil',
        "email": "a@b.c",
        "phone": "+33",
        "date_birth": None,
        "gender": None,
        "summary": "“quoted”",
    }


def test_default_job_record_lists_skill_names():
    job = {
        "key": "j1",
        "name": "Dev",
        "location": {"text": "Paris"},
        "skills": [{"name": "python"}, {"name": "sql"}],
        "created_at": "2026-01-01T00:00:00+0000",
        "sections": [{"big": "x" * 1000}],
    }
    trimmed = project(job, JOB.default_field_map.values())
    assert "sections" not in trimmed
    assert to_record("j1", trimmed, JOB.default_field_map) == {
        "hrflow_key": "j1",
        "reference": None,
        "name": "Dev",
        "summary": None,
        "url": None,
        "location_text": "Paris",
        "created_at": "2026-01-01T00:00:00+0000",
        "skills": ["python", "sql"],
    }


@pytest.mark.parametrize(
    ("obj", "path", "value"),
    [
        ({"a": {"b": 1}}, "a.b", 1),
        ({"a": None}, "a.b", None),
        ({}, "a.b", None),
        ({"s": [{"n": "x"}, {"n": "y"}]}, "s[].n", ["x", "y"]),
        ({"s": None}, "s[].n", None),
        ({"s": ["x", "y"]}, "s[]", ["x", "y"]),
    ],
)
def test_extract(obj, path, value):
    assert extract(obj, path) == value
    assert extract(project(obj, [path]), path) == value


@pytest.mark.parametrize(("obj", "path"), [({"s": "oops"}, "s[].n"), ({"a": "text"}, "a.b")])
def test_extract_wrong_type_raises_naming_the_path(obj, path):
    with pytest.raises(MappingError, match="expected a list|cannot read"):
        extract(obj, path)


@pytest.mark.parametrize(
    ("field_map", "message"),
    [
        ({}, "non-empty"),
        ([], "non-empty"),
        ({"hrflow_key": "key"}, "always the object key"),
        ({"x": ""}, "field 'x' has an invalid path"),
        ({"x": "a..b"}, "field 'x' has an invalid path"),
        ({"x": 3}, "field 'x' has an invalid path"),
        ({"x": "a[].b[].c"}, "at most once"),
    ],
)
def test_validate_field_map_names_the_bad_entry(field_map, message):
    with pytest.raises(ValueError, match=message):
        validate_field_map(field_map)


def test_idempotency_key_depends_only_on_content():
    records = [{"hrflow_key": "a", "x": 1}, {"hrflow_key": "b", "x": 2}]
    assert idempotency_key("profiles", records) == idempotency_key("profiles", [dict(r) for r in records])
    assert idempotency_key("profiles", records) != idempotency_key("profiles", records[:1])
    assert idempotency_key("profiles", records) != idempotency_key("jobs", records)
