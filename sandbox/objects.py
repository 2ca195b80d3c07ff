"""
What the sandbox's emulators share: the credentials they accept, and the objects they hold (HrFlow profiles and
jobs as the API returns them, and which profiles its search indexes); ``object_fields.py`` reads their dates and
tags.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import msgspec

from sandbox.files import attachments
from sandbox.object_fields import now

API_SECRET = "askw_" + "0" * 31 + "1"
API_USER = "sandbox@example.com"
ATS_API_KEY = "ats-sandbox-key"
SMS_API_KEY = "sms-sandbox-key"
TWILIO_ACCOUNT_SID = "AC" + "0" * 31 + "1"
TWILIO_AUTH_TOKEN = "twilio-sandbox-token"
TWILIO_FROM = "+15005550006"  # Twilio's magic "valid From" number (https://www.twilio.com/docs/iam/test-credentials)
# Twilio's documented magic numbers for test credentials: To -> error, From -> error
TWILIO_MAGIC_TO = {
    "+15005550001": (21211, "The 'To' number +15005550001 is not a valid phone number."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
TWILIO_MAGIC_FROM = {
    "+15005550001": (
        21212,
        "The 'From' number +15005550001 is not a valid phone number, shortcode, or alphanumeric sender ID.",
    ),
    "+15005550007": (
        21606,
        "The 'From' phone number provided is not a valid, message-capable Twilio phone number for this "
        "destination/account.",
    ),
}
WEBHOOK_SECRET = "sandbox-webhook-secret"

EXAMPLE_PROFILE = Path(__file__).with_name("profile_example.json")
FIRST_NAMES = ["Camille", "Zoë", "José", "Anne-Marie", "D'Arcy", 'O"Neil', "Łukasz", "Renée", "Jean", "Ngozi"]
LAST_NAMES = ["Moreau", "Müller", "O'Brien", "García", "Nguyễn", 'Smith "Jr"', "Dubois", "Kowalski"]


def make_key(*parts: object) -> str:
    """Return a 40-hex key, the shape HrFlow uses for every object key."""
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


def make_profile(
    source_key: str,
    index: int,
    *,
    created_at: str | None = None,
    tags: list | None = None,
    phone: str | None = "default",
    key: str | None = None,
    share: bool = False,
    realistic: bool = False,
    files_url: str | None = None,
) -> dict[str, Any]:
    """
    Return a profile shaped like the scrubbed real profile, with its own key and identity.

    ``realistic``: as full as HrFlow returns a parsed resume: a summary of a few KB and a dozen skills and
    experiences (the example's are few and short), for the memory benchmarks (issue #38).

    ``share``: the parts no profile changes (experiences, skills, attachments...) are the example's own, shared
    by every shared profile, for callers that only read them (``GeneratedBucket`` rebuilds its objects on each
    read: decoding the 12.5 KB example for each was three quarters of the emulator's CPU when listing).
    ``key``: the object's key when the caller has it already. ``files_url``: the sandbox serving the profile's
    CV files (``sandbox/files.py``); None: the files' URLs lead nowhere (nothing is ever fetched from the internet).
    """
    profile = dict(example()) if share else msgspec.json.decode(example_bytes())
    first = FIRST_NAMES[index % len(FIRST_NAMES)]
    last = LAST_NAMES[index % len(LAST_NAMES)]
    profile.update(
        key=key or make_key("profile", source_key, index),
        reference=f"ref-{index}",
        tags=tags,
        created_at=created_at or now(),
        updated_at=created_at or now(),
    )
    profile["id"] = index
    profile["attachments"] = attachments(profile["key"], files_url, updated_at=profile["created_at"])
    profile["source"] = {**profile["source"], "key": source_key}
    profile["source_key"] = source_key  # real objects carry both source.key and source_key
    profile["info"] = {
        **profile["info"],
        "full_name": f"{first} {last}",
        "first_name": first,
        "last_name": last,
        "email": f"candidate{index}.{source_key[:6]}@example.com",
        "phone": f"+3361{index:07d}" if phone == "default" else phone,
        "summary": f"Candidate {index}. " + (_REALISTIC_SUMMARY if realistic else ""),
    }
    if realistic:
        profile.update(_realistic_parts())
    return profile


_REALISTIC_SUMMARY = (
    "Data engineer with eight years of experience designing batch and streaming pipelines, "
    "leading small teams and mentoring juniors; comfortable with Python, SQL, Spark and cloud warehouses. "
) * 16  # ~3 KB, as a parsed resume's summary


@functools.cache
def _realistic_parts() -> dict[str, Any]:
    """Return a dozen skills and experiences shaped like the example's, decoded once; shared: never change it."""
    shared = example()
    experience = shared["experiences"][0]
    return {
        "skills": [{"name": f"skill {i}", "type": "hard" if i % 2 else "soft", "value": None} for i in range(12)],
        "experiences": [
            {**experience, "key": make_key("experience", i), "description": _REALISTIC_SUMMARY[:600]} for i in range(12)
        ],
    }


def make_job(
    board_key: str, index: int, *, created_at: str | None = None, tags: list | None = None, key: str | None = None
) -> dict[str, Any]:
    """Return a job object shaped like HrFlow's job object (``key``: when the caller has it already)."""
    return {
        "key": key or make_key("job", board_key, index),
        "reference": f"job-{index}",
        "name": f"Data Engineer {index}",
        "summary": "Build pipelines “end to end”.",
        "url": f"https://jobs.example.com/{index}",
        "board": {"key": board_key, "name": "careers"},
        "board_key": board_key,
        "location": {"text": "Paris, France", "lat": 48.85, "lng": 2.35},
        "skills": [{"name": "python", "type": "hard", "value": None}, {"name": "sql", "type": "hard", "value": None}],
        "sections": [],
        "tags": tags,
        "metadatas": [],
        "ranges_date": [],
        "ranges_float": [],
        "created_at": created_at or now(),
        "updated_at": created_at or now(),
    }


@functools.cache
def example_bytes() -> bytes:
    """Return the example profile's file, read once."""
    return EXAMPLE_PROFILE.read_bytes()


@functools.cache
def example() -> dict[str, Any]:
    """Return the example profile, decoded once; shared: never change it."""
    return msgspec.json.decode(example_bytes())


def searchable(profile: dict) -> bool:
    """
    Return True if HrFlow's Searching API would index this profile.

    From "Assess Profile Eligibility for Searching" (developers.hrflow.ai): the text must not be empty, and
    the profile must have an email or both a first and a last name, or at least half of phone, date of
    birth, gender, summary, urls and location.
    """
    info = profile.get("info") or {}
    if not str(profile.get("text") or "").strip():
        return False
    if info.get("email") or (info.get("first_name") and info.get("last_name")):
        return True
    location = info.get("location") or {}
    others = [
        info.get("phone"),
        info.get("date_birth"),
        info.get("gender"),
        info.get("summary"),
        info.get("urls"),
        location.get("text") if isinstance(location, dict) else location,
    ]
    return sum(1 for value in others if value) * 2 >= len(others)
