"""A Slack Incoming Webhook emulator: ``POST /slack/services/<team>/<bot>/<token>``, recording what it posts."""

from __future__ import annotations

import json
from typing import Any

from sandbox.faults import Fault

# the webhook URL Slack gives an app, on the sandbox's host: https://hooks.slack.com/services/T.../B.../...
SLACK_WEBHOOK_PATH = "/services/T0SANDBOX/B0SANDBOX/sandboxwebhooktoken0000"


class SlackRoutes:
    """The Slack Incoming Webhook emulator (``/slack/...``)."""

    def _slack(self, method: str, route: str, body: bytes, fault: Fault | None) -> None:
        """
        Post one message as Slack's Incoming Webhooks do (https://api.slack.com/messaging/webhooks): a JSON body
        with ``text`` (or ``blocks`` / ``attachments``) POSTed to the webhook's secret URL is answered 200 with the
        plain text ``ok``. Errors are plain strings with their status
        (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks): 400
        ``invalid_payload`` (not JSON) or ``no_text``, 404 ``no_service`` (an unknown webhook URL), 405 on a
        method other than POST. Injected faults (``Fault(path="/slack/")``) answer 429, 5xx or lose the answer.
        """
        if method != "POST":
            return self._slack_answer(405, "invalid_method")
        if route != SLACK_WEBHOOK_PATH:
            return self._slack_answer(404, "no_service")
        try:
            payload = json.loads(body)
        except ValueError:
            return self._slack_answer(400, "invalid_payload")
        if not isinstance(payload, dict) or not any(payload.get(k) for k in ("text", "blocks", "attachments")):
            return self._slack_answer(400, "no_text")
        with self.state.lock:
            self.state.slack_messages.append(payload)
        if not self._after_apply(fault):
            self._slack_answer(200, "ok")

    def _slack_answer(self, status: int, text: str) -> None:
        self._send_raw(status, text.encode(), {"Content-Type": "text/html; charset=utf-8"})


def slack_url(base_url: str) -> str:
    """Return the sandbox's Incoming Webhook URL."""
    return f"{base_url}/slack{SLACK_WEBHOOK_PATH}"


def slack_alert_connection(base_url: str) -> dict[str, Any]:
    """Return the ``hrflow_alert_slack`` connection: a ``slackwebhook`` connection to the sandbox's webhook."""
    return {"conn_type": "slackwebhook", "password": slack_url(base_url), "extra": {"timeout": 5}}
