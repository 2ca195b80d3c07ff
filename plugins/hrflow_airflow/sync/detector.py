"""
What changed: synced objects compared with the ledger a chunk at a time. An object whose mapped record's keyed hash
differs from the ledger's ``synced_hash`` is kept (its record, the hash it replaces, its ATS id) for an update; one
synced before the ledger kept hashes gets a baseline instead (nothing is sent).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hrflow_airflow.dates import read_datetime
from hrflow_airflow.destinations.base import ATS_ID_TAG
from hrflow_airflow.ledger import Ledger
from hrflow_airflow.mapping import MappingError, is_synced, project
from hrflow_airflow.objects import ObjectKind
from hrflow_airflow.sealed import record_hash

LOOKUP_CHUNK = 500  # objects whose ledger rows are read at once


def remote_id_of(obj: Mapping[str, Any]) -> str | None:
    """Return the ATS id the sync put on the object (tag ``ats_id``), or None."""
    for tag in obj.get("tags") or []:
        if isinstance(tag, dict) and tag.get("name") == ATS_ID_TAG and tag.get("value"):
            return str(tag["value"])
    return None


class Detector:
    """Compare synced objects with the ledger, a chunk at a time; keep the changed ones, record baselines."""

    def __init__(
        self,
        kind: ObjectKind,
        field_map: Mapping[str, str],
        ledger: Ledger,
        ledger_key: str,
        *,
        write: bool,
        floor: datetime | None = None,
        job_map: Mapping[str, str] | None = None,
    ) -> None:
        self.kind, self.field_map, self.ledger, self.ledger_key = kind, field_map, ledger, ledger_key
        self.job_map = job_map
        self.floor = floor  # created_at_floor: objects created before it are never synced, updates included
        self.paths = kind.paths(field_map)
        self.write = write  # False on a dry run: baselines are not recorded
        self.pending: list[dict[str, Any]] = []
        self.changed: list[list[Any]] = []  # [key, container, record as JSON or None, mapping failure or None]
        self.remote_ids: dict[str, str] = {}
        self.bases: dict[str, str | None] = {}
        self.seen: set[str] = set()  # keys already compared (a key read twice counts once)
        self.forced: set[str] = set()  # keys sent as updates whatever their hash: a CV or a job to send again
        self.read = self.baselined = 0

    def add(self, obj: dict[str, Any], container: str, *, force: bool = False) -> None:
        self.read += 1
        if force:
            self.forced.add(obj.get("key"))
        if not is_synced(obj.get("tags")) or obj.get("key") in self.seen:
            return  # not synced yet: the listing of new objects has it
        if (
            self.floor is not None
            and (created := read_datetime(obj.get("created_at"))) is not None
            and created < self.floor
        ):
            return  # before created_at_floor: never synced, so never updated either
        self.seen.add(obj["key"])
        self.pending.append({"obj": obj, "container": sys.intern(container)})
        if len(self.pending) >= LOOKUP_CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        chunk, self.pending = self.pending, []
        known = self.ledger.deliveries.lookup(self.ledger_key, [p["obj"]["key"] for p in chunk])
        baseline = []
        for item in chunk:
            obj, container = item["obj"], item["container"]
            key, data = obj["key"], project(obj, self.paths)
            try:
                record = self.kind.record(key, data, self.field_map, self.job_map)
                digest, failure = record_hash(record), None
            except MappingError as exc:  # sent as an update: the transform step reports it by key
                record, digest, failure = None, None, f"mapping failed: {exc}"
            entry = known.get(key)
            remote = (entry.remote_id if entry else None) or remote_id_of(obj)
            if digest is not None and (entry is None or entry.synced_hash is None):
                baseline.append((key, container, remote, digest))
                continue
            if digest is not None and entry.synced_hash == digest and key not in self.forced:
                continue
            text = json.dumps(record, ensure_ascii=False, separators=(",", ":")) if failure is None else None
            self.changed.append([key, container, text, failure])  # the record: the batch holds no object
            self.bases[key] = entry.synced_hash if entry else None
            if remote:
                self.remote_ids[key] = remote
        if baseline and self.write:
            self.ledger.deliveries.record_baseline(self.ledger_key, baseline)
        self.baselined += len(baseline)
