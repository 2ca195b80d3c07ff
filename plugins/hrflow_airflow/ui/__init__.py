"""The HrFlow page in the Airflow UI: the sync ledger's counts, run history, one key's story, two actions."""
