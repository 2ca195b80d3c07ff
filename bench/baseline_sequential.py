"""Baseline B: the sequential PULL workflow HrFlow users run today, written correctly.

Search 30 untagged profiles, POST them to the ATS as JSON, then for each profile re-read it and PUT it back
with the ``sync=1`` tag, one call at a time; repeat until none is left. Same re-read before PUT as the DAG,
so the comparison is fair. Uses the hrflow SDK as the hosted workflow functions do.
"""

from __future__ import annotations

import hashlib
import json

import requests
from hrflow import Hrflow

SYNC_TAG = {"name": "sync", "value": "1"}
FIELDS = ("first_name", "last_name", "email", "phone", "date_birth", "gender", "summary")


def run(*, api_url: str, api_secret: str, api_user: str, source_key: str, ats_url: str, ats_key: str) -> int:
    """Sync every unsynced profile of ``source_key``; return how many were synced."""
    client = Hrflow(api_url=api_url.rstrip("/") + "/", api_secret=api_secret, api_user=api_user)
    synced = 0
    while True:
        response = client.profile.searching.list(source_keys=[source_key], tags_excluded=[[SYNC_TAG]], page=1, limit=30)
        profiles = response["data"]["profiles"]
        if not profiles:
            return synced
        records = [{"hrflow_key": p["key"], **{f: p["info"].get(f) for f in FIELDS}} for p in profiles]
        key = hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()
        requests.post(
            ats_url, json={"profiles": records}, headers={"X-API-KEY": ats_key, "Idempotency-Key": key}, timeout=30
        ).raise_for_status()
        for profile in profiles:
            current = client.profile.storing.get(source_key, key=profile["key"])["data"]
            current["tags"] = (current.get("tags") or []) + [SYNC_TAG]
            client.profile.storing.edit(source_key, current)
            synced += 1
