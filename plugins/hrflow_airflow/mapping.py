"""Pure functions: trim HrFlow objects, map them to ATS records, handle tags. No I/O here."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from hrflow_airflow.candidate import check_field_name
from hrflow_airflow.errors import BadConfigError, HrFlowAirflowError

SYNC_TAG = {"name": "sync", "value": "1"}
RECORD_KEY = "hrflow_key"


class MappingError(HrFlowAirflowError, ValueError):
    """Raise when one object cannot be turned into a record."""


# -- tags ---------------------------------------------------------------------------------
def is_synced(tags: Any) -> bool:
    """Return True if ``tags`` holds ``sync=1`` (``1`` or ``"1"``); null tags and ``sync=0`` are unsynced."""
    if not isinstance(tags, list):
        return False
    return any(
        isinstance(tag, Mapping)
        and str(tag.get("name")) == SYNC_TAG["name"]
        and str(tag.get("value")) == SYNC_TAG["value"]
        for tag in tags
    )


def missing_tags(tags: Any, wanted: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return the tags of ``wanted`` that ``tags`` does not hold yet (same name and value, as strings)."""
    have = {
        (str(t.get("name")), str(t.get("value")))
        for t in (tags if isinstance(tags, list) else [])
        if isinstance(t, Mapping)
    }
    return [dict(t) for t in wanted if (str(t["name"]), str(t["value"])) not in have]


def with_sync_tag(obj: Mapping[str, Any], extra: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """
    Return a copy of ``obj`` with ``sync=1`` (and the ``extra`` tags, e.g. ``ats_id``) appended where missing,
    and every existing tag kept as it was.
    """
    tags = obj.get("tags") or []
    return {**obj, "tags": [*tags, *missing_tags(tags, [SYNC_TAG, *extra])]}


# -- field maps ---------------------------------------------------------------------------
def validate_field_map(field_map: Any, *, source: str = "field map") -> dict[str, str]:
    """Return ``field_map`` if it maps record fields to object paths, else raise BadConfigError naming the bad entry."""
    if not isinstance(field_map, Mapping) or not field_map:
        raise BadConfigError(f"{source} must be a non-empty JSON object of record field -> object path")
    for name, path in field_map.items():
        if name == RECORD_KEY:
            raise BadConfigError(f"{source}: '{RECORD_KEY}' is always the object key and cannot be mapped")
        check_field_name(str(name), source)
        if not isinstance(path, str) or not path or any(not part for part in _split(path)):
            raise BadConfigError(f"{source}: field '{name}' has an invalid path {path!r} (use 'a.b' or 'a[].b')")
        if path.count("[]") > 1:
            raise BadConfigError(f"{source}: field '{name}' path {path!r} may contain '[]' at most once")
    return dict(field_map)


def _split(path: str) -> list[str]:
    return path.replace("[]", ".[]").split(".")


def extract(obj: Any, path: str) -> Any:
    """Return the value at ``path`` ('info.email', 'skills[].name'); a missing value is None."""
    value = obj
    parts = _split(path)
    for i, part in enumerate(parts):
        if value is None:
            return None
        if part == "[]":
            if not isinstance(value, list):
                raise MappingError(f"'{'.'.join(parts[:i])}' is {type(value).__name__}, expected a list")
            rest = ".".join(parts[i + 1 :])
            return [extract(item, rest) if rest else item for item in value]
        if not isinstance(value, Mapping):
            raise MappingError(f"cannot read '{part}' of {path!r}: value is {type(value).__name__}")
        value = value.get(part)
    return value


def project(obj: Any, paths: Iterable[str]) -> dict[str, Any]:
    """Return the part of ``obj`` that ``paths`` read, keeping its shape, so :func:`extract` gives the same values."""
    out: dict[str, Any] = {}
    for path in paths:
        _merge(out, _project_one(obj, _split(path)))
    return out


def _project_one(value: Any, parts: list[str]) -> Any:
    if not parts or value is None:
        return value
    head, rest = parts[0], parts[1:]
    if head == "[]":
        return [_project_one(item, rest) for item in value] if isinstance(value, list) else value
    if not isinstance(value, Mapping):
        return value  # keep the wrong type so extract() reports it during transform
    return {head: _project_one(value.get(head), rest)}


def _merge(into: dict, part: Any) -> None:
    for key, value in part.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            into[key] = [_merge_items(a, b) for a, b in zip(into[key], value)]
        else:
            into[key] = value


def _merge_items(a: Any, b: Any) -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        _merge(a, b)
        return a
    return b


def to_record(key: str, data: Mapping[str, Any], field_map: Mapping[str, str]) -> dict[str, Any]:
    """Return the ATS record for one trimmed object: ``hrflow_key`` then every mapped field (missing -> None)."""
    record: dict[str, Any] = {RECORD_KEY: key}
    for name, path in field_map.items():
        try:
            record[name] = extract(data, path)
        except MappingError as exc:
            raise MappingError(f"field '{name}': {exc}") from None
    return record


# -- batches ------------------------------------------------------------------------------
def chunk(items: list[Any], size: int) -> list[list[Any]]:
    """Split ``items`` into lists of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def idempotency_key(namespace: str, records: list[Mapping[str, Any]]) -> str:
    """
    Return a key that is the same for the same records, on every retry and every re-run: the hash of their
    canonical JSON, fed a record at a time (the same digest as of the whole list's text, never built at once).
    """
    digest = hashlib.sha256(b"[")
    for i, record in enumerate(records):
        text = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        digest.update(("," if i else "").encode() + text.encode())
    digest.update(b"]")
    return f"{namespace}-{digest.hexdigest()[:40]}"


_EMAIL = re.compile(r"[^\s@'\"<>()]+@[^\s@'\"<>()]+")
_NUMBER = re.compile(r"\+?\d[\d\s().-]{4,}\d")  # phone numbers, dates, ids of 6+ characters
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|«[^»]*»")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_.\[\]]{0,63}")  # a quoted field name is kept: 'email', "info.phone"
REDACTED = "<redacted>"


def redact(reason: str, record: Mapping[str, Any] | None = None) -> str:
    """
    Return a destination's refusal reason without candidate data: error codes and field names stay; the
    record's own values, emails, quoted values and long numbers become ``<redacted>``.

    ``"phone +33 6 12 34 56 78 is invalid"`` -> ``"phone <redacted> is invalid"``.
    """
    text = str(reason)
    values = sorted(
        (str(v) for v in (record or {}).values() if isinstance(v, (str, int, float)) and len(str(v)) >= 3),
        key=len,
        reverse=True,
    )
    for value in values:
        text = text.replace(value, REDACTED)
    text = _QUOTED.sub(lambda m: m.group(0) if _FIELD.fullmatch(m.group(0)[1:-1]) else REDACTED, text)
    for pattern in (_EMAIL, _NUMBER):
        text = pattern.sub(REDACTED, text)
    return text
