"""
Alert channels: the on-call SMS, Slack and e-mail, as ``[hrflow] alert_channels`` names them (default ``sms``).

* ``sms``: connection ``hrflow_alert`` (a messaging or Twilio connection, extra ``phone``), else the Variable
  ``hrflow_alert_phone`` through ``sms_default``, through the messaging hook;
* ``slack``: connection ``hrflow_alert_slack`` (type ``slackwebhook``), through the Slack provider's
  ``SlackWebhookNotifier``
  (https://airflow.apache.org/docs/apache-airflow-providers-slack/stable/_modules/airflow/providers/slack/notifications/slack_webhook.html);
* ``email``: connection ``hrflow_alert_email`` (type ``smtp``, extra ``from_email`` and ``to``), through the SMTP
  provider's ``SmtpNotifier``
  (https://airflow.apache.org/docs/apache-airflow-providers-smtp/stable/_modules/airflow/providers/smtp/notifications/smtp.html).

Every channel has the SMS path's guarantee, in the same durable record (table ``hrflow_messages``,
:class:`~hrflow_airflow.events.outbox.MessageRecords`): the message key is claimed before the request and its answer
recorded after it. A call that finds the answer, or only the claim (the answer was lost: it may have gone out
once), sends nothing. An answered refusal (Slack's 4xx, a refused recipient, a server that could not be reached)
leaves it sendable by a later call. Neither channel retries a send by itself (the Slack client gets no retry
handler). Messages carry keys, counts, ids and URLs only, never candidate data.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.error import URLError

from airflow.sdk import BaseHook, Variable, conf
from airflow.sdk.exceptions import AirflowNotFoundException

from hrflow_airflow.errors import BadConfigError, OutcomeUnknownError
from hrflow_airflow.hooks.api_key import MessagingHook
from hrflow_airflow.settings import setting

log = logging.getLogger(__name__)

SMS, SLACK, EMAIL = "sms", "slack", "email"
ALERT_CONN_ID = "hrflow_alert"
ALERT_PHONE_VARIABLE = "hrflow_alert_phone"
SLACK_CONN_ID = "hrflow_alert_slack"
EMAIL_CONN_ID = "hrflow_alert_email"
CONNECTIONS = {SLACK: (SLACK_CONN_ID, "slackwebhook"), EMAIL: (EMAIL_CONN_ID, "smtp")}
HRFLOW_PAGE_PATH = (
    "/plugin/hrflow"  # the HrFlow page in Airflow's navigation: plugin.py's external view, url_route hrflow
)
SUBJECTS = {"failure": "run failed", "deadline": "run late", "recovery": "recovered"}
URL = re.compile(r"https?://\S+")


# -- the message ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Alert:
    """One alert as every channel renders it: the DAG, the run, counts and keys, URLs; never candidate data."""

    event: str  # "failure", "deadline" or "recovery"
    dag_id: str
    run_id: str
    text: str  # the whole message, ending with the run's URL and the HrFlow page's
    identity: str  # what makes two alerts the same alert: "failure/<dag>/<run>", "recovery/<dag>/<failed run>"

    def key(self, channel: str) -> str:
        """Return the message key of this alert on ``channel`` (the SMS key is the one alerts always had)."""
        digest = hashlib.sha256(self.identity.encode()).hexdigest()[:40]
        return f"alert-{digest}" if channel == SMS else f"alert-{channel}-{digest}"

    def subject(self) -> str:
        """Return the e-mail subject: the DAG, what happened and the run."""
        return f"[Airflow] {self.dag_id}: {SUBJECTS.get(self.event, self.event)} ({self.run_id})"

    def html(self) -> str:
        """Return the e-mail body: the text, escaped, its URLs as links."""
        linked = URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', html.escape(self.text, quote=False))
        return f"<p>{linked}</p>"


def base_url() -> str:
    """Return the Airflow UI's base URL: ``[api] base_url``, else ``http://localhost:<[api] port>``."""
    configured = conf.get("api", "base_url", fallback="")
    return (configured or f"http://localhost:{conf.get('api', 'port', fallback='8080')}").rstrip("/")


def page_url(base: str | None = None) -> str:
    """Return the URL of the HrFlow page of the Airflow UI."""
    return f"{(base or base_url()).rstrip('/')}{HRFLOW_PAGE_PATH}"


