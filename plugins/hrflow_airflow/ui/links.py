"""Links the HrFlow page draws: to an Airflow run, and to a record in the ATS where the vendor documents its URL."""

from __future__ import annotations

from urllib.parse import quote

# the ledger key's vendor part (``<connection>/<vendor>``) -> the record's URL in the vendor's app, from the id
RECORD_URLS = {
    # Lever's Opportunity object carries its page as ``urls.show``: https://hire.lever.co/candidates/<id>
    # (https://hire.lever.co/developer/documentation#opportunities)
    "lever": "https://hire.lever.co/candidates/{id}",
}


def record_url(destination: str, remote_id: str | None) -> str | None:
    """Return the ATS page of ``remote_id`` at ``destination``, or None where the vendor documents no pattern."""
    vendor = destination.partition("/")[2]
    pattern = RECORD_URLS.get(vendor)
    return pattern.format(id=quote(remote_id, safe="")) if pattern and remote_id else None


def run_url(base_url: str, dag_id: str, run_id: str) -> str:
    """Return the Airflow UI page of one DAG run."""
    return f"{base_url.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
