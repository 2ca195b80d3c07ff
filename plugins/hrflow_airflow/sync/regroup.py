"""The objects a request left without answer held together, so that request is sent again as it was."""

from __future__ import annotations

import threading
from typing import Any

from hrflow_airflow.sync.spill import BatchSpiller


class Regroup:
    """
    Hold the objects of each intent group (sent together in a request whose answer never came) until the whole
    group is listed, then cut it into a batch of its own: the JSON endpoint gets the same request again under the
    same ``Idempotency-Key``, however this run's other batches are cut. A group whose members are not all pending
    any more (tagged, deleted) is cut at the end of the listing with the members found.
    """

    def __init__(self, spiller: BatchSpiller, groups: dict[str, str]) -> None:
        self.spiller, self.group_of = spiller, groups
        self.missing: dict[str, int] = {}
        for group in groups.values():
            self.missing[group] = self.missing.get(group, 0) + 1
        self.held: dict[str, list[tuple[list[Any], int, Any]]] = {}
        self.lock = threading.Lock()

    def hold(self, item: list[Any], slice_number: int, created: Any) -> bool:
        """Return True when ``item`` belongs to an intent group (held, or cut with its completed group)."""
        group = self.group_of.get(item[0])
        if group is None:
            return False
        with self.lock:
            self.held.setdefault(group, []).append((item, slice_number, created))
            self.missing[group] -= 1
            done = self.held.pop(group) if not self.missing[group] else None
        if done:
            self.spiller.add_group(done)
        return True

    def close(self) -> None:
        for group in list(self.held):
            self.spiller.add_group(self.held.pop(group))