# -- configuration -------------------------------------------------------------------------------------------
def channel_names(raw: str | None = None) -> list[str]:
    """Return the channels ``[hrflow] alert_channels`` names, in order, once each (unknown names included)."""
    raw = setting("alert_channels") if raw is None else raw
    return list(dict.fromkeys(name.strip().lower() for name in raw.split(",") if name.strip()))


def channel_sender(channel: str) -> Callable[[Alert, Any], bool]:
    """Return what sends an alert on ``channel``; raise :class:`BadConfigError` for a name it does not know."""
    if channel not in SENDERS:
        raise BadConfigError(f"[hrflow] alert_channels names unknown channel '{channel}': use sms, slack or email")
    return SENDERS[channel]


def channel_connection(channel: str) -> Any:
    """Return the connection of ``channel`` (slack, email); raise :class:`BadConfigError` naming what is missing."""
    conn_id, conn_type = CONNECTIONS[channel]
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise BadConfigError(
            f"[hrflow] alert_channels names '{channel}', but connection '{conn_id}' (type {conn_type}) is not set"
        ) from None


def alert_target() -> tuple[str, str] | None:
    """Return ``(messaging connection id, on-call number)``, or None when no alert target is set."""
    try:
        conn = MessagingHook.get_connection(ALERT_CONN_ID)
    except AirflowNotFoundException:
        conn = None
    if conn is not None:
        phone = conn.extra_dejson.get("phone") or conn.extra_dejson.get("to")  # "to" on a twilio connection
        if not phone:
            raise BadConfigError(f"connection '{ALERT_CONN_ID}' has no extra 'phone' (or 'to') (the on-call number)")
        return ALERT_CONN_ID, str(phone)
    phone = Variable.get(ALERT_PHONE_VARIABLE, default=None)
    return (MessagingHook.default_conn_name, str(phone)) if phone else None


def alert_records() -> Any:
    """
    Return the alerts' durable record, or None when this process cannot open it.

    Executor callbacks (deadline alerts) read connections through the Execution API, which may deny
    ``hrflow_ledger`` when it lives in the metadata database or a secrets backend rather than in the environment
    (``AIRFLOW_CONN_HRFLOW_LEDGER``, as docker-compose.yaml and the Helm values set it). The alert then still
    goes (SMS: with its ``Idempotency-Key``; Twilio: looked up first), and the log says why it has no record.
    """
    from hrflow_airflow.events.outbox import MessageRecords

    records = MessageRecords("alert")
    try:
        with records.ledger.engine.connect():  # reads the connection and opens the database (tables come with it)
            pass
    except Exception as exc:
        log.warning("HrFlow alert record unavailable here (%s: %s): sending with its key only", type(exc).__name__, exc)
        return None
    return records


# -- delivery ------------------------------------------------------------------------------------------------
def deliver(alert: Alert, records: Any) -> dict[str, bool]:
    """
    Send ``alert`` on every channel ``[hrflow] alert_channels`` names, at most once each; return channel -> sent now.

    Never raises: a channel badly set up or failing is logged (naming it), and the other channels still send.
    """
    outcome: dict[str, bool] = {}
    for channel in channel_names():
        try:
            outcome[channel] = channel_sender(channel)(alert, records)
        except BadConfigError as exc:
            log.error(
                "HrFlow %s alert not sent on channel '%s', bad setup: %s. Alert: %s",
                alert.event,
                channel,
                exc,
                alert.text,
            )
            outcome[channel] = False
        except Exception as exc:
            log.error("HrFlow %s alert not sent on channel '%s': %s. Alert: %s", alert.event, channel, exc, alert.text)
            outcome[channel] = False
        else:
            if outcome[channel]:
                log.info(
                    "HrFlow %s alert sent on channel '%s' for %s run %s",
                    alert.event,
                    channel,
                    alert.dag_id,
                    alert.run_id,
                )
    if not outcome:
        log.warning("[hrflow] alert_channels is empty; alert not sent: %s", alert.text)
    return outcome


