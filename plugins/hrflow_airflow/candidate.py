"""
Pure functions: the whole candidate beyond the field map. No I/O here.

A profile's record carries, beside its mapped fields:

* ``resume``: the CV to send, from the profile's ``attachments`` (``type`` ``original``, the file the candidate
  sent, else ``resume``): ``{url, file_name, content_type, size, fingerprint}``. The fingerprint is the file's
  ``alt`` (a content hash) and ``updated_at``: a replaced CV has a new one, an unchanged one the same.
* ``applications``: the jobs the profile applied to, from HrFlow's documented tag convention
  ``application_boardKey_jobReference`` = ``<board_key>_<job_reference>``: ``[{board_key, job_reference,
  ats_job_id}]``. The ATS job is the job's ``reference`` (boards a connector fills from the ATS carry its id
  there), unless the Variable ``hrflow_job_map`` maps that reference to another id.
* ``custom:<name>`` fields: what the team maps to the vendor's custom fields (checked against its listing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hrflow_airflow.errors import BadConfigError

RESUME = "resume"
APPLICATIONS = "applications"
CUSTOM_PREFIX = "custom:"
RESERVED = (RESUME, APPLICATIONS)  # record fields the sync fills itself: a field map cannot name them
APPLICATION_TAG = "application_boardKey_jobReference"
JOB_MAP_VARIABLE = "hrflow_job_map"
CV_TYPES = ("original", "resume")  # preferred first
# the paths of a profile the candidate parts read: projected with the mapped fields when objects are listed
PROFILE_READS = (
    *(f"attachments[].{field}" for field in ("type", "public_url", "file_name", "original_file_name",
                                             "extension", "file_size", "alt", "updated_at")),
    "tags[].name",
    "tags[].value",
)  # fmt: skip
CONTENT_TYPES = {
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".rtf": "application/rtf",
    ".txt": "text/plain",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}  # fmt: skip
_CUSTOM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\- .]{0,99}")


def pick_cv(attachments: Any) -> dict[str, Any] | None:
    """Return the CV to send from a profile's ``attachments``: ``original``, else ``resume``; None if neither."""
    files = [a for a in attachments if isinstance(a, Mapping)] if isinstance(attachments, list) else []
    for wanted in CV_TYPES:
        for attachment in files:
            if attachment.get("type") == wanted and attachment.get("public_url"):
                return cv_of(attachment)
    return None


def cv_of(attachment: Mapping[str, Any]) -> dict[str, Any]:
    """Return the ``resume`` part of a record for one HrFlow attachment."""
    extension = str(attachment.get("extension") or "").lower()
    if extension and not extension.startswith("."):
        extension = f".{extension}"
    name = str(attachment.get("original_file_name") or attachment.get("file_name") or attachment.get("type") or "cv")
    if extension and not name.lower().endswith(extension):
        name += extension
    size = attachment.get("file_size")
    return {
        "url": str(attachment["public_url"]),
        "file_name": name,
        "content_type": CONTENT_TYPES.get(extension, "application/octet-stream"),
        "size": size if isinstance(size, int) and not isinstance(size, bool) else None,
        "fingerprint": f"{attachment.get('alt') or ''}@{attachment.get('updated_at') or ''}",
    }


def applications(tags: Any, job_map: Mapping[str, str] | None = None) -> list[dict[str, str]]:
    """
    Return the jobs a profile applied to, from its ``application_boardKey_jobReference`` tags, sorted and without
    repeats: ``[{board_key, job_reference, ats_job_id}]``. A tag whose value is not ``<board>_<reference>`` is
    skipped (HrFlow's board keys hold no underscore; a reference may).
    """
    found: dict[tuple[str, str], dict[str, str]] = {}
    for tag in tags if isinstance(tags, list) else []:
        if not isinstance(tag, Mapping) or tag.get("name") != APPLICATION_TAG:
            continue
        board, _, reference = str(tag.get("value") or "").partition("_")
        if board and reference:
            ats_job = str((job_map or {}).get(reference) or reference)
            found[(board, reference)] = {"board_key": board, "job_reference": reference, "ats_job_id": ats_job}
    return [found[pair] for pair in sorted(found)]


def enrich(record: dict[str, Any], data: Mapping[str, Any], job_map: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Add the CV and the applications of a trimmed profile to its record (in place); return it."""
    record[RESUME] = pick_cv(data.get("attachments"))
    record[APPLICATIONS] = applications(data.get("tags"), job_map)
    return record


def validate_job_map(raw: Any) -> dict[str, str]:
    """Return the Variable ``hrflow_job_map`` (job reference -> ATS job id), or raise naming the bad entry."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise BadConfigError(f"Variable '{JOB_MAP_VARIABLE}' must be a JSON object of job reference -> ATS job id")
    for reference, job_id in raw.items():
        if not isinstance(job_id, (str, int)) or isinstance(job_id, bool) or not str(job_id).strip():
            raise BadConfigError(
                f"Variable '{JOB_MAP_VARIABLE}': job reference '{reference}' maps to {job_id!r}, not an ATS job id"
            )
    return {str(reference): str(job_id) for reference, job_id in raw.items()}


def custom_name(field: str) -> str | None:
    """Return the vendor field a ``custom:<name>`` record field fills, or None for a plain field."""
    return field[len(CUSTOM_PREFIX) :] if field.startswith(CUSTOM_PREFIX) else None


def check_field_name(name: str, source: str) -> None:
    """Raise BadConfigError when a field map entry names a field the sync fills, or a malformed custom field."""
    if name in RESERVED:
        raise BadConfigError(f"{source}: '{name}' is filled by the sync (the CV, the jobs) and cannot be mapped")
    custom = custom_name(name)
    if custom is not None and not _CUSTOM_NAME.fullmatch(custom):
        raise BadConfigError(
            f"{source}: field '{name}' must name a custom field as 'custom:<name>' (letters, digits, '_', '-', "
            "'.', spaces; 100 characters at most)"
        )


def custom_values(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``{custom field name: value}`` of a record's ``custom:`` fields that carry a value."""
    return {
        name: value
        for field, value in record.items()
        if (name := custom_name(field)) is not None and value not in (None, "", [])
    }


def plain(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return the record without its CV, applications and custom fields: the candidate's own fields."""
    return {field: value for field, value in record.items() if field not in RESERVED and custom_name(field) is None}


def unknown_custom_fields(field_map: Mapping[str, str], known: set[str], vendor: str) -> list[str]:
    """Return an error line per ``custom:`` entry of ``field_map`` whose target ``vendor`` does not list."""
    return [
        f"field map entry '{field}' targets custom field '{name}', which {vendor} does not list"
        f" (its custom fields: {', '.join(sorted(known)) or 'none'})"
        for field in field_map
        if (name := custom_name(field)) is not None and name not in known
    ]
