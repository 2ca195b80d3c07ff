"""
How the sandbox reads and stamps an HrFlow object's fields: its dates (written as HrFlow writes them), where its
mapped fields live, and its tags (the ``sync=1`` marker, the tag groups of a listing's filters).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sandbox.generated import GeneratedBucket


def now() -> str:
    """Return the time now as HrFlow writes ``created_at`` and ``updated_at``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_date(value: str) -> datetime:
    """Return an ISO date as an aware datetime (UTC when it carries no zone)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def sort_date(value: Any) -> datetime:
    """Return a date field as a datetime for sorting (HrFlow writes them in more than one ISO form)."""
    try:
        return parse_date(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)


def holder(obj: dict) -> dict:
    """Return where an object's mapped fields live: a profile's ``info``, a job itself."""
    return obj["info"] if isinstance(obj.get("info"), dict) else obj


def tag_pairs(obj: dict) -> set[tuple[str, str]]:
    """Return an object's tags as (name, value) pairs, both as strings."""
    return {(str(t.get("name")), str(t.get("value"))) for t in obj.get("tags") or []}


def has_all(obj: dict, group: list[dict]) -> bool:
    """Return True if the object carries every tag of ``group`` (one group of a listing's tag filter)."""
    pairs = tag_pairs(obj)
    return all((str(t.get("name")), str(t.get("value"))) in pairs for t in group)


def has_sync(obj: dict) -> bool:
    return ("sync", "1") in tag_pairs(obj)


def synced_keys(bucket: Any) -> list[str]:
    """Return the keys of a container's objects that carry ``sync=1``."""
    if isinstance(bucket, GeneratedBucket):
        return bucket.synced_keys()
    return [k for k, o in bucket.items() if has_sync(o)]
