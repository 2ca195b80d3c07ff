"""Hooks for JSON endpoints guarded by an ``X-API-KEY`` header: the ATS and the messaging service."""

from __future__ import annotations

from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import requests

from hrflow_airflow.errors import (
    BadConfigError,
    OutcomeUnknownError,
    RateLimitedError,
    RefusedError,
    TransientError,
)
from hrflow_airflow.forms import extra_field, json_endpoint_form
from hrflow_airflow.hooks.json_api import JsonApiHook


class ApiKeyJsonHook(JsonApiHook):
    """
    POST JSON to one endpoint with ``X-API-KEY`` and an ``Idempotency-Key``, retrying 429/5xx/connection errors.

    Connection fields: host = full endpoint URL, password = API key, extra ``timeout`` in seconds.
    Connections of type ``http`` (environment variables, secrets backends) work the same as the types
    registered for the UI form.
    """

    conn_type = "http"
    conn_name_attr = "conn_id"
    service = "endpoint"
    placeholder_url = "https://example.com/api"

    @cached_property
    def base_url(self) -> str:
        """Return the endpoint's full URL (host, or scheme, host and port as separate fields)."""
        conn = self.connection
        host = (conn.host or "").strip()
        if not host:
            raise BadConfigError(f"Connection '{self.conn_id}' has no host: set it to the full {self.service} URL")
        if "://" in host:
            return host
        port = f":{conn.port}" if conn.port else ""
        return f"{conn.schema or 'https'}://{host}{port}"

    @property
    def url(self) -> str:
        return self.base_url

    def auth_headers(self, secret: str) -> dict[str, str]:
        return {"X-API-KEY": secret, "Content-Type": "application/json"}

    def test_connection(self) -> tuple[bool, str]:
        """
        Check what can be checked without side effects: the URL's shape, the key's presence, the timeout.

        Nothing is sent: a POST to the endpoint would create an ATS record or send an SMS.
        """
        conn = self.connection
        host = (conn.host or "").strip()
        if not host:
            return (
                False,
                f"Connection '{self.conn_id}': the {self.service} URL (host) is empty; e.g. {self.placeholder_url}",
            )
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False, (
                f"Connection '{self.conn_id}': the {self.service} URL must start with https:// (or http://) "
                f"and name a host, e.g. {self.placeholder_url}"
            )
        if not conn.password:
            return False, f"Connection '{self.conn_id}': the {self.service} API key (password) is empty"
        try:
            _ = self.timeout
        except BadConfigError as exc:
            return False, str(exc)
        return True, (
            f"Connection '{self.conn_id}' looks right: {parts.scheme}://{parts.netloc}, API key set. "
            f"Nothing was sent (a request would create data at the {self.service})."
        )

    def post_json(self, body: Any, *, idempotency_key: str, repeatable: bool = True) -> requests.Response:
        """
        POST ``body`` and return the 2xx response.

        Raise :class:`RefusedError` on other 4xx and :class:`TransientError` once retries are exhausted.
        ``repeatable=False``: only a 429 is retried here (see :func:`~hrflow_airflow.hooks.http.send`).
        """
        return self.request(
            "POST", "", json=body, headers={"Idempotency-Key": idempotency_key}, safe_to_repeat=repeatable
        )


class AtsHook(ApiKeyJsonHook):
    """POST batches of records to the ATS: ``{"<plural>": [record, ...]}``."""

    conn_name_attr = "ats_conn_id"
    default_conn_name = "ats_default"
    conn_type = "hrflow_ats"
    also_conn_types = ("http",)  # Airflow's own type (environment variables, secrets backends): no form of ours
    hook_name = "ATS (JSON endpoint)"
    engine = "hrflow_airflow.destinations.json_batch:JsonBatchDestination"  # a name: hooks import no destination
    form = json_endpoint_form(
        "ATS endpoint URL", "https://ats.example.com/api/hrflow/profiles", "ATS API key (sent as X-API-KEY)"
    )
    service = "ATS"
    placeholder_url = "https://ats.example.com/api/hrflow/profiles"

    def __init__(self, *, ats_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=ats_conn_id, **kwargs)

    def post_records(
        self, body_key: str, records: list[dict[str, Any]], *, idempotency_key: str, mode: str | None = None
    ) -> requests.Response:
        """POST ``{body_key: records}`` (``"mode"``: "upsert", "archive" or "delete": see docs/destinations.md)."""
        return self.post_json({**({"mode": mode} if mode else {}), body_key: records}, idempotency_key=idempotency_key)


