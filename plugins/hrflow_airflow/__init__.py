"""HrFlow.ai for Apache Airflow 3: hooks, mapping, the sync DAG factory and the webhook plugin."""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Return the provider metadata Airflow reads through the ``apache_airflow_provider`` entry point."""
    return {
        "package-name": "hrflow-airflow",
        "name": "HrFlow.ai",
        "description": "HrFlow.ai hooks and DAGs for Apache Airflow 3.",
        "versions": [__version__],
        "connection-types": [
            {"hook-class-name": "hrflow_airflow.hooks.hrflow_api.HrFlowHook", "connection-type": "hrflow"},
        ],
    }
