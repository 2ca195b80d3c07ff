"""
A compact container for very large sandbox sources: objects made from their index on read.

A million profiles shaped like the real one (~12.5 KB of JSON each) do not fit in memory as dicts. A
:class:`GeneratedBucket` keeps, per object, its key and what writes changed (the top-level fields a PUT
altered, usually ``tags`` and ``updated_at``); everything else is rebuilt by ``make_profile``/``make_job``
from the index when read. Objects are created ``spread_seconds`` apart from ``base``, so index order is
``created_at`` order and a listing from a ``created_at`` bound starts by arithmetic, not a scan; a Fenwick
tree counts the objects carrying ``sync=1`` so that ``meta.total`` of a ``tags_excluded=[[sync=1]]``
search is exact without scanning either.

The listings answer what HrFlow's documents for them (https://developers.hrflow.ai/reference "Search
Profiles" and "Find Profiles stored in Sources": ``created_at_min``/``created_at_max``, ``tags_excluded``,
``order_by``, ``page``/``limit`` and ``meta.total``), exactly as ``SandboxState.search`` does for stored dicts
(``tests/sandbox/test_generated.py`` compares the two).

It is a ``MutableMapping`` of key -> object, so the sandbox's generic code (GET, PUT, third-party edits)
works on it unchanged; the listings use :meth:`listing` (``SandboxState.fast_listing``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, MutableMapping
from datetime import datetime, timedelta
from typing import Any

STAMP = "%Y-%m-%dT%H:%M:%S+0000"
_GONE = {"__removed__": True}  # a field the PUT dropped
SYNC = {"name": "sync", "value": "1"}


def _has_sync(tags: Any) -> bool:
    return any(str(t.get("name")) == "sync" and str(t.get("value")) == "1" for t in tags or [] if isinstance(t, dict))


class _Fenwick:
    """Prefix sums over 0/1 flags with O(log n) updates."""

    def __init__(self, size: int) -> None:
        self.size, self.tree = size, [0] * (size + 1)

    def add(self, index: int, delta: int) -> None:
        index += 1
        while index <= self.size:
            self.tree[index] += delta
            index += index & -index

    def prefix(self, end: int) -> int:
        """Return the sum of flags [0, end)."""
        total = 0
        while end > 0:
            total += self.tree[end]
            end -= end & -end
        return total


class GeneratedBucket(MutableMapping):
    """``count`` objects of one container, made from their index by ``maker`` (``make_profile``/``make_job``)."""

    def __init__(
        self,
        maker: Callable[..., dict[str, Any]],
        key_of: Callable[[int], str],
        container: str,
        count: int,
        *,
        base: datetime,
        spread_seconds: int,
    ) -> None:
        self.maker, self.container, self.count = maker, container, count
        self.base, self.spread = base, spread_seconds
        self.keys_ = [key_of(i) for i in range(count)]
        self.index = {key: i for i, key in enumerate(self.keys_)}
        self.overlay: dict[int, dict[str, Any]] = {}  # index -> top-level fields a write changed
        self.synced = bytearray(count)
        self.synced_count = _Fenwick(count)

    # -- one object ----------------------------------------------------------------------
    def stamp(self, i: int) -> str:
        return (self.base + timedelta(seconds=i * self.spread)).strftime(STAMP)

    def _base(self, i: int) -> dict[str, Any]:
        return self.maker(self.container, i, created_at=self.stamp(i), tags=None, key=self.keys_[i])

    def materialize(self, i: int) -> dict[str, Any]:
        obj = self._base(i)
        for name, value in self.overlay.get(i, {}).items():
            if value is _GONE:
                obj.pop(name, None)
            else:
                obj[name] = value
        return obj

    def __getitem__(self, key: str) -> dict[str, Any]:
        return self.materialize(self.index[key])

    def __setitem__(self, key: str, obj: dict[str, Any]) -> None:
        i = self.index[key]  # only existing objects are written (the API's PUT edits, never creates)
        base = self._base(i)
        change = {name: value for name, value in obj.items() if base.get(name, _GONE) != value}
        change.update({name: _GONE for name in base if name not in obj})
        self.overlay[i] = change
        flag = 1 if _has_sync(obj.get("tags")) else 0
        if flag != self.synced[i]:
            self.synced[i] = flag
            self.synced_count.add(i, 1 if flag else -1)

    def __delitem__(self, key: str) -> None:
        raise TypeError("generated objects cannot be deleted")

    def __contains__(self, key: object) -> bool:
        return key in self.index

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys_)

    def __len__(self) -> int:
        return self.count

    def synced_keys(self) -> list[str]:
        return [self.keys_[i] for i, flag in enumerate(self.synced) if flag]

    # -- listings ------------------------------------------------------------------------
    def _bounds(self, low: datetime | None, high: datetime | None) -> tuple[int, int]:
        """Return [first, end) of the indexes created within [low, high]."""
        first, end = 0, self.count
        if self.spread <= 0:
            inside = (low is None or self.base >= low) and (high is None or self.base <= high)
            return (0, self.count) if inside else (0, 0)
        if low is not None:
            first = max(first, math.ceil((low - self.base).total_seconds() / self.spread))
        if high is not None:
            end = min(end, math.floor((high - self.base).total_seconds() / self.spread) + 1)
        return first, max(first, end)

    def listing(
        self,
        *,
        low: datetime | None,
        high: datetime | None,
        unsynced_only: bool,
        ascending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int]:
        """Return one page of objects created within [low, high] in ``created_at`` order, and how many match."""
        first, end = self._bounds(low, high)
        total = end - first
        if unsynced_only:
            total -= self.synced_count.prefix(end) - self.synced_count.prefix(first)
        page: list[dict[str, Any]] = []
        skip = offset
        i = first if ascending else end - 1
        while first <= i < end and len(page) < limit:
            if unsynced_only:  # jump over synced objects in C, not one by one
                i = self.synced.find(0, i, end) if ascending else self.synced.rfind(0, first, i + 1)
                if i < 0:
                    break
            if skip:
                skip -= 1
            else:
                page.append(self.materialize(i))
            i += 1 if ascending else -1
        return page, total

    def by_updated(self, *, offset: int, limit: int, ascending: bool) -> tuple[list[dict[str, Any]], int]:
        """
        Return one page of every object in ``updated_at`` order (the storing listing's ``sort_by=updated_at``),
        and how many there are. Untouched objects were last updated when created, in index order; written ones
        carry their own ``updated_at``: the two sorted runs are merged, not the whole bucket sorted.
        """
        import heapq

        touched = sorted((self.overlay[i].get("updated_at") or self.stamp(i), i) for i in self.overlay)
        if not ascending:
            touched.reverse()
        order = range(self.count) if ascending else range(self.count - 1, -1, -1)
        untouched = ((self.stamp(i), i) for i in order if i not in self.overlay)
        merged = heapq.merge(touched, untouched, reverse=not ascending)
        page = [self.materialize(i) for _, i in itertools.islice(merged, offset, offset + limit)]
        return page, self.count
