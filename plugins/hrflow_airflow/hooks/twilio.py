"""
TwilioHook: SMS through Twilio Programmable Messaging with the official ``twilio`` SDK, sent at most once.

Twilio has no idempotency key for creating a message
(https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource), so a send is made
at most once like this: the intent is recorded (task state store) before the request, the message SID after
it. A retry that finds a SID sends nothing. A retry that finds only the intent lists the messages to the same
number, newest first (``GET Messages.json?To=``), back to the intent's time by their ``date_created``, and
adopts one with the same body; only if there is none does it send. It does not filter on ``DateSent``: Twilio
documents ``date_sent`` as the time the message left its platform, null while it is still queued, which is
exactly when a lost answer is retried (https://www.twilio.com/docs/messaging/api/message-resource).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from twilio.http import HttpClient
from twilio.http.response import Response

from hrflow_airflow.errors import (
    AnswerUnknownError,
    AuthError,
    BadConfigError,
    RateLimitedError,
    RefusedError,
    TransientError,
)
from hrflow_airflow.forms import TIMEOUT, Form, extra_field
from hrflow_airflow.hooks.http import (
    CircuitBreaker,
    RetryPolicy,
    connection_timeout,
    pooled_session,
    send,
    with_attempts,
)

if TYPE_CHECKING:
    from twilio.rest import Client

DEFAULT_TIMEOUT = 30.0
# Twilio errors that no retry can fix (https://www.twilio.com/docs/api/errors): fail the run, send nothing more
PERMANENT = {
    21211: "invalid 'To' phone number",
    21212: "invalid 'From' phone number",
    21606: "the 'From' number cannot send to this destination or is not this account's",
    21610: "the recipient has unsubscribed (replied STOP)",
    21614: "the 'To' number is not a mobile number",
}
AUTH_ERRORS = {20003}
RATE_LIMITED = {20429}  # documented as "never processed": safe to retry


class TransportHttpClient(HttpClient):
    """
    Twilio's SDK HTTP client interface (``twilio.http.HttpClient``) on the project's transport: one retry loop,
    one attempt budget, the circuit breaker and the timeout of every other hook. A ``POST`` (a message create)
    is not repeatable: only a 429, documented as not processed, is retried; no answer is
    :class:`AnswerUnknownError`. The SDK's own request logging (which would print the body) is not used.
    """

    def __init__(self, *, timeout: float, policy: RetryPolicy, breaker: CircuitBreaker, target: str) -> None:
        super().__init__(logger=logging.getLogger(__name__), is_async=False, timeout=timeout)
        self.policy, self.breaker, self.target = policy, breaker, target
        self.session = pooled_session(pool_size=4)

    def request(
        self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False
    ) -> Response:
        method = method.upper()
        body = {"json": data} if (headers or {}).get("Content-Type") == "application/json" else {"data": data}
        answer = send(
            self.session,
            method,
            url,
            timeout=timeout or self.timeout,
            policy=self.policy,
            target=self.target,
            breaker=self.breaker,
            repeatable=method != "POST",
            params=params,
            headers=headers,
            auth=auth,
            allow_redirects=allow_redirects,
            **body,
        )
        return Response(int(answer.status_code), answer.text, answer.headers)


class TwilioSendError(RefusedError):
    """Raise when Twilio refuses a message for good; carries Twilio's code and message."""

    def __init__(self, message: str, code: int | None, status: int = 400) -> None:
        super().__init__(message, status, message)
        self.code = code


