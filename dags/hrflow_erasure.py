"""Honour an erasure request (GDPR Art. 17): delete the profiles' records from the ATS and forget their copies."""

from __future__ import annotations

from airflow.sdk import dag

from hrflow_airflow.erasure import erase_request, erasure_params
from hrflow_airflow.objects import PROFILE
from hrflow_airflow.sync.dag_args import START_DATE, ats_pool, default_args

DOC_MD = """
# HrFlow.ai erasure request

Triggered by hand (UI form or REST) with **keys only**:
`{"source_key": "<source key>", "profile_keys": ["<profile key>", ...]}`. For each profile:

* its record in the ATS is **deleted now** (archived where the ATS has no delete), whatever `[hrflow] on_archive`
  says; a 404 counts as not found;
* what Airflow still holds for it is forgotten: batch files of runs that carried it (XCom object storage), the
  SMS path's inbox and message records;
* the sync ledger keeps only a **tombstone** (key, date, the ATS id removed): no later run creates the candidate
  again, even while the profile still exists in HrFlow.

The result lists the keys removed, not found, and not supported by the ATS; a failure fails the run (run it
again: it is safe to repeat). Runbook: docs/operations.md, "Erasure request".
"""


@dag(
    dag_id="hrflow_erasure",
    schedule=None,  # triggered by hand: UI or REST
    start_date=START_DATE,
    catchup=False,
    doc_md=DOC_MD,
    tags=["hrflow", "ats", "gdpr"],
    params=erasure_params(),
    default_args=default_args(),
)
def hrflow_erasure():
    erase_request.override(pool=ats_pool(PROFILE.ats_conn_id))()


dag = hrflow_erasure()
