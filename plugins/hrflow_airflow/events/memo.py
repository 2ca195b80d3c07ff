"""A read reused for a few seconds: deliveries then read nothing of Airflow's metadata database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

SECRET_TTL = 10.0  # seconds a read of the webhook secrets is reused: a rotation is seen within this
POOL_TTL = 30.0  # seconds "the pool exists" is reused (a missing pool is looked up on every delivery)


def remembered(read: Callable[[], Any], seconds: float, keep: Callable[[Any], bool] = lambda _: True) -> Callable:
    """
    Return ``read``, its result reused for ``seconds`` when ``keep(result)``; errors are never reused. Deliveries
    then read nothing of Airflow's metadata database (SQLite blocks readers while a writer commits).
    """
    lock, memo = threading.Lock(), {}

    def call() -> Any:
        with lock:
            if "value" in memo and time.monotonic() - memo["at"] < seconds:
                return memo["value"]
        value = read()
        if keep(value):
            with lock:
                memo.update(value=value, at=time.monotonic())
        return value

    return call
