"""
What the webhook reads and writes in Airflow itself: the webhook secrets (connection ``hrflow_default``), whether
``[hrflow] pool`` exists, and the SMS DAG's runs. Airflow is imported inside each function: the app is built at
plugin load, before the api-server's database is set up.
"""

from __future__ import annotations

from typing import Any

from hrflow_airflow.events.realtime import RecordHasher
from hrflow_airflow.events.sms import DAG_ID
from hrflow_airflow.settings import setting

CONN_ID = "hrflow_default"


def missing_pool() -> str | None:
    """Return the name of the configured ``[hrflow] pool`` if it does not exist in this Airflow, else None."""
    name = setting("pool")
    if not name:
        return None
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return None if session.scalar(select(Pool.id).where(Pool.pool == name)) else name


def webhook_secrets() -> tuple[str, ...]:
    """Return the connection's webhook secrets: ``webhook_secret``, then ``webhook_secret_next`` during a rotation."""
    from hrflow_airflow.hooks.hrflow_api import HrFlowHook

    return HrFlowHook(hrflow_conn_id=CONN_ID).webhook_secrets


def trigger_sms_run(run_id: str, conf: dict[str, Any]) -> str:
    """Create the SMS DAG's run ``run_id``; return ``triggered`` or ``duplicate``."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagRunAlreadyExists
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    with create_session() as session:
        if session.scalar(select(DagRun.id).where(DagRun.dag_id == DAG_ID, DagRun.run_id == run_id)):
            return "duplicate"
    try:
        with create_session() as session:
            trigger_dag(
                DAG_ID,
                triggered_by=DagRunTriggeredByType.REST_API,
                run_id=run_id,
                conf=conf,
                logical_date=None,
                session=session,
            )
    except (DagRunAlreadyExists, IntegrityError):
        return "duplicate"
    return "triggered"


def warm_up(hasher: Any) -> None:
    """
    Import what the drain runs and read the sync setup at the api-server's start: the first deliveries of a burst
    otherwise wait seconds for the drain's first ``trigger_dag`` (its imports and the DAG's first load).
    """
    import airflow.api.common.trigger_dag  # noqa: F401
    import airflow.assets.manager  # noqa: F401

    if isinstance(hasher, RecordHasher):
        hasher.warm()