def send_sms(alert: Alert, records: Any) -> bool:
    """Send ``alert`` to the on-call number; the messaging hook keeps the record (intent, then answer)."""
    target = alert_target()
    if target is None:
        log.warning(
            "No alert target is set (connection '%s' or Variable '%s'); alert not sent: %s",
            ALERT_CONN_ID,
            ALERT_PHONE_VARIABLE,
            alert.text,
        )
        return False
    conn_id, phone = target
    from hrflow_airflow.hooks.messaging import messaging_hook

    _, sent = messaging_hook(conn_id).send_sms(alert.text, idempotency_key=alert.key(SMS), to=phone, store=records)
    return sent


def send_slack(alert: Alert, records: Any) -> bool:
    """Post ``alert`` to the Slack Incoming Webhook of connection ``hrflow_alert_slack``, at most once."""
    channel_connection(SLACK)
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    notifier = SlackWebhookNotifier(
        slack_webhook_conn_id=SLACK_CONN_ID,
        text=alert.text,
        unfurl_links=False,
        unfurl_media=False,
        retry_handlers=[],  # no resend by the client: a send whose answer was lost may have been posted
    )
    return send_once(SLACK, alert.key(SLACK), records, lambda: notifier.notify({}), slack_refusal)


def send_email(alert: Alert, records: Any) -> bool:
    """Mail ``alert`` to the recipients of connection ``hrflow_alert_email`` (extra ``to``), at most once."""
    extra = email_extra()
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    notifier = SmtpNotifier(
        to=extra["to"], subject=alert.subject(), html_content=alert.html(), smtp_conn_id=EMAIL_CONN_ID
    )
    return send_once(EMAIL, alert.key(EMAIL), records, lambda: notifier.notify({}), email_refusal)


def email_extra() -> dict[str, Any]:
    """Return the extra of connection ``hrflow_alert_email``; raise :class:`BadConfigError` naming what it lacks."""
    extra = channel_connection(EMAIL).extra_dejson
    for name, what in (("to", "the alert's recipients"), ("from_email", "the sender")):
        if not extra.get(name):
            raise BadConfigError(f"connection '{EMAIL_CONN_ID}' has no extra '{name}' ({what})")
    return extra


SENDERS: dict[str, Callable[[Alert, Any], bool]] = {SMS: send_sms, SLACK: send_slack, EMAIL: send_email}


def send_once(
    channel: str, key: str, records: Any, send: Callable[[], Any], refusal: Callable[[BaseException], str | None]
) -> bool:
    """
    Call ``send`` at most once for ``key``: claim the key, send, record the answer; return whether it sent now.

    ``refusal`` names why an error means nothing was sent (then a later call may send), or returns None: the
    answer was lost, the claim stays, and :class:`OutcomeUnknownError` names the key. Without ``records`` (an
    executor callback denied the ledger), the message goes with no record.
    """
    if records is None:
        send()
        return True
    if not records.claim(key, {"intent": _now()}):
        state = records.get(key) or {}
        if "sent" in state:
            log.info("%s alert %s was sent in an earlier call; not sending again", channel, key)
        else:
            log.error(
                "%s alert %s: an earlier call at %s had no answer; it may have been sent once. Not sent again",
                channel,
                key,
                state.get("intent"),
            )
        return False
    try:
        send()
    except Exception as exc:
        why = refusal(exc)
        if why is None:
            raise OutcomeUnknownError(
                f"{channel} alert {key}: no answer ({type(exc).__name__}: {exc}); it may have been sent once. "
                "Not sent again (at most once)"
            ) from exc
        records.set(key, {"refused": why})
        raise
    records.set(key, {"sent": _now()})
    return True


def slack_refusal(exc: BaseException) -> str | None:
    """
    Return why Slack did not post (its 4xx answer, or no connection made), or None when it may have.

    Slack answers 200 ``ok``, or 400/403/404/410 naming the refusal, 429 when rate limited; 500 is its rare
    ``rollup_error`` (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks).
    The provider raises on anything but 200 with ``Status Code: <n>`` in its message.
    """
    status = re.search(r"Status Code: (\d{3})", str(exc))
    if status and status.group(1).startswith("4"):
        return f"HTTP {status.group(1)}"
    if isinstance(exc, URLError) and isinstance(exc.reason, ConnectionRefusedError):
        return "connection refused"
    return None


def email_refusal(exc: BaseException) -> str | None:
    """Return why the SMTP server took no message (an answered refusal, or no connection made), or None."""
    if isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
        return f"SMTP {getattr(exc, 'smtp_code', '')} {type(exc).__name__}".replace("  ", " ")
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