class MessagingHook(ApiKeyJsonHook):
    """
    Send one SMS: ``{"text": ...}``, plus ``"to"`` when the recipient is not the connection's default.

    At most once without the endpoint's help: most SMS gateways ignore ``Idempotency-Key``. The intent is
    recorded in ``store`` before the request and the answer after it. A request whose answer is lost (no
    answer, a 5xx) may have been sent: it is not sent again, and :class:`MessageUnknownError` names its key.
    Set the connection's extra ``idempotency_key_honoured`` to true only for an endpoint that documents
    replaying a repeated key: then a lost answer is retried with the same key instead.
    """

    conn_name_attr = "sms_conn_id"
    default_conn_name = "sms_default"
    conn_type = "hrflow_messaging"
    hook_name = "Messaging service (JSON endpoint)"
    form = json_endpoint_form(
        "Messaging endpoint URL",
        "https://sms.example.com/send",
        "Messaging API key (sent as X-API-KEY)",
        phone=extra_field(
            "Recipient phone (alerts: the on-call number)",
            description="Only for hrflow_alert: where failure and deadline alerts go.",
        ),
        idempotency_key_honoured=extra_field(
            "The endpoint honours Idempotency-Key",
            "boolean",
            default=False,
            description=(
                "Tick only if the endpoint documents replaying a repeated Idempotency-Key: a send whose answer was "
                "lost is then retried with the same key. Unticked (most gateways), it is never sent twice and the "
                "run reports it by key."
            ),
        ),
    )
    service = "messaging service"
    placeholder_url = "https://sms.example.com/send"

    def __init__(self, *, sms_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(conn_id=sms_conn_id, **kwargs)

    @cached_property
    def key_honoured(self) -> bool:
        return str(self.connection.extra_dejson.get("idempotency_key_honoured", "")).lower() in ("true", "1", "yes")

    def send_sms(
        self, text: str, *, idempotency_key: str, to: str | None = None, store: Any = None
    ) -> tuple[str, bool]:
        """
        Send one SMS at most once for ``idempotency_key``; return ``(reference, sent_now)``.

        ``store`` (``get``/``set``: the task state store, or :class:`~hrflow_airflow.events.outbox.MessageRecords`)
        holds ``{"intent": time}`` during the request and ``{"sent": time}`` after it.
        """
        state = store.get(idempotency_key) if store is not None else None
        if state == "sent" or (isinstance(state, dict) and "sent" in state):
            self.log.info("SMS %s was sent in an earlier try; not sending again", idempotency_key)
            return idempotency_key, False
        if isinstance(state, dict) and "intent" in state and not self.key_honoured:
            raise MessageUnknownError(idempotency_key, self.conn_id, f"an earlier try at {state['intent']}")
        if store is not None:
            store.set(idempotency_key, {"intent": _now()})
        body = {"text": text, **({"to": to} if to else {})}
        try:
            self.post_json(body, idempotency_key=idempotency_key, repeatable=self.key_honoured)
        except RefusedError as exc:  # refused: nothing was sent, a later try may send
            if store is not None:
                store.set(idempotency_key, {"refused": exc.status})
            raise
        except TransientError as exc:
            if self.key_honoured:
                raise
            if isinstance(exc, RateLimitedError):  # not processed: a later try may send
                if store is not None:
                    store.set(idempotency_key, {"refused": 429})
                raise
            raise MessageUnknownError(idempotency_key, self.conn_id, str(exc)) from None
        if store is not None:
            store.set(idempotency_key, {"sent": _now()})
        return idempotency_key, True


class MessageUnknownError(OutcomeUnknownError):
    """Raise when a message may have been sent but its answer was lost: it is not sent again (at most once)."""

    def __init__(self, key: str, conn_id: str, what: str) -> None:
        message = (
            f"SMS {key} through connection '{conn_id}': no answer to {what}; it may have been sent once. "
            "Not sent again (at most once): look for this Idempotency-Key in the gateway's log"
        )
        super().__init__(message)
        self.key = key


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")
