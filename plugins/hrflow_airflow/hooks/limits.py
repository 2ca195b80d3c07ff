"""
The shared rate limiter: at most ``limit`` requests per sliding window, held on the peer's word (``Retry-After``,
or its rate-limit headers saying the window is used up). One per peer and task, shared by the task's threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import requests


class RateLimiter:
    """
    Keep to ``limit`` requests per ``interval`` seconds in any sliding window (None: no limit), shared by the
    threads of one process, and hold everyone when the server says to wait (``Retry-After``, or its
    rate-limit headers say the window is used up: other clients of the same key count there too).

    ``margin`` widens the window for transit time: stricter than a server's fixed windows.
    ``remaining_header`` / ``reset_header`` name the server's rate-limit headers; a reset header holds a
    Unix time (or, a small number, the seconds left); without one the window is ``interval`` long.
    ``limit_header`` names the header stating the window's size: once an answer carries it, the limit is the
    server's word divided by ``share`` (the tasks pacing the same key), not the documented default.
    """

    def __init__(
        self,
        limit: int | None,
        interval: float = 60.0,
        *,
        margin: float = 0.0,
        remaining_header: str | None = None,
        reset_header: str | None = None,
        limit_header: str | None = None,
        share: int = 1,
    ) -> None:
        self.limit = max(1, limit) if limit else None
        self.limit_header, self.share = limit_header, max(1, share)
        self.interval, self.margin = interval, margin
        self.remaining_header, self.reset_header = remaining_header, reset_header
        self.throttled = 0  # 429 answers seen
        self.waited_for_reset = 0  # answers that said the window was used up: everyone held until its reset
        self.sent: deque[float] = deque()
        self.hold_until = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        """Return once a request may go."""
        while True:
            with self.lock:
                now = time.monotonic()
                window = self.interval + self.margin
                while self.sent and now - self.sent[0] >= window:
                    self.sent.popleft()
                if now < self.hold_until:
                    pause = self.hold_until - now
                elif self.limit is None:
                    return
                elif len(self.sent) < self.limit:
                    self.sent.append(now)
                    return
                else:
                    pause = self.sent[0] + window - now
            time.sleep(max(pause, 0.001))

    def hold(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (the window is used up or the server asked to wait)."""
        with self.lock:
            self.hold_until = max(self.hold_until, time.monotonic() + seconds + self.margin)

    def observe(self, response: requests.Response) -> None:
        """Take the window's size from the server's header; hold until the reset once it says the window is used."""
        stated = _number(response.headers.get(self.limit_header)) if self.limit_header else None
        if stated is not None and stated >= 1:
            with self.lock:
                self.limit = max(1, int(stated) // self.share)
        remaining = _number(response.headers.get(self.remaining_header)) if self.remaining_header else None
        if remaining is not None and remaining <= 0:
            with self.lock:
                self.waited_for_reset += 1
            self.hold(self.reset_in(response))

    def reset_in(self, response: requests.Response) -> float:
        """Return the seconds until the server's window resets (from its reset header, else one interval)."""
        if self.reset_header and (reset := _number(response.headers.get(self.reset_header))) is not None:
            if reset < 1e9:  # seconds left, not a Unix time
                return min(max(reset, 0.0), self.interval)
            return min(max(reset - time.time(), 0.0), self.interval)  # a Unix time; clocks may differ
        return self.interval


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None
