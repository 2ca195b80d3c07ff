"""The control plane (``/_sandbox/...``): seed objects, inject latency and faults, read what was received."""

from __future__ import annotations

import html
import json
import time

from sandbox.faults import Fault
from sandbox.object_fields import holder
from sandbox.objects import WEBHOOK_SECRET
from sandbox.state import SandboxState
from sandbox.webhooks import WebhookSender


class ControlRoutes:
    """The control plane (``/_sandbox/...``): seed objects, inject latency and faults, read what was received."""

    def _control(self, method: str, route: str, query: dict[str, str], body: bytes) -> None:
        data = json.loads(body) if body else {}
        if route == "state":
            return self._send(200, self.state.snapshot())
        if route == "health":
            return self._send(200, {"ok": True})
        if route == "inbox":
            return self._send_raw(200, inbox_html(self.state).encode(), {"Content-Type": "text/html; charset=utf-8"})
        if method != "POST":
            return self._send(405, {"error": "POST only"})
        if self._control_objects(route, data) or self._control_counts(route, data):
            return None
        if self._control_behaviour(route, data) or self._control_webhook(route, data):
            return None
        self._send(404, {"error": f"unknown control route {route}"})

    def _control_objects(self, route: str, data: dict) -> bool:
        """Reset, seed or edit HrFlow's objects; return whether ``route`` was one of these."""
        if route == "reset":
            self.state.reset()
            self._send(200, {"ok": True})
        elif route == "seed":
            keys = self.state.seed(
                data.get("kind", "profile"),
                data["container"],
                int(data["count"]),
                start=int(data.get("start", 0)),
                tags=data.get("tags"),
                created_at=data.get("created_at"),
                spread_seconds=int(data.get("spread_seconds", 0)),
                generated=bool(data.get("generated")),
                realistic=bool(data.get("realistic")),
            )
            if data.get("generated"):  # a million-object run: count what the receivers applied, keep no bodies
                self.state.keep_bodies = False
            self._send(200, {"keys": keys})
        elif route == "edit":  # {"kind", "container", "every": n}: a recruiter renames every n-th object (by index)
            kind, container, every = data.get("kind", "profile"), data["container"], int(data["every"])
            with self.state.lock:
                keys = list(self.state.objects[kind][container])[:: max(1, every)]
            for key in keys:
                self.state.update(kind, container, key, lambda o: holder(o).update(last_name="Edited"))
            self._send(200, {"keys": len(keys)})
        elif route == "edit_on_arrival":
            with self.state.lock:
                self.state.edit_on_arrival.update(data.get("keys", []))
            self._send(200, {"ok": True})
        else:
            return False
        return True

    def _control_counts(self, route: str, data: dict) -> bool:
        """Answer what was received, counted here (not a 100 MB snapshot); return whether ``route`` was one."""
        if route == "calls":  # request counts without the (large) synced and applied lists of "state"
            with self.state.lock:
                answer = {"calls": dict(self.state.calls), "max_in_flight": dict(self.state.max_in_flight)}
            self._send(200, answer)
        elif route == "updates":  # {"ats": "profiles"}: upserts the JSON receiver applied, and their keys' count
            area = self.state.ats_area(data.get("ats", "profiles"))
            with self.state.lock:
                answer = {"updates": sum(area.updates.values()), "keys": len(area.updates)}
            self._send(200, answer)
        elif route == "exactly_once":  # {"kind", "container", "ats"}
            kind, ats = data.get("kind", "profile"), data.get("ats", "profiles")
            self._send(200, self.state.exactly_once(kind, data["container"], ats))
        else:
            return False
        return True

    def _control_behaviour(self, route: str, data: dict) -> bool:
        """Set faults, latency and how the emulators behave; return whether ``route`` was one of these."""
        if route == "faults":
            with self.state.lock:
                self.state.faults.extend(Fault(**f) for f in data.get("faults", []))
            self._send(200, {"ok": True})
        elif route == "latency":
            self.state.latency.update({k: float(v) for k, v in data.items()})
            self._send(200, self.state.latency)
        elif route == "receiver":  # {"honour_idempotency": false}: an ATS that ignores Idempotency-Key
            self.state.honour_idempotency = bool(data.get("honour_idempotency", True))
            self._send(200, {"honour_idempotency": self.state.honour_idempotency})
        elif route == "date_filters":  # {"date_only": true}: created_at_min / _max honoured by their date only
            self.state.date_only_filters = bool(data.get("date_only"))
            self._send(200, {"date_only": self.state.date_only_filters})
        elif route == "result_window":  # {"max_result_window": 10000 | null}
            self.state.max_result_window = data.get("max_result_window")
            self._send(200, {"max_result_window": self.state.max_result_window})
        elif route == "hold":  # arm: the next ATS POST is applied, its answer held until /_sandbox/release
            self.state.hold_next_ats_answer()
            self._send(200, {"ok": True})
        elif route == "release":
            with self.state.lock:
                holds = list(self.state.holds)
            for hold in holds:
                hold["release"].set()
            self._send(200, {"released": len(holds)})
        else:
            return False
        return True

    def _control_webhook(self, route: str, data: dict) -> bool:
        """Turn HrFlow's webhook on or off, or count what it sent; return whether ``route`` was one of these."""
        if route == "webhook":  # {"url": ..., "secret": ...}: HrFlow's webhook after each PUT; {"url": null}: off
            if self.state.webhook is not None:
                self.state.webhook.stop()
            url = data.get("url")
            self.state.webhook = WebhookSender(url, data.get("secret") or WEBHOOK_SECRET) if url else None
            self._send(200, {"ok": True})
        elif route == "webhook_sent":
            self._send(200, self.state.webhook.summary() if self.state.webhook else {"sent": 0, "ok": 0})
        else:
            return False
        return True


def inbox_html(state: SandboxState) -> str:
    """Return the messaging service's received SMS as a phone-like HTML page (newest first)."""
    with state.lock:
        messages = list(zip(state.sms.bodies, state.sms.received_at))[::-1]
    items = "".join(
        f'<li><div class="meta">to {html.escape(str(body.get("to", "(default recipient)")))} · '
        f"{time.strftime('%H:%M:%S', time.gmtime(at))} UTC</div>"
        f'<div class="text">{html.escape(body["text"])}</div></li>'
        for body, at in messages
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Sandbox SMS inbox</title><style>"
        "body{font-family:sans-serif;background:#f2f2f7;margin:0;padding:24px}h1{font-size:20px}"
        "ul{list-style:none;padding:0;max-width:760px}li{background:#fff;border-radius:14px;padding:14px 18px;"
        "margin:12px 0;box-shadow:0 1px 3px #0002}.meta{color:#666;font-size:13px;margin-bottom:6px}"
        ".text{font-size:15px;line-height:1.4;word-break:break-all}</style></head><body>"
        f"<h1>Messaging service (sandbox): {len(messages)} SMS received</h1><ul>{items}</ul></body></html>"
    )
