"""
HrFlow's listings as the sandbox answers them: the Searching API (``GET /profiles/searching``) and the Storing
listing (``GET /storing/<kind>s``) filtered by ``created_at_min``/``created_at_max`` and tag groups, in a stable
order, over stored objects (:meth:`Listings.search`) or without a scan over a generated container
(:meth:`Listings.fast_listing`, ``sandbox/generated.py``).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Any

from sandbox.generated import GeneratedBucket
from sandbox.object_fields import has_all, parse_date
from sandbox.objects import searchable


class Listings:
    """The listings of :class:`~sandbox.state.SandboxState`, over the objects it holds (under its lock)."""

    lock: threading.RLock
    objects: dict[str, dict[str, dict[str, dict]]]
    version: int  # bumped by every write: a cached search result is good for one version
    search_cache: dict[tuple, tuple[int, list]]
    indexed_at: dict[str, float]  # object key -> time.time() search sees it from
    lag_until: float  # the latest of indexed_at: search results are cacheable after it
    date_only_filters: bool

    def created_bounds(self, params: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
        """
        Return the inclusive ``created_at`` bounds of a listing's ``created_at_min`` / ``created_at_max``.

        hrflow 4.3.0 documents both as ``"YYYY-MM-DD"`` (``storing.list``, ``searching.list``). With
        ``date_only_filters`` the emulator honours only that date: the min is the start of its day and the max
        the end of its day, whatever time the value carries; otherwise the full timestamp is honoured.
        """
        low = parse_date(params["created_at_min"]) if params.get("created_at_min") else None
        high = parse_date(params["created_at_max"]) if params.get("created_at_max") else None
        if self.date_only_filters:
            low = low and low.replace(hour=0, minute=0, second=0, microsecond=0)
            high = high and high.replace(hour=23, minute=59, second=59, microsecond=999999)
        return low, high

    def fast_listing(
        self, kind: str, containers: list[str], params: dict[str, Any], page: int, limit: int, *, search: bool
    ) -> tuple[list[dict], int] | None:
        """
        Return (page, total) of a generated container without scanning it, or None when the request is not
        one it answers (several containers, or tag filters other than ``tags_excluded=[[sync=1]]``).
        """
        bucket = self.objects[kind].get(containers[0]) if len(containers) == 1 else None
        if not isinstance(bucket, GeneratedBucket):
            return None
        excluded, included = params.get("tags_excluded") or [], params.get("tags_included") or []
        if included or excluded not in ([], [[{"name": "sync", "value": "1"}]], [[{"name": "sync", "value": 1}]]):
            return None
        low, high = self.created_bounds(params)
        if not search and params.get("sort_by") == "updated_at" and not (low or high or excluded):
            with self.lock:
                return bucket.by_updated(
                    offset=(page - 1) * limit, limit=limit, ascending=params.get("order_by") == "asc"
                )
        if not search and params.get("sort_by", "created_at") != "created_at":
            return None
        with self.lock:
            return bucket.listing(
                low=low,
                high=high,
                unsynced_only=bool(excluded),
                offset=(page - 1) * limit,
                limit=limit,
                ascending=params.get("order_by") == "asc",
            )

    def search(self, kind: str, containers: list[str], params: dict[str, Any]) -> list[dict]:
        """Return every object matching the filters, in a stable order (cached per data version)."""
        cache_key = (
            kind,
            tuple(containers),
            json.dumps({k: v for k, v in params.items() if k not in ("page", "limit")}, sort_keys=True),
        )
        with self.lock:
            now = time.time()
            if (hit := self.search_cache.get(cache_key)) and hit[0] == self.version and self.lag_until <= now:
                return hit[1]
            pool = [
                o
                for c in containers
                for o in self.objects[kind].get(c, {}).values()
                if self.indexed_at.get(o["key"], 0) <= now
                and (kind != "profile" or searchable(o))
                and not o.get("archived_at")
            ]
            version = self.version
        included = params.get("tags_included") or []
        excluded = params.get("tags_excluded") or []
        low, high = self.created_bounds(params)
        result = []
        for obj in pool:
            created = parse_date(obj["created_at"])
            if (low and created < low) or (high and created > high):
                continue
            if excluded and any(has_all(obj, group) for group in excluded):
                continue
            if included and not any(has_all(obj, group) for group in included):
                continue
            result.append(obj)
        result.sort(key=lambda o: (o["created_at"], o["key"]), reverse=params.get("order_by") != "asc")
        with self.lock:
            self.search_cache[cache_key] = (version, result)
        return result
