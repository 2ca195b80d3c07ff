"""Links the HrFlow page draws: to an Airflow run, and to a record in the ATS where the vendor documents its URL."""

from __future__ import annotations

from urllib.parse import quote


def record_url(destination: str, remote_id: str | None) -> str | None:
    """
    Return the ATS page of ``remote_id`` at ``destination`` (a ledger key, ``<connection>/<vendor>``), as the
    vendor's adapter declares it (``record_url``), or None where the vendor documents no pattern.
    """
    from hrflow_airflow.destinations import record_url as adapter_record_url

    return adapter_record_url(destination.partition("/")[2], remote_id)


def run_url(base_url: str, dag_id: str, run_id: str) -> str:
    """Return the Airflow UI page of one DAG run."""
    return f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
