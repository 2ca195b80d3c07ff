"""
The sandbox HrFlow's webhook: after each update through the API (``PUT /profile/indexing``, ``PUT /job/indexing``)
it posts ``<kind>.storing.update`` to the configured URL, as HrFlow does for "an existing Profile updated
successfully" ("Create, Configure a Webhook", https://developers.hrflow.ai/docs/connectors-webhook): a JSON array
of ``{type, origin, message, <kind>}`` events carrying the whole object, signed in ``HTTP-HRFLOW-SIGNATURE``.

Deliveries leave from one background thread, in order, after the PUT was answered (HrFlow sends them
asynchronously). Off until ``POST /_sandbox/webhook {"url": ..., "secret": ...}``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time

import requests

from sandbox.objects import WEBHOOK_SECRET

log = logging.getLogger(__name__)


class WebhookSender:
    """Post signed deliveries, one at a time, from a daemon thread; count what was sent and answered."""

    def __init__(self, url: str, secret: str = WEBHOOK_SECRET) -> None:
        self.url, self.secret = url, secret
        self.queue: queue.Queue[tuple[str, str, bytes] | None] = queue.Queue()
        self.sent: list[dict] = []  # {"type", "key", "status", "at"} per delivery
        self.announced = 0  # deliveries queued so far; each is in ``sent`` once answered (or failed)
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, name="sandbox-hrflow-webhook", daemon=True)
        self.thread.start()

    def announce(self, event_type: str, kind: str, obj: dict) -> None:
        """Queue one delivery announcing ``obj`` (the whole object, as HrFlow sends it)."""
        message = {"update": f"{kind.title()} updated", "success": f"{kind.title()} stored"}[event_type.split(".")[-1]]
        body = json.dumps([{"type": event_type, "origin": "api", "message": message, kind: obj}]).encode()
        with self.lock:  # the sandbox answers PUTs on several threads
            self.announced += 1
        self.queue.put((event_type, obj.get("key"), body))

    def run(self) -> None:
        from hrflow_airflow.events.signing import SIGNATURE_HEADER, sign

        while (item := self.queue.get()) is not None:
            event_type, key, body = item
            try:
                answer = requests.post(
                    self.url, data=body, timeout=10, headers={SIGNATURE_HEADER: sign(self.secret, body)}
                )
                status = answer.status_code
            except requests.RequestException as exc:
                log.warning("sandbox webhook to %s failed: %s", self.url, exc)
                status = 0
            self.sent.append({"type": event_type, "key": key, "status": status, "at": time.time()})

    def idle(self) -> bool:
        """Return whether every delivery queued so far was sent and answered (none waits, none is in flight)."""
        return len(self.sent) == self.announced

    def stop(self) -> None:
        self.queue.put(None)

    def summary(self) -> dict:
        """Return the deliveries sent so far, by type, and how many were answered 200."""
        by_type: dict[str, int] = {}
        for one in list(self.sent):
            by_type[one["type"]] = by_type.get(one["type"], 0) + 1
        return {
            "sent": len(self.sent),
            "ok": sum(1 for one in self.sent if one["status"] == 200),
            "by_type": by_type,
            "pending": self.queue.qsize(),
        }
