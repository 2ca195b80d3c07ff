# The Airflow image for docker-compose.yaml: the official image plus requirements.txt and the plugins package.
FROM apache/airflow:3.3.2

COPY requirements.txt /opt/hrflow-airflow/requirements.txt
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /opt/hrflow-airflow/requirements.txt

# The package (hooks, provider entry point for the `hrflow` connection form, webhook app).
COPY --chown=airflow:root pyproject.toml README.md /opt/hrflow-airflow/
COPY --chown=airflow:root plugins/hrflow_airflow /opt/hrflow-airflow/plugins/hrflow_airflow
RUN pip install --no-cache-dir --no-deps /opt/hrflow-airflow
