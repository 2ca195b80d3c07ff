"""Send one SMS when HrFlow.ai indexes a profile (triggered by the signed webhook or the REST API)."""

from __future__ import annotations

from hrflow_airflow.sms import build_sms_dag

DOC_MD = """
# HrFlow.ai profile → SMS

Triggered from outside (no schedule). Each run handles one HrFlow webhook event
(`profile.indexing.success` or `profile.storing.success`): it fetches the profile through HrFlowHook and POSTs
one SMS to the messaging service:

> {first_name} {last_name} just applied ! Send a message to {phone}.

* **Triggering:** HrFlow calls `POST /hrflow/webhook` on this Airflow (signed with the `hrflow_default`
  extra `webhook_secret`); or trigger from the UI form / REST API with the event as `conf`:
  `{"type": "profile.indexing.success", "profile": {"key": "...", "source": {"key": "..."}}}`.
* **Connections:** `hrflow_default`, `sms_default` (full URL as host, API key as password).
* **Text:** Variable `hrflow_sms_template` with placeholders `{first_name}`, `{last_name}`, `{phone}`,
  `{email}`, `{profile_key}`.
* A profile without a phone number is skipped; an unknown profile or source fails at once; a retry never
  sends a second SMS (`Idempotency-Key` per DAG run).
* **Monitoring:** `hrflow.sms.sent` / `hrflow.sms.skipped` metrics; a failed run, or one not done
  `[hrflow] sms_deadline_seconds` after the webhook queued it, sends one alert to connection `hrflow_alert`
  (extra `phone`) or Variable `hrflow_alert_phone`.
"""

dag = build_sms_dag(doc_md=DOC_MD)
