"""Airflow connection definitions (``AIRFLOW_CONN_*`` JSON) for a sandbox at a base URL."""

from __future__ import annotations

from typing import Any

from sandbox.objects import (
    API_SECRET,
    API_USER,
    ATS_API_KEY,
    SMS_API_KEY,
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_FROM,
    WEBHOOK_SECRET,
)


def sandbox_connections(base_url: str) -> dict[str, dict[str, Any]]:
    """Return Airflow connection definitions (``AIRFLOW_CONN_*`` JSON) for a sandbox at ``base_url``."""
    return {
        "hrflow_default": {
            "conn_type": "hrflow",
            "host": f"{base_url}/v1",
            "login": API_USER,
            "password": API_SECRET,
            "extra": {"webhook_secret": WEBHOOK_SECRET},
        },
        # the types the UI form registers; ats_jobs_default keeps the older `http` type, which works the same
        "ats_default": {
            "conn_type": "hrflow_ats",
            "host": f"{base_url}/ats/profiles",
            "password": ATS_API_KEY,
            "extra": {"timeout": 5},
        },
        "ats_jobs_default": {
            "conn_type": "http",
            "host": f"{base_url}/ats/jobs",
            "password": ATS_API_KEY,
            "extra": {"timeout": 5},
        },
        "sms_default": {
            "conn_type": "hrflow_messaging",
            "host": f"{base_url}/sms",
            "password": SMS_API_KEY,
            "extra": {"timeout": 5},
        },
    }


def twilio_connection(base_url: str, to: str = "+33612345678", **extra: Any) -> dict[str, Any]:
    """Return a ``twilio`` connection to the sandbox's Twilio emulator, sending to ``to``."""
    return {
        "conn_type": "twilio",
        "host": f"{base_url}/twilio",
        "login": TWILIO_ACCOUNT_SID,
        "password": TWILIO_AUTH_TOKEN,
        "extra": {"from": TWILIO_FROM, "to": to, "timeout": 5, **extra},
    }


def alert_connection(base_url: str, phone: str) -> dict[str, Any]:
    """Return the ``hrflow_alert`` connection: the sandbox's messaging service, sending to ``phone``."""
    return {**sandbox_connections(base_url)["sms_default"], "extra": {"phone": phone}}
