"""
The one date helper: ISO 8601 text and datetimes to aware datetimes (UTC when no zone), and back to the form
HrFlow documents (``2020-05-15T23:59:59.999Z``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from hrflow_airflow.errors import BadConfigError


def as_datetime(value: Any) -> datetime | None:
    """Return ``value`` (a datetime or ISO 8601 text, ``Z`` allowed) as an aware datetime; None and "" are None.

    Raise ``ValueError`` (or ``TypeError``) when the text is not a date-time.
    """
    if value is None or value == "":
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def read_datetime(value: Any) -> datetime | None:
    """Return ``value`` as an aware datetime, or None when it is missing or unreadable (an object's own dates)."""
    try:
        return as_datetime(value)
    except (TypeError, ValueError):
        return None


def setting_datetime(value: Any, name: str) -> datetime:
    """Return a setting or param as an aware datetime, or raise :class:`BadConfigError` naming ``name``."""
    try:
        parsed = as_datetime(value)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None:
        raise BadConfigError(f"{name} must be an ISO 8601 date-time, got {value!r}")
    return parsed


def hrflow_datetime(value: datetime) -> str:
    """Return ``value`` in the form HrFlow documents for dates: ``2020-05-15T23:59:59.999Z`` (UTC)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
