"""A local SMTP server (aiosmtpd) that keeps every message it accepts: the e-mail alerts' receiver in tests."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

ALERT_FROM = "airflow-alerts@example.com"
ALERT_TO = "on-call@example.com"


@dataclass
class SmtpReceiver:
    """
    An SMTP server on loopback, plain (no TLS, no auth), as aiosmtpd's ``Controller`` runs it
    (https://aiosmtpd.readthedocs.io/, "Programmatic usage": the Controller).

    ``refuse`` answers the next messages' DATA with that reply (e.g. ``"451 4.3.0 try later"``: nothing is
    kept); ``lose_answer`` keeps the next message and drops the connection before the reply.
    """

    host: str = "127.0.0.1"
    messages: list[EmailMessage] = field(default_factory=list)
    refuse: list[str] = field(default_factory=list)
    lose_answer: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.port = _free_port(self.host)
        self.controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook)
        with self.lock:
            if self.refuse:
                return self.refuse.pop(0)
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
            if self.lose_answer:
                self.lose_answer -= 1
                server.transport.close()  # accepted, and the client never hears so
        return "250 2.0.0 Message accepted for delivery"

    def start(self) -> SmtpReceiver:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname=self.host, port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.refuse.clear()
            self.lose_answer = 0

    def connection(self, to: str = ALERT_TO) -> dict[str, Any]:
        """Return the ``hrflow_alert_email`` connection: an ``smtp`` connection to this server, sending to ``to``."""
        return {
            "conn_type": "smtp",
            "host": self.host,
            "port": self.port,
            "extra": {"from_email": ALERT_FROM, "to": to, "disable_ssl": True, "disable_tls": True, "timeout": 5},
        }


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
