"""AirflowPlugin that mounts the HrFlow webhook app on the api-server at ``/hrflow``."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from hrflow_airflow.webhook import app


class HrFlowPlugin(AirflowPlugin):
    name = "hrflow"
    fastapi_apps = [{"app": app, "url_prefix": "/hrflow", "name": "HrFlow.ai webhook"}]