def to_e164(number: str, region: str | None, setting: str) -> str:
    """
    Return ``number`` in E.164 (``+33612345678``), parsing local forms ("06 12 34 56 78") in ``region``.

    Raise a clear error that names ``setting`` and does not echo the number.
    """
    import phonenumbers

    try:
        parsed = phonenumbers.parse(str(number), (region or "").upper() or None)
    except phonenumbers.NumberParseException:
        raise BadConfigError(
            f"{setting} is not a phone number; use E.164 (+33...) "
            "or set extra 'default_region' (e.g. FR) for local forms"
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise BadConfigError(
            f"{setting} is not a valid phone number for its region; use E.164 (+33...) "
            "or set extra 'default_region' (e.g. FR) for local forms"
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class TwilioHook(BaseHook):
    """
    Send SMS with Twilio.

    Connection fields: login = Account SID (or an API key SID, with extra ``account_sid``), password = Auth
    Token (or the API key secret); extra ``from`` (E.164) or ``messaging_service_sid``; extra ``to``, the
    recruiter's (or, for ``hrflow_alert``, the on-call) number; extra ``default_region`` (e.g. ``FR``) for
    numbers typed in local form; host, optional, replaces ``https://api.twilio.com`` (the sandbox in tests).
    """

    conn_name_attr = "twilio_conn_id"
    default_conn_name = "sms_default"
    conn_type = "twilio"
    hook_name = "Twilio (SMS)"
    form = Form(
        fields={
            "from": extra_field(
                "From number (E.164)",
                description="A Twilio number of this account, e.g. +33756789012. Or set a Messaging Service SID.",
            ),
            "messaging_service_sid": extra_field(
                "Messaging Service SID", description="MG...; used instead of the From number when set."
            ),
            "to": extra_field(
                "Recipient number",
                description="sms_default: the recruiter who gets 'X just applied'; hrflow_alert: the on-call number.",
            ),
            "default_region": extra_field(
                "Default region for local numbers",
                description="ISO country code (e.g. FR) to read numbers typed as 06 12 34 56 78.",
            ),
            "account_sid": extra_field("Account SID (when the login is an API key SID)"),
            "timeout": TIMEOUT,
        },
        relabeling={
            "host": "API base URL (optional)",
            "login": "Account SID (or API key SID)",
            "password": "Auth Token (or API key secret)",
        },
        placeholders={"host": "https://api.twilio.com", "login": "AC...", "password": "the Auth Token"},
    )

    def __init__(
        self,
        *,
        twilio_conn_id: str = default_conn_name,
        retry: RetryPolicy | None = None,
        logger_name: str | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.twilio_conn_id = twilio_conn_id
        self.retry = with_attempts(retry or RetryPolicy())
        self.breaker = CircuitBreaker(f"Twilio ({twilio_conn_id})")

    @cached_property
    def connection(self):
        return self.get_connection(self.twilio_conn_id)

    @cached_property
    def extra(self) -> dict[str, Any]:
        return self.connection.extra_dejson

    @cached_property
    def account_sid(self) -> str:
        return self.extra.get("account_sid") or self.connection.login or ""

    @cached_property
    def client(self) -> Client:
        """Return the SDK client (built on first use), pointed at the connection's host when it has one."""
        from twilio.rest import Client

        conn = self.connection
        for value, label in (
            (conn.login, "login (Account SID or API key SID)"),
            (conn.password, "password (Auth Token)"),
        ):
            if not value:
                raise BadConfigError(f"Connection '{self.twilio_conn_id}' has no {label}")
        if not (self.extra.get("from") or self.extra.get("messaging_service_sid")):
            raise BadConfigError(
                f"Connection '{self.twilio_conn_id}' needs extra 'from' (an E.164 number) or 'messaging_service_sid'"
            )
        transport = TransportHttpClient(
            timeout=connection_timeout(conn, self.twilio_conn_id, DEFAULT_TIMEOUT),
            policy=self.retry,
            breaker=self.breaker,
            target=f"Twilio ({self.twilio_conn_id})",
        )
        client = Client(
            username=conn.login, password=conn.password, account_sid=self.account_sid, http_client=transport
        )
        if conn.host:
            client.api.base_url = conn.host.rstrip("/")
        return client

    def get_conn(self) -> Client:
        return self.client

    def recipient(self, to: str | None = None) -> str:
        """Return the recipient in E.164: ``to`` if given (alerts), else the connection's extra ``to``."""
        raw = to or self.extra.get("to")
        setting = "the alert recipient" if to else f"extra 'to' of connection '{self.twilio_conn_id}'"
        if not raw:
            raise BadConfigError(f"Connection '{self.twilio_conn_id}' has no extra 'to' (the recruiter's number)")
        return to_e164(raw, self.extra.get("default_region"), setting)

    # -- sending ------------------------------------------------------------------------------
    def send_sms(
        self,
        text: str,
        *,
        idempotency_key: str,
        to: str | None = None,
        store: MutableMapping[str, Any] | Any | None = None,
    ) -> tuple[str, bool]:
        """
        Send ``text`` at most once for ``idempotency_key``; return ``(message SID, sent_now)``.

        ``store`` is the task state store (``get``/``set``); without it, the messages already sent to the
        recipient are looked up before every send.
        """
        recipient = self.recipient(to)
        state = store.get(idempotency_key) if store is not None else None
        if isinstance(state, dict) and state.get("sid"):
            self.log.info(
                "SMS %s was sent in an earlier try (message %s); not sending again", idempotency_key, state["sid"]
            )
            return state["sid"], False
        since = state.get("intent") if isinstance(state, dict) else None
        if store is None or since:
            adopted = self._already_sent(recipient, text, since)
            if adopted:
                self.log.info(
                    "SMS %s found at Twilio (message %s), sent before its answer was lost; adopting it",
                    idempotency_key,
                    adopted,
                )
                if store is not None:
                    store.set(idempotency_key, {"sid": adopted})
                return adopted, False
        if store is not None:
            store.set(idempotency_key, {"intent": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        sid = self._create(recipient, text)
        if store is not None:
            store.set(idempotency_key, {"sid": sid})
        self.log.info("SMS %s sent through Twilio: message %s", idempotency_key, sid)
        return sid, True

    def _already_sent(self, recipient: str, text: str, since: str | None) -> str | None:
        """
        Return the SID of a message with this body created for ``recipient`` since ``since`` (a day back if None).

        Read the list newest first, page by page, and stop at the first message created before ``since`` (less
        five minutes for clock skew): queued and sent messages alike, whatever their ``date_sent``.
        """
        start = datetime.fromisoformat(since) if since else datetime.now(timezone.utc) - timedelta(days=1)
        oldest = start - timedelta(minutes=5)

        def scan() -> str | None:
            for message in self.client.messages.stream(to=recipient, page_size=50):
                if message.date_created is not None and message.date_created < oldest:
                    return None
                if message.body == text:
                    return message.sid
            return None

        return self._call(scan, "list messages")

    def _create(self, recipient: str, text: str) -> str:
        kwargs = {"to": recipient, "body": text}
        if self.extra.get("messaging_service_sid"):
            kwargs["messaging_service_sid"] = self.extra["messaging_service_sid"]
        else:
            kwargs["from_"] = to_e164(
                self.extra["from"],
                self.extra.get("default_region"),
                f"extra 'from' of connection '{self.twilio_conn_id}'",
            )
        return self._call(lambda: self.client.messages.create(**kwargs), "send").sid

    def _call(self, request, what: str):
        """Run one SDK request (retried by the transport); raise the package's typed errors, naming Twilio's code."""
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            return request()
        except TwilioRestException as exc:
            code, status = exc.code, exc.status
            text = f"Twilio {what} ({self.twilio_conn_id}): error {code}: {exc.msg}"
            if code in AUTH_ERRORS or status in (401, 403):
                raise AuthError(
                    f"{text} (check the Account SID and Auth Token of connection '{self.twilio_conn_id}')",
                    status,
                    f"error {code}",
                ) from None
            if code in PERMANENT:
                raise TwilioSendError(f"{text} ({PERMANENT[code]}); not retried", code, status) from None
            if code in RATE_LIMITED or status == 429:
                raise RateLimitedError(f"{text}: still rate-limited after every attempt") from None
            if status >= 500:  # a create may have been accepted: the task's retry looks the message up first
                raise (AnswerUnknownError if what == "send" else TransientError)(text) from None
            raise TwilioSendError(text, code, status) from None
        except TwilioException as exc:  # a list page that could not be read (the transport retried it)
            status = getattr(exc.args[1], "status_code", None) if len(exc.args) > 1 else None
            raise TransientError(f"Twilio {what} ({self.twilio_conn_id}): {exc.args[0]} (HTTP {status})") from None

    def test_connection(self) -> tuple[bool, str]:
        """Check the credentials (fetch the account) and that the numbers parse; send nothing."""
        try:
            _ = self.client
            for key in ("to", "from"):
                if self.extra.get(key):
                    to_e164(self.extra[key], self.extra.get("default_region"), f"extra '{key}'")
            self._call(lambda: self.client.api.v2010.accounts(self.account_sid).fetch(), "fetch account")
        except (BadConfigError, RefusedError, TransientError) as exc:
            return False, str(exc)
        except Exception as exc:
            return False, f"Cannot reach Twilio for connection '{self.twilio_conn_id}': {type(exc).__name__}: {exc}"
        return True, f"Twilio account {self.account_sid} reachable; numbers valid. Nothing was sent."
