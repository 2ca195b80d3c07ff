"""Pick the messaging destination of a connection by its type: the generic JSON endpoint or Twilio."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from hrflow_airflow.hooks.api_key import MessagingHook

TWILIO = "twilio"


def messaging_hook(conn_id: str) -> Any:
    """
    Return the hook that sends SMS through connection ``conn_id``.

    ``twilio`` connections get :class:`~hrflow_airflow.hooks.twilio.TwilioHook`; ``hrflow_messaging`` and
    ``http`` ones the generic JSON endpoint (:class:`MessagingHook`). Both offer
    ``send_sms(text, *, idempotency_key, to=None, store=None) -> (reference, sent_now)``.
    """
    conn = BaseHook.get_connection(conn_id)
    if (conn.conn_type or "").lower() == TWILIO:
        from hrflow_airflow.hooks.twilio import TwilioHook

        return TwilioHook(twilio_conn_id=conn_id)
    return MessagingHook(sms_conn_id=conn_id)
