# The Airflow image for docker-compose.yaml and the Helm chart: the official image on the Python the tests ran on
# (3.11), the runtime dependencies only, with the same constraints as `make install`, and this project built in.
# Three stages: `product` (the package, the DAG files, the api-server plugin), `sandbox` (product + the local
# emulators, built only by compose's `sandbox` profile) and `production`, the default target: the product alone.
FROM apache/airflow:3.3.2-python3.11 AS product

COPY requirements-runtime.txt constraints.txt /opt/hrflow-airflow/
RUN pip install --no-cache-dir -r /opt/hrflow-airflow/requirements-runtime.txt -c /opt/hrflow-airflow/constraints.txt

# The package (hooks, provider entry point for the `hrflow` connection form, webhook app), then the DAG files and
# the api-server plugin, built in rather than mounted: one version of everything per image
COPY --chown=airflow:root pyproject.toml README.md /opt/hrflow-airflow/
COPY --chown=airflow:root plugins/hrflow_airflow /opt/hrflow-airflow/plugins/hrflow_airflow
RUN pip install --no-cache-dir --no-deps -c /opt/hrflow-airflow/constraints.txt /opt/hrflow-airflow
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins/hrflow_plugin.py /opt/airflow/plugins/hrflow_plugin.py

# The local emulators of HrFlow, the ATSs and Twilio, with their fault-injection control plane: for
# `docker compose --profile sandbox` only, never in the production image
FROM product AS sandbox
COPY --chown=airflow:root sandbox /opt/airflow/sandbox

FROM product AS production
