"""Send one SMS when HrFlow.ai indexes a profile (triggered by the signed webhook or the REST API)."""

from __future__ import annotations

from airflow.sdk import dag

from hrflow_airflow.events.sms import DAG_ID, send_sms, sms_dag_defaults, sms_params
from hrflow_airflow.sync.dag_args import hrflow_pool

DOC_MD = """
# HrFlow.ai profile → SMS

Triggered from outside (no schedule). Each run handles one new HrFlow profile, announced by a webhook event
(`profile.parsing.success`, `profile.storing.success`, `profile.searching.success`, or the older
`profile.indexing.success`; `[hrflow] webhook_events` replaces the list): its one task, `send_sms`, fetches the
profile through HrFlowHook and POSTs one SMS to the messaging service (the name and phone never reach XCom):

> {first_name} {last_name} just applied ! Send a message to {phone}.

* **Triggering:** HrFlow calls `POST /hrflow/webhook` on this Airflow (signed with the `hrflow_default`
  extra `webhook_secret`, hex or raw HMAC digest); or trigger from the UI form / REST API with the event as `conf`:
  `{"type": "profile.storing.success", "profile": {"key": "...", "source": {"key": "..."}}}`.
* **One SMS per profile:** the webhook derives the run id from the source and profile keys, so parsing,
  storing and searching events for one profile start one run. The run's conf holds keys only.
* **A burst shares runs:** the new profiles of a burst's few seconds (`[hrflow] sms_batch_seconds`, at most
  `sms_batch_size`) share one run, listed in its conf's `batch` (keys only); each is texted once, under its own
  profile's `Idempotency-Key`, and one that fails holds up none of the others.
* **Connections:** `hrflow_default`, `sms_default` (full URL as host, API key as password).
* **Text:** Variable `hrflow_sms_template` with placeholders `{first_name}`, `{last_name}`, `{phone}`,
  `{email}`, `{profile_key}`.
* A profile without a phone number is skipped; an unknown profile or source fails at once; a retry never
  sends a second SMS (`Idempotency-Key` per DAG run).
* **Monitoring:** `hrflow.sms.sent` / `hrflow.sms.skipped` metrics; a failed run, or one not done
  `[hrflow] sms_deadline_seconds` after the webhook queued it, sends one alert to connection `hrflow_alert`
  (extra `phone`) or Variable `hrflow_alert_phone`.
"""


@dag(
    dag_id=DAG_ID,
    schedule=None,  # triggered by the webhook, the UI or the REST API
    doc_md=DOC_MD,
    tags=["hrflow", "sms", "webhook"],
    params=sms_params(),
    **sms_dag_defaults(),
)
def hrflow_profile_sms():
    send_sms.override(pool=hrflow_pool())()  # fetches the profile through HrFlowHook, then texts the recruiter


dag = hrflow_profile_sms()
