"""Loaded by Airflow from the plugins folder: registers the HrFlow webhook endpoint (``POST /hrflow/webhook``)."""

from __future__ import annotations

from hrflow_airflow.plugin import HrFlowPlugin

__all__ = ["HrFlowPlugin"]
