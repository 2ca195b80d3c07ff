"""
AirflowPlugin that mounts the HrFlow webhook app on the api-server at ``/hrflow``.

The api-server enters the mounted app's lifespan when it starts, which starts the webhook inbox's drain: what a
stopped or killed api-server left queued drains at once, with no probe and no delivery (tests/test_inbox_stack.py).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from hrflow_airflow.webhook import app


class HrFlowPlugin(AirflowPlugin):
    name = "hrflow"
    fastapi_apps = [{"app": app, "url_prefix": "/hrflow", "name": "HrFlow.ai webhook"}]
