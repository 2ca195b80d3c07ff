"""The recording receivers: the ATS JSON endpoint (``/ats/<kind>``) and the messaging service (``/sms``)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from sandbox.faults import Fault
from sandbox.state import Area


class ReceiverRoutes:
    """The recording receivers: the ATS JSON endpoint (``/ats/<kind>``) and the messaging service (``/sms``)."""

    def _receiver(self, area: Area, api_key: str, body: bytes, name: str, fault: Fault | None) -> None:
        if self.headers.get("X-API-KEY") != api_key:
            return self._send(401, {"error": "invalid X-API-KEY"})
        if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
            return self._send(415, {"error": "Content-Type must be application/json"})
        idem = self.headers.get("Idempotency-Key")
        if not idem:
            return self._send(400, {"error": "Idempotency-Key header is required"})
        try:
            payload = json.loads(body)
        except ValueError:
            return self._send(400, {"error": "body is not JSON"})
        with self.state.lock:
            area.requests += 1
            honour = self.state.sms_honours_idempotency if name == "sms" else self.state.honour_idempotency
            if honour and idem in area.responses:
                area.replays += 1
                status, response = area.responses[idem]
                return self._send(status, response, {"Idempotent-Replayed": "true"})
            status, response = self._apply(area, name, payload)
            area.responses[idem] = (status, response)
            hold, self.state.hold = (self.state.hold, None) if name != "sms" else (None, self.state.hold)
        if 200 <= status < 300 and (hold is not None or (fault and (fault.lose_response or fault.applied_status))):
            with self.state.lock:  # applied, and the caller will not hear so: a retry may bring it again
                area.unanswered.update(r["hrflow_key"] for r in payload.get(name, []) if isinstance(r, dict))
        if hold is not None:  # applied; the answer waits for the test (which kills the task meanwhile)
            hold["held"].set()
            hold["release"].wait(300)
        if not self._after_apply(fault):
            self._send(status, response)

    def _apply(self, area: Area, name: str, payload: Any) -> tuple[int, dict]:
        if name == "sms":
            if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
                return 422, {"error": 'body must be {"text": string}'}
            area.bodies.append(payload)
            area.received_at.append(time.time())
            area.applied[payload["text"]] += 1
            return 201, {"status": "queued"}
        records = payload.get(name) if isinstance(payload, dict) else None
        if not isinstance(records, list) or not all(isinstance(r, dict) and r.get("hrflow_key") for r in records):
            return 422, {"error": f'body must be {{"{name}": [records with hrflow_key]}}'}
        mode = payload.get("mode")
        if mode not in (None, "upsert", "archive", "delete"):
            return 422, {"error": f"mode must be 'upsert', 'archive' or 'delete' when given, got {mode!r}"}
        if mode in ("archive", "delete"):  # records carry only hrflow_key; removing twice leaves the same state
            for record in records:
                area.removed[record["hrflow_key"]] += 1
                area.removed_how[record["hrflow_key"]] = mode
                if mode == "delete":
                    area.current.pop(record["hrflow_key"], None)
            return 200, {"removed": len(records)}
        # per-record validation; a refused batch applies nothing (the wire format, docs/destinations.md)
        refused = {r["hrflow_key"]: reason for r in records if (reason := self._refusal(r))}
        if refused:
            body: dict[str, Any] = {"error": "validation failed"}
            if self.state.ats_name_refusals:
                body["errors"] = [{"hrflow_key": key, "message": reason} for key, reason in refused.items()]
            else:
                body["error"] = f"validation failed: {next(iter(refused.values()))}"
            return 422, body
        if mode == "upsert":  # each record replaces the fields it carries of the record with its hrflow_key
            for record in records:
                area.updates[record["hrflow_key"]] += 1
                if self.state.keep_bodies:
                    area.current.setdefault(record["hrflow_key"], {}).update(record)
            return 200, {"updated": len(records)}
        if self.state.keep_bodies:
            area.bodies.append(payload)
        for record in records:
            area.applied[record["hrflow_key"]] += 1
            if self.state.keep_bodies:
                area.current[record["hrflow_key"]] = dict(record)
        if self.state.on_ats_post:
            self.state.on_ats_post(name, records)
        for record in records:
            if record["hrflow_key"] in self.state.edit_on_arrival:
                self.state.edit_on_arrival.discard(record["hrflow_key"])
                threading.Thread(target=self.state.third_party_edit, args=(record["hrflow_key"],), daemon=True).start()
        return 200, {"accepted": len(records)}

    def _refusal(self, record: dict) -> str | None:
        """Return why the ATS refuses ``record`` (echoing the bad value, as real ATSs do), or None."""
        if record["hrflow_key"] in self.state.ats_reject_keys:
            return self.state.ats_reject_keys[record["hrflow_key"]]
        email = record.get("email")
        if isinstance(email, str) and email and "@" not in email:
            return f"field 'email' is invalid: '{email}' is not an email address"
        return None
