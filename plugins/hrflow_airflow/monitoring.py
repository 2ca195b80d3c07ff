"""
The alert notifier's import path before the package's layout by flow (now :mod:`hrflow_airflow.alerts.monitoring`).

A deadline Airflow stored before the upgrade names its callback by this path, and a user's DAG may import the
notifier from here: both keep working. New code imports from ``hrflow_airflow.alerts.monitoring``.
"""

from __future__ import annotations

from hrflow_airflow.alerts.monitoring import HrFlowAlertNotifier

__all__ = ["HrFlowAlertNotifier"]
