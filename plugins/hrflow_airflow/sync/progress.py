"""The listing's progress: a log line every few seconds and the ``hrflow.progress.listed`` metric."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from hrflow_airflow.alerts.metrics import duration_text, emit_counts
from hrflow_airflow.objects import ObjectKind

log = logging.getLogger(__name__)


class Progress:
    """Log the listing's progress every ``every`` seconds: objects so far, the rate, and the time left."""

    def __init__(
        self, kind: ObjectKind, estimate: int, every: float = 10.0, tags: Mapping[str, str] | None = None
    ) -> None:
        self.kind, self.estimate, self.every, self.tags = kind, estimate, every, dict(tags or {})
        self.started = self.last = time.monotonic()
        self.counted = 0  # objects already counted in hrflow.progress.listed
        self.lock = threading.Lock()  # the listing's slices report from their threads

    def __call__(self, listed: int, meta: Mapping[str, Any]) -> None:
        now = time.monotonic()
        with self.lock:
            if now - self.last < self.every:
                return
            self.last = now
            self.finish(listed)
        rate = listed / max(now - self.started, 1e-9)
        left = max(self.estimate - listed, 0)
        log.info(
            "Listing: %s of about %s %s read (%s%%), %.0f/s, about %s left",
            listed,
            self.estimate,
            self.kind.plural,
            min(100, round(100 * listed / self.estimate)) if self.estimate else 100,
            rate,
            duration_text(left / rate) if rate else "?",
        )

    def finish(self, listed: int) -> None:
        """Count the objects listed since the last count in ``hrflow.progress.listed``."""
        emit_counts("progress", {"listed": listed - self.counted}, self.tags)
        self.counted = listed
