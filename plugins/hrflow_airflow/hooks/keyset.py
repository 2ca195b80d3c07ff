"""
Keyset paging over HrFlow's ``created_at``-ordered listings: which page to ask for next, which objects are new.

Search (``GET /<plural>/searching``) and the storing listing (``GET /storing/<plural>``) share it, through
:meth:`hrflow_airflow.hooks.hrflow_api.HrFlowHook.iter_pages`.

What is documented and what is assumed (docs/sync.md, "Paging"):

* hrflow 4.3.0 documents ``created_at_min`` / ``created_at_max`` as ``"YYYY-MM-DD"``. Whether HrFlow honours the
  time part of a full timestamp is not documented, so paging works either way. Each request starts from a
  cursor one millisecond before the newest ``created_at`` already read; objects below the cursor or the window's
  floor, and keys already read at or after the cursor, are skipped. If HrFlow answers objects created before
  the instant asked for, it honours the date only: from then on the listing pages deeper into the same query
  while the cursor stays on the same day, and starts a new query (page 1) only when the cursor reaches a new day.
* The listing's ``created_at_max`` is sent as the next midnight after the window's end, so a server that reads
  the date only, whichever way it rounds, returns every object up to the end; objects past the end stop the
  listing (it is sorted oldest first).
* How deep a listing may page is not documented either. ``[hrflow] result_window`` (10,000 results) is assumed:
  a query never asks past it. A single day (date-only) or a single instant holding more objects than that
  cannot be read in full, so the run fails naming the day and the limit instead of reading it in part.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from hrflow_airflow.dates import read_datetime
from hrflow_airflow.errors import HrFlowAirflowError

DEFAULT_RESULT_WINDOW = 10_000  # deepest result a listing may page to ([hrflow] result_window)
STEP = timedelta(milliseconds=1)  # the precision of HrFlow's dates


class ListingTooDeepError(HrFlowAirflowError):
    """Raise when the objects of one day (or one instant) are more than a listing can page through."""


def created(obj: Mapping[str, Any]) -> datetime | None:
    """Return an object's ``created_at`` as an aware datetime (None when absent or unreadable)."""
    return read_datetime(obj.get("created_at"))


def next_midnight(value: datetime) -> datetime:
    """Return ``value`` if it is a UTC midnight, else the next UTC midnight."""
    value = value.astimezone(timezone.utc)
    midnight = value.replace(hour=0, minute=0, second=0, microsecond=0)
    return value if value == midnight else midnight + timedelta(days=1)


@dataclass
class Keyset:
    """
    The state of one keyset listing: the next request, and the keys read at or after the cursor.

    ``floor`` / ``ceiling``: the window's bounds (inclusive, as HrFlow's filters are); ``depth``: the deepest
    result a query may reach (page x page size), None for no limit.
    """

    page_size: int
    floor: datetime | None = None
    ceiling: datetime | None = None
    depth: int | None = DEFAULT_RESULT_WINDOW
    cursor: datetime | None = None
    page: int = 1
    date_only: bool = False  # HrFlow answered objects below the instant asked for: it reads the date only
    seen: dict[str, datetime | None] = field(default_factory=dict)  # keys read at or after the cursor
    done: bool = False
    newest: datetime | None = None  # the newest created_at of the page new() read last

    def __post_init__(self) -> None:
        self.low = self.cursor or self.floor  # the created_at_min of the current query

    def resume(self, instant: datetime, keys: Mapping[str, datetime | None]) -> None:
        """Continue a listing read up to ``instant``, whose ``keys`` at or after it were read."""
        self.cursor = self.low = instant - STEP
        self.seen = dict(keys)

    def request(self) -> dict[str, Any]:
        """Return the page and date filters of the next request."""
        if self.depth is not None and self.page > 1 and self.page * self.page_size > self.depth:
            if self.low is None:
                where = "start of the listing"
            else:
                where = f"day {_day(self.low)}" if self.date_only else f"instant {self.low.isoformat()}"
            raise ListingTooDeepError(
                f"the {where} holds more objects than a listing can page to ({self.depth} results, "
                f"[hrflow] result_window{'; HrFlow honours only the date of created_at_min' if self.date_only else ''}"
                "): the run stops rather than read it in part. Narrow the run (created_at_min/created_at_max "
                "params, fewer sources) or raise [hrflow] result_window if the account pages deeper"
            )
        filters: dict[str, Any] = {"page": self.page}
        if self.low is not None:
            filters["created_at_min"] = self.low
        if self.ceiling is not None:
            filters["created_at_max"] = next_midnight(self.ceiling)
        return filters

    def new(self, objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Return the objects of a page not read before and inside the window, in order; note what was read."""
        fresh, self.newest = [], None
        for obj in objs:
            at = created(obj)
            if at is not None and (self.newest is None or at > self.newest):
                self.newest = at  # for advance(): each created_at is parsed once
            if at is not None and self.low is not None and at < self.low:
                self.date_only = True
            if at is not None and self.ceiling is not None and at > self.ceiling:
                self.done = True  # oldest first: nothing after it is inside the window
                break
            if at is not None and ((self.cursor and at < self.cursor) or (self.floor and at < self.floor)):
                continue
            key = obj.get("key")
            if key in self.seen:
                continue
            self.seen[key] = at
            fresh.append(obj)
        return fresh

    def resize(self, size: int) -> int:
        """Ask for ``size`` objects per page from the next query on (a query paged deeper keeps its size)."""
        if self.page == 1:
            self.page_size = size
        return self.page_size

    def advance(self, objs: list[dict[str, Any]]) -> bool:
        """Move past a page just read by :meth:`new`; return False when the listing is complete."""
        if self.done or len(objs) < self.page_size:
            self.done = True
            return False
        step = self.newest - STEP if self.newest is not None else None  # the page's newest, noted by new()
        if step is None or (self.cursor is not None and step <= self.cursor) or (self.floor and step <= self.floor):
            self.page += 1  # the whole page is at (or, date-only, before) the cursor: the next page of this query
            return True
        self.cursor = step
        self.seen = {key: at for key, at in self.seen.items() if at is None or at >= step}
        if self.date_only and self.low is not None and _day(step) == _day(self.low):
            self.page += 1  # the same day: HrFlow would answer the same query, so page on into it
        else:
            self.low, self.page = step, 1
        return True


def fitting(objs: list[dict[str, Any]], page_bytes: int, most: int) -> int:
    """Return how many objects like ``objs`` fit ``page_bytes`` of JSON (from a sample of five; 10 to ``most``)."""
    if not objs:
        return most
    sample = objs[:: max(1, len(objs) // 5)][:5]
    each = max(1, len(json.dumps(sample, ensure_ascii=False)) // len(sample))
    return min(most, max(10, page_bytes // each))


def _day(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d")
