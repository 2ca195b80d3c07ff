"""The Twilio Programmable Messaging emulator: ``/twilio/2010-04-01/...``, reached by the official SDK."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from sandbox.faults import Fault
from sandbox.objects import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_MAGIC_FROM, TWILIO_MAGIC_TO


def _sent_on(message: dict[str, Any], day: dict[str, str | None]) -> bool:
    """Tell whether ``message`` passes Twilio's DateSent filters: GMT days; a message not sent yet passes none."""
    if not any(day.values()):
        return True
    if message["date_sent"] is None:
        return False
    sent = parsedate_to_datetime(message["date_sent"]).strftime("%Y-%m-%d")
    on, before, after = (value[:10] if value else None for value in (day[""], day["<"], day[">"]))
    return (on is None or sent == on) and (before is None or sent <= before) and (after is None or sent >= after)


def twilio_error(code: int, message: str, status: int) -> dict[str, Any]:
    """Return Twilio's REST error body."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def twilio_refusal(form: dict[str, str]) -> dict | None:
    """Return the 400 error a create form gets (a missing field, a magic test number, a bad number), or None."""
    to, sender, service, text = form.get("To"), form.get("From"), form.get("MessagingServiceSid"), form.get("Body")
    if not to:
        return twilio_error(21604, "A 'To' phone number is required.", 400)
    if not (sender or service):
        return twilio_error(21603, "A 'From' phone number or MessagingServiceSid is required.", 400)
    if not text:
        return twilio_error(21602, "Message body is required.", 400)
    if to in TWILIO_MAGIC_TO or not re.fullmatch(r"\+[1-9]\d{6,14}", to):
        code, message = TWILIO_MAGIC_TO.get(to, (21211, f"The 'To' number {to} is not a valid phone number."))
        return twilio_error(code, message, 400)
    if sender in TWILIO_MAGIC_FROM:
        code, message = TWILIO_MAGIC_FROM[sender]
        return twilio_error(code, message, 400)
    return None


class TwilioRoutes:
    """The Twilio Programmable Messaging emulator: ``/twilio/2010-04-01/...``, reached by the official SDK."""

    def _twilio(self, method: str, route: str, query: str, body: bytes, fault: Fault | None) -> None:
        """
        Twilio's Message resource, as its API reference describes it
        (https://www.twilio.com/docs/messaging/api/message-resource): HTTP basic auth with the Account SID (or an
        API key SID) and the Auth Token; ``POST /2010-04-01/Accounts/{Sid}/Messages.json`` form-encoded with
        ``To``, ``From`` or ``MessagingServiceSid``, ``Body``, answered 201 with the message resource;
        ``GET .../Messages.json`` lists them newest first, filtered by ``To`` and by ``DateSent`` /
        ``DateSent<`` / ``DateSent>`` (the GMT date ``YYYY-MM-DD`` only: on, on or before, on or after that day),
        ``PageSize`` up to 1000 (https://www.twilio.com/docs/messaging/api/message-resource#read-multiple-message-
        resources); ``GET /2010-04-01/Accounts/{Sid}.json`` is the account. A created message is ``queued`` with
        ``date_sent`` null, "the date that the message was sent from Twilio's platform": it is sent (status
        ``sent``, ``date_sent`` set) ``twilio_send_after`` seconds later, so a DateSent filter cannot see it
        before. Errors are ``{code, message, more_info, status}``; the magic test numbers of Twilio's
        test credentials give 21211 / 21610 / 21614 (To) and 21212 / 21606 (From).
        """
        import base64

        auth = self.headers.get("Authorization", "")
        try:
            user, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            user = password = ""
        if not auth.startswith("Basic ") or user != TWILIO_ACCOUNT_SID or password != TWILIO_AUTH_TOKEN:
            return self._send(
                401, twilio_error(20003, "Authenticate", 401), {"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
        account = f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}"
        if route == f"{account}.json" and method == "GET":
            return self._send(200, {"sid": TWILIO_ACCOUNT_SID, "status": "active", "type": "Full"})
        if route != f"{account}/Messages.json":
            return self._send(404, twilio_error(20404, f"The requested resource {route} was not found", 404))
        if method == "GET":
            return self._twilio_list(account, parse_qs(query))
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        if (refusal := twilio_refusal(form)) is not None:
            return self._send(400, refusal)
        message = self._twilio_queue(account, form)
        if not self._after_apply(fault):  # accepted and queued by Twilio, whatever answer follows
            self._send(201, message)

    def _twilio_queue(self, account: str, form: dict[str, str]) -> dict:
        """Queue one message (``date_sent`` null until it is sent) and note it as received; return its resource."""
        to, sender, service, text = form["To"], form.get("From"), form.get("MessagingServiceSid"), form["Body"]
        now = datetime.now(timezone.utc)
        with self.state.lock:
            sid = "SM" + hashlib.sha1(f"{len(self.state.twilio_messages)}/{to}/{text}".encode()).hexdigest()[:32]
            message = {
                "sid": sid,
                "account_sid": TWILIO_ACCOUNT_SID,
                "to": to,
                "from": sender,
                "messaging_service_sid": service,
                "body": text,
                "status": "queued",
                "direction": "outbound-api",
                "date_created": now.strftime("%a, %d %b %Y %H:%M:%S +0000"),
                "date_updated": now.strftime("%a, %d %b %Y %H:%M:%S +0000"),
                "date_sent": None,  # queued: not sent yet
                "num_segments": "1",
                "num_media": "0",
                "error_code": None,
                "error_message": None,
                "price": None,
                "price_unit": "USD",
                "api_version": "2010-04-01",
                "uri": f"{account}/Messages/{sid}.json",
                "subresource_uris": {},
            }
            self.state.twilio_messages.append(message)
            self.state.sms.received_at.append(time.time())
            self.state.sms.bodies.append({"text": text, "to": to, "via": "twilio"})
        return message

    def _twilio_list(self, account: str, params: dict[str, list[str]]) -> None:
        """Answer one page of the Message list, newest first, after sending the messages whose time has come."""
        now = datetime.now(timezone.utc)
        day = {op: (params.get(f"DateSent{op}") or [None])[0] for op in ("", "<", ">")}
        to = (params.get("To") or [None])[0]
        size = min(int((params.get("PageSize") or ["50"])[0]), 1000)
        page = int((params.get("Page") or ["0"])[0])
        with self.state.lock:
            for m in self.state.twilio_messages:
                created = parsedate_to_datetime(m["date_created"])
                if m["date_sent"] is None and (now - created).total_seconds() >= self.state.twilio_send_after:
                    m["status"], m["date_sent"] = "sent", now.strftime("%a, %d %b %Y %H:%M:%S +0000")
                    m["date_updated"] = m["date_sent"]
            found = [m for m in self.state.twilio_messages[::-1] if to in (None, m["to"]) and _sent_on(m, day)]
            chunk = [dict(m) for m in found[page * size : (page + 1) * size]]
        more = (page + 1) * size < len(found)
        base = f"{account}/Messages.json?{urlencode({k: v[-1] for k, v in params.items() if k != 'Page'})}"
        self._send(
            200,
            {
                "messages": chunk,
                "end": page * size + max(len(chunk) - 1, 0),
                "first_page_uri": f"{base}&Page=0",
                "next_page_uri": f"{base}&Page={page + 1}" if more else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": f"{base}&Page={page - 1}" if page else None,
                "start": page * size,
                "uri": f"{base}&Page={page}",
            },
        )
