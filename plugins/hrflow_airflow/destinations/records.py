"""
What a lookup returns, and what proves a record came from our own create ("adopt only what we made").

Our create puts a marker on the record (a tag ``hrflow-key:<key>``, unique to the object and the sync). After a
lost answer, a lookup by email may return several records for the person: their own earlier applications, a
record from another source. Only one carrying the marker of this object, created no earlier than our first send,
is ours; any other is the person's record (linked where the ATS refuses a second one for the email, never
adopted). A shared value (our source name, a fixed origin) proves nothing alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from hrflow_airflow.dates import read_datetime
from hrflow_airflow.errors import BadConfigError, RefusedError

MARKER_PREFIX = "hrflow-key:"  # the tag our creates carry: hrflow-key:<HrFlow object key>
CLOCK_SKEW = timedelta(minutes=5)  # the ATS's clock may be behind ours: a record may say it was made this early


class Found(NamedTuple):
    """What a lookup by email found: the record our create made (``ours``), and another one with that email."""

    ours: str | None
    theirs: str | None


def has_email(emails: list[str], email: str) -> bool:
    """Return True when ``email`` is among ``emails`` (case-insensitive: lookups may be keyword searches)."""
    return any(str(e).casefold() == email.casefold() for e in emails if e)


class LookupRecords:
    """
    The per-record reading of a candidate API's answers (the defaults read a flat candidate with ``email``,
    ``tags`` and ``created_at``), its marker, and the lookup that tells ours from theirs. Mixed into
    :class:`~.candidate_api.CandidateApiHook`, which supplies ``name``, ``request`` and ``lookup_turn``.
    """

    lookup_results = "candidates"  # the list in the lookup's answer

    def listed(self, answer: Any) -> list[dict[str, Any]]:
        """Return the records of a lookup's answer."""
        found = answer if isinstance(answer, list) else (answer or {}).get(self.lookup_results)
        return [r for r in found or [] if isinstance(r, dict)]

    def id_of(self, found: Mapping[str, Any]) -> str | None:
        return found.get("id")

    def emails_of(self, found: Mapping[str, Any]) -> list[str]:
        return [str(found.get("email") or "")]

    def tags_of(self, found: Mapping[str, Any]) -> list[str]:
        return [str(t.get("name", "") if isinstance(t, dict) else t) for t in found.get("tags") or []]

    def created_of(self, found: Mapping[str, Any]) -> datetime | None:
        """Return when the ATS says the record was created (None: it does not say)."""
        return read_datetime(found.get("created_at"))

    def found_id(self, answer: Any, email: str) -> str | None:
        """Return the id of the first record with ``email`` in a lookup answer, ours or not (test_connection)."""
        return next((self.id_of(r) for r in self.listed(answer) if has_email(self.emails_of(r), email)), None)

    def detail_request(self, remote_id: str) -> str | None:
        """Return the path that reads one record, when the lookup's listing does not carry its tags (else None)."""
        return None

    def read_request(self, remote_id: str) -> tuple[str, dict[str, str]] | None:
        """Return the path and query that read one record by its id (None: the vendor documents none)."""
        path = self.detail_request(remote_id)
        return (path, {}) if path else None

    def read(self, remote_id: str) -> dict[str, Any] | None:
        """Return record ``remote_id`` (``"<name>:<id>"``) as the ATS holds it, or None when it is gone (404)."""
        request = self.read_request(remote_id.removeprefix(f"{self.name}:"))
        if request is None:
            raise BadConfigError(f"{self.name}'s API documents no read by id: its links cannot be audited")
        try:
            answer = self.request("GET", request[0], params=request[1] or None).json()
        except RefusedError as exc:
            if exc.status in (404, 410):
                return None
            raise
        if isinstance(answer, list):
            return answer[0] if answer else None
        for envelope in ("data", "candidate"):
            if isinstance(answer, dict) and isinstance(answer.get(envelope), dict):
                return answer[envelope]
        return answer if isinstance(answer, dict) else None

    def legacy_ours(self, found: Mapping[str, Any]) -> bool:
        """
        Return True when a record linked before markers existed (0.2) shows what our create alone set: only where
        the adapter stamped something the ATS keeps apart from shared values (default: nothing does).
        """
        return False

    def marker(self, key: str) -> str:
        """Return the tag our create puts on the record of object ``key``: unique to it and to this sync."""
        return f"{MARKER_PREFIX}{key}"

    def mark(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
        """Return the create ``payload`` carrying :meth:`marker` (most ATSs: a ``tags`` list)."""
        return {**payload, "tags": [*payload.get("tags", []), self.marker(key)]}

    def proves_ours(self, found: Mapping[str, Any], key: str, since: datetime | None) -> bool:
        """
        Return True when ``found`` provably came from our create of ``key``: it carries the marker, and the ATS
        created it no earlier than our first send (less :data:`CLOCK_SKEW`). A shared value (our source name, an
        email) proves nothing alone.
        """
        if self.marker(key) not in self.tags_of(found):
            return False
        created = self.created_of(found)
        return since is None or created is None or created >= since - CLOCK_SKEW

    def lookup_request(self, email: str, since: datetime | None = None) -> tuple[str, dict[str, str]]:
        """Return the path and query that find records by email (created since ``since``, where it filters)."""
        raise NotImplementedError

    def find(self, email: str, key: str | None = None, since: datetime | None = None) -> Found:
        """
        Look ``email`` up; return the record our create of ``key`` provably made (:meth:`proves_ours`), and the
        first other record with that email (a person the ATS already held: never ours to adopt).
        """
        path, params = self.lookup_request(email, since)
        with self.lookup_turn():
            answer = self.request("GET", path, params=params).json()
        ours = theirs = None
        for found in self.listed(answer):
            if not has_email(self.emails_of(found), email) or not (remote := self.id_of(found)):
                continue
            if key is not None and ours is None and (detail := self.detail_request(str(remote))):
                found = self.request("GET", detail).json()  # the listing omits the marker: read the record
            if key is not None and ours is None and self.proves_ours(found, key, since):
                ours = str(remote)
            elif theirs is None:
                theirs = str(remote)
        return Found(ours, theirs)
