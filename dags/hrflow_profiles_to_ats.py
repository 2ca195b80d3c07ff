"""Sync new HrFlow.ai profiles to the ATS, then tag them ``sync=1``."""

from __future__ import annotations

from airflow.sdk import dag, task_group

from hrflow_airflow.objects import PROFILE
from hrflow_airflow.sync.dag_args import (
    BATCH_GROUP,
    asset_alias,
    ats_concurrency,
    ats_pool,
    hrflow_pool,
    parallel_batches,
    sync_dag_defaults,
    sync_params,
    sync_schedule,
)
from hrflow_airflow.sync.tasks import post_to_ats, remove, report, search, summary, tag, transform

DOC_MD = """
# HrFlow.ai profiles → ATS

Every hour, finds the profiles of the configured sources that do not carry the tag `sync=1`, maps seven
`info` fields (first_name, last_name, email, phone, date_birth, gender, summary), POSTs them to the ATS in
batches as JSON with an `Idempotency-Key`, then re-reads each accepted profile and adds `sync=1`.

* **Connections:** `hrflow_default` (HrFlow API), `ats_default` (ATS endpoint, API key as password).
* **Sources:** Variable `hrflow_source_keys` (JSON list) or the `source_keys` param.
* **Webhook:** HrFlow's webhook announcing a new or edited profile starts a run within seconds (an asset event
  on `hrflow-webhook://profiles/`; `[hrflow] webhook_starts_sync`); such a run takes every unsynced profile
  up to now by search. Our own tagging, announced by HrFlow too, starts nothing (docs/webhook.md).
* **Window:** a scheduled run takes every unsynced profile created before its interval end, with no lower
  bound (the `sync` tag is the state, not the window: backdated imports, late indexing and missed hours are
  caught); a backfill run keeps its data interval; a manual run takes every unsynced profile unless
  `created_at_min` / `created_at_max` are given.
* **Full sweep:** search only sees profiles HrFlow could index (text, and an email or a full name). Manual runs
  without a window, the daily scheduled run at `[hrflow] full_sweep_hour` (UTC, default 0) and param
  `full_sweep` read HrFlow's storing listing instead, which holds every stored profile.
* **Exactly once across runs:** the sync ledger (connection `hrflow_ledger`, else a SQLite file in
  `$AIRFLOW_HOME`) remembers each profile the ATS accepted, with a keyed hash of its record; a later run never
  creates it again.
* **In step:** a synced profile whose mapped fields change in HrFlow is sent once as an update (only the fields
  `[hrflow] update_fields` allows); param `updates: false` sends new profiles only.
* **Mapping:** Variable `hrflow_profiles_field_map` replaces the default `{record field: object path}` map.
* **Safe to retry:** the same batch always carries the same `Idempotency-Key`; profiles already tagged are
  never edited; only profiles the ATS accepted are tagged.
* The `summary` task reports found / posted / tagged / skipped / failed and fails the run if anything failed.
* **Monitoring:** `report` emits an asset event per source on `hrflow://profiles/<source_key>` (counts and
  failed keys) and `hrflow.objects.*` metrics; a failed run, or one not done `[hrflow] sync_deadline_minutes`
  after it was queued, sends one alert to connection `hrflow_alert` (extra `phone`) or Variable
  `hrflow_alert_phone`.

Every setting: docs/configuration.md.
"""

KIND = "profile"


@dag(
    dag_id="hrflow_profiles_to_ats",
    schedule=sync_schedule(PROFILE),
    doc_md=DOC_MD,
    tags=["hrflow", "ats", "profiles"],
    params=sync_params(PROFILE),
    **sync_dag_defaults(),
)
def hrflow_profiles_to_ats():
    batches = search.override(pool=hrflow_pool())(KIND)

    @task_group(group_id=BATCH_GROUP)
    def batch(one, field_map):
        """Transform, post and tag one batch; each batch goes on as soon as its own previous stage is done."""
        transformed = transform(KIND, one, field_map)
        posted = post_to_ats.override(pool=ats_pool(PROFILE.ats_conn_id), max_active_tis_per_dagrun=ats_concurrency())(
            KIND, transformed
        )
        tagged = tag.override(task_id="tag_profiles", pool=hrflow_pool(), max_active_tis_per_dagrun=parallel_batches())(
            KIND, posted
        )
        return [transformed, posted, tagged]

    stages = batch.partial(field_map=batches["field_map"]).expand(one=batches)
    removed = remove.override(pool=ats_pool(PROFILE.ats_conn_id))(KIND)  # what HrFlow archived or deleted
    batches >> removed
    counted = report.override(outlets=[asset_alias(KIND)])(KIND)
    stages >> counted
    removed >> counted
    summary(KIND, counted)


dag = hrflow_profiles_to_ats()
