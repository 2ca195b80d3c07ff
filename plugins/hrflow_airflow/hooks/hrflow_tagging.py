"""
The sync tag, written the safe way: re-read the object, add ``sync=1`` (and the ATS's id), PUT the copy just read;
a PUT whose answer is lost is re-read before it is tried again. A mixin of :class:`~.hrflow_api.HrFlowHook`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from hrflow_airflow.dates import as_datetime, read_datetime
from hrflow_airflow.errors import CircuitOpenError, TransientError
from hrflow_airflow.hooks.hrflow_client import HrFlowAuthError, HrFlowError, HrFlowQuotaError
from hrflow_airflow.hooks.http import one_request
from hrflow_airflow.mapping import SYNC_TAG, missing_tags, with_sync_tag

if TYPE_CHECKING:
    from hrflow_airflow.hooks.http import RetryPolicy
    from hrflow_airflow.objects import ObjectKind


class SyncTagging:
    """Tag objects ``sync=1``: needs ``get_object``, ``edit_object``, ``retry``, ``log``, ``newest_write``."""

    retry: RetryPolicy
    newest_write: str | None
    writes_lock: threading.Lock

    def add_sync_tag(self, kind: ObjectKind, container: str, key: str, extra_tags: list[dict[str, Any]] = ()) -> str:
        """
        Re-read the object and add ``sync=1`` (and ``extra_tags``) unless they are already there.

        Return ``"tagged"`` or ``"already"``. The PUT carries the copy read just before it, so edits
        made by others since the search are kept.
        """
        with one_request(self.retry.attempts) as budget:  # the re-reads and PUTs share one budget
            first = True
            while True:
                current = self.get_object(kind, container, key)
                if not missing_tags(current.get("tags"), [SYNC_TAG, *extra_tags]):
                    return "already" if first else "tagged"  # a later attempt: our lost PUT was applied
                first = False
                # the copy read just now, whole: source.key and source_key (board.key, board_key) are both kept
                try:
                    stored = self.edit_object(kind, container, with_sync_tag(current, extra_tags))
                    self.note_write(stored.get("updated_at") if isinstance(stored, dict) else None)
                    return "tagged"
                except CircuitOpenError:
                    raise
                except TransientError as exc:
                    if not budget.left:
                        raise
                    wait = self.retry.delay(budget.spent)
                    self.log.warning(
                        "%s %s: PUT answer lost (%s); re-reading before trying again in %.1fs",
                        kind.name,
                        key,
                        exc,
                        wait,
                    )
                    time.sleep(wait)

    def note_write(self, updated_at: Any) -> None:
        """Keep the newest ``updated_at`` of our own edits: the next changes listing need not read them again."""
        when = read_datetime(updated_at)
        if when is None:
            return
        with self.writes_lock:
            if self.newest_write is None or when > as_datetime(self.newest_write):
                self.newest_write = str(updated_at)

    def add_sync_tags(
        self,
        kind: ObjectKind,
        items: list[tuple[str, str]],
        *,
        concurrency: int = 8,
        extra_tags: Mapping[str, list[dict[str, Any]]] | None = None,
    ) -> list[tuple[str, str, str | None]]:
        """Tag many objects, ``concurrency`` at once; return ``(key, "tagged" | "already" | "failed", reason)`` each.

        Not-found and other HrFlow refusals fail the item; auth errors and exhausted retries raise.
        """

        def one(item: tuple[str, str]) -> tuple[str, str, str | None]:
            key, container = item
            try:
                return key, self.add_sync_tag(kind, container, key, (extra_tags or {}).get(key, ())), None
            except (HrFlowAuthError, HrFlowQuotaError):
                raise
            except HrFlowError as exc:
                return key, "failed", str(exc)

        with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="hrflow-tag") as pool:
            return list(pool.map(one, items))
