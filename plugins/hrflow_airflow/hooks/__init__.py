"""Hooks for HrFlow.ai, the ATS and the messaging service."""

from __future__ import annotations

from hrflow_airflow.errors import RefusedError
from hrflow_airflow.hooks.api_key import AtsHook, MessagingHook
from hrflow_airflow.hooks.hrflow_api import HrFlowAuthError, HrFlowError, HrFlowHook, HrFlowNotFoundError

__all__ = [
    "AtsHook",
    "HrFlowAuthError",
    "HrFlowError",
    "HrFlowHook",
    "HrFlowNotFoundError",
    "MessagingHook",
    "RefusedError",
]
