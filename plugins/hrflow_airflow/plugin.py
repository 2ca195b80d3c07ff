"""
AirflowPlugin that mounts the HrFlow webhook app on the api-server at ``/hrflow``, and the HrFlow page at
``/hrflow-ui`` with its entry in Airflow's navigation.

The api-server enters the mounted app's lifespan when it starts, which starts the webhook inbox's drain: what a
stopped or killed api-server left queued drains at once, with no probe and no delivery (tests/test_inbox_stack.py),
and builds Airflow's execution API in a thread; the root middleware holds that API's requests until it is built
(events/warming.py).

The page is an ``external_views`` entry, not a ``react_apps`` one: it is HTML our own FastAPI app renders, shown
in an iframe under Airflow's navigation (``destination: nav``), so it needs no JavaScript bundle built and
shipped with the package, and it serves itself; a ``react_apps`` entry is a ``bundle_url`` of a JavaScript bundle
the UI loads into its own page, which would add a JavaScript build to this Python package
(https://airflow.apache.org/docs/apache-airflow/3.3.0/howto/custom-view-plugin.html). The href is relative (no
leading slash) so that a deployment under a path prefix resolves it against its own base URL.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from hrflow_airflow.events.app import app
from hrflow_airflow.events.warming import ExecutionApiGate
from hrflow_airflow.ui.app import app as page

PAGE_PREFIX = "/hrflow-ui"


class HrFlowPlugin(AirflowPlugin):
    name = "hrflow"
    fastapi_apps = [
        {"app": app, "url_prefix": "/hrflow", "name": "HrFlow.ai webhook"},
        {"app": page, "url_prefix": PAGE_PREFIX, "name": "HrFlow.ai sync page"},
    ]
    # an execution API request waits, off the event loop, while the webhook app builds that API at start
    fastapi_root_middlewares = [
        {"middleware": ExecutionApiGate, "args": [], "kwargs": {}, "name": "HrFlow: execution API built at start"}
    ]
    external_views = [
        {
            "name": "HrFlow sync",
            "href": f"{PAGE_PREFIX.lstrip('/')}/",
            "destination": "nav",
            "url_route": "hrflow",
            "category": "browse",
        }
    ]
