"""HrFlow.ai for Apache Airflow 3: hooks, mapping, the sync DAG factory and the webhook plugin."""

from __future__ import annotations

__version__ = "0.2.0"


def get_provider_info() -> dict:
    """
    Return the provider metadata Airflow reads through the ``apache_airflow_provider`` entry point.

    Each connection form is its hook's class-level ``form`` (:mod:`hrflow_airflow.forms`), but HrFlow's, below
    (``hooks/hrflow_api.py`` is at the module size limit); the ATS adapters' hook modules and forms are generated
    from their registry (:data:`hrflow_airflow.destinations.REGISTRY`). Declarations are read from the hooks'
    source: Airflow calls this while it imports itself, so no hook (each imports Airflow) is imported here.
    """
    from hrflow_airflow.destinations import connection_types, hook_modules
    from hrflow_airflow.forms import connection_type
    from hrflow_airflow.settings import provider_config

    return {
        "package-name": "hrflow-airflow",
        "name": "HrFlow.ai",
        "description": "HrFlow.ai hooks, DAGs and webhook endpoint for Apache Airflow 3.",
        "versions": [__version__],
        "config": provider_config(),
        "hooks": [
            {
                "integration-name": "HrFlow.ai",
                "python-modules": list(
                    dict.fromkeys(
                        [
                            "hrflow_airflow.hooks.hrflow_api",
                            "hrflow_airflow.hooks.api_key",
                            "hrflow_airflow.hooks.twilio",
                            *hook_modules(),
                        ]
                    )
                ),
            }
        ],
        "connection-types": [
            *connection_types(),
            connection_type("hrflow_airflow.hooks.api_key:MessagingHook"),
            connection_type("hrflow_airflow.hooks.twilio:TwilioHook"),
            _hrflow_form().entry("hrflow_airflow.hooks.hrflow_api.HrFlowHook", "HrFlow.ai", "hrflow"),
        ],
    }


def _hrflow_form():
    """Return the form of the ``hrflow`` connection (HrFlowHook reads these extras)."""
    from hrflow_airflow.forms import TIMEOUT, Form, extra_field

    return Form(
        fields={
            "webhook_secret": extra_field(
                "Webhook secret",
                format="password",
                description="Signing key of your HrFlow webhooks; verifies POST /hrflow/webhook.",
            ),
            "webhook_secret_next": extra_field(
                "Next webhook secret (during a rotation)",
                format="password",
                description=(
                    "Set the new signing key here, then in HrFlow; deliveries signed with either are taken. "
                    "Move it to Webhook secret and clear this once HrFlow uses it (docs/operations.md)."
                ),
            ),
            "timeout": TIMEOUT,
        },
        relabeling={"host": "API base URL", "login": "API user email", "password": "API secret"},
        placeholders={"host": "https://api.hrflow.ai/v1", "login": "you@company.com", "password": "askw_..."},
    )
