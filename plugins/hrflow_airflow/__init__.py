"""HrFlow.ai for Apache Airflow 3: hooks, mapping, the sync DAG factory and the webhook plugin."""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Return the provider metadata Airflow reads through the ``apache_airflow_provider`` entry point."""
    return {
        "package-name": "hrflow-airflow",
        "name": "HrFlow.ai",
        "description": "HrFlow.ai hooks, DAGs and webhook endpoint for Apache Airflow 3.",
        "versions": [__version__],
        "hooks": [{"integration-name": "HrFlow.ai", "python-modules": ["hrflow_airflow.hooks.hrflow_api"]}],
        "connection-types": [
            {
                "hook-class-name": "hrflow_airflow.hooks.hrflow_api.HrFlowHook",
                "hook-name": "HrFlow.ai",
                "connection-type": "hrflow",
                "conn-fields": {
                    "webhook_secret": {
                        "label": "Webhook secret",
                        "schema": {"type": ["string", "null"], "format": "password"},
                        "description": "Signing key of your HrFlow webhooks; verifies POST /hrflow/webhook.",
                    },
                    "timeout": {
                        "label": "HTTP timeout (seconds)",
                        "schema": {"type": ["number", "null"], "default": 30},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra"],
                    "relabeling": {"host": "API base URL", "login": "API user email", "password": "API secret"},
                    "placeholders": {"host": "https://api.hrflow.ai/v1", "login": "you@company.com",
                                     "password": "askw_..."},
                },
            }
        ],
    }
