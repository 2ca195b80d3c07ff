"""The compose stack, the image and the Helm values, checked at the file level (no Docker daemon here): files only,
so these run in the parallel phase, not with the stack tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from sandbox.connections import sandbox_connections

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
SERVICES = COMPOSE["services"]
AIRFLOW_SERVICES = [
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
]
COMMON_ENV = COMPOSE["x-airflow-common"]["environment"]


def requirement_names(text: str) -> list[str]:
    return [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]


@pytest.mark.parametrize("service", AIRFLOW_SERVICES)
def test_airflow_services_share_one_env_block_and_image(service):
    spec = SERVICES[service]
    env = spec["environment"]
    assert {k: env[k] for k in COMMON_ENV} == COMMON_ENV
    assert set(env) - set(COMMON_ENV) <= {"DUMB_INIT_SETSID"}
    assert spec["build"] == {"context": ".", "target": "production"}
    assert spec["image"] == COMPOSE["x-airflow-common"]["image"]
    assert "healthcheck" in spec or service == "airflow-init"


def test_base_services_and_shared_secrets():
    assert SERVICES["postgres"]["image"] == "postgres:16"
    assert SERVICES["redis"]["image"].startswith("redis:")
    assert COMMON_ENV["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    # safe by default: no JWT secret or Fernet key falls back to a value everyone knows
    assert COMMON_ENV["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${JWT_SECRET:?")
    assert COMMON_ENV["AIRFLOW__CORE__FERNET_KEY"].startswith("${AIRFLOW_FERNET_KEY:?")
    assert COMMON_ENV["AIRFLOW__API__BASE_URL"].startswith("${AIRFLOW_BASE_URL")
    assert SERVICES["airflow-worker"]["stop_grace_period"] == "10m"  # running batches finish on `up -d --build`
    url = COMMON_ENV["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    host, port = re.match(r"http://([\w-]+):(\d+)/execution/$", url).groups()
    assert host == "airflow-apiserver" and SERVICES[host]["ports"][0].endswith(f":{port}")  # the container's port
    assert "airflow pools set hrflow_api" in SERVICES["airflow-init"]["command"][1]
    assert COMMON_ENV["AIRFLOW__HRFLOW__POOL"] == "hrflow_api"


def test_large_xcoms_go_to_object_storage_on_a_shared_volume():
    assert COMMON_ENV["AIRFLOW__CORE__XCOM_BACKEND"].endswith("XComObjectStorageBackend")
    assert "file:///opt/airflow/xcom" in COMMON_ENV["AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH"]
    assert "xcom-data:/opt/airflow/xcom" in COMPOSE["x-airflow-common"]["volumes"]


def test_every_volume_exists():
    for spec in SERVICES.values():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), source
            else:
                assert source in COMPOSE["volumes"], source


def test_sandbox_profile_points_connections_at_its_services():
    sandbox, init = SERVICES["sandbox"], SERVICES["sandbox-init"]
    assert sandbox["profiles"] == init["profiles"] == ["sandbox"]
    port = sandbox["entrypoint"][sandbox["entrypoint"].index("--port") + 1]
    base = init["entrypoint"][init["entrypoint"].index("--base-url") + 1]
    assert base == f"http://sandbox:{port}"
    for conn in sandbox_connections(base).values():
        assert conn["host"].startswith(f"http://sandbox:{port}/")
    assert init["depends_on"]["sandbox"]["condition"] == "service_healthy"


def test_the_image_installs_the_runtime_list_with_the_tested_constraints_and_builds_the_project_in():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "FROM apache/airflow:3.3.2-python3.11 AS product" in dockerfile.splitlines()  # the tests' Python
    assert "-r /opt/hrflow-airflow/requirements-runtime.txt -c /opt/hrflow-airflow/constraints.txt" in dockerfile
    assert "requirements.txt " not in dockerfile  # the test tools stay out of the image
    runtime = requirement_names((REPO / "requirements-runtime.txt").read_text())
    assert "apache-airflow[celery,postgres]==3.3.2" in runtime and "hrflow==4.3.0" in runtime
    assert not [r for r in runtime if r.startswith(("pytest", "ruff"))]
    full = requirement_names((REPO / "requirements.txt").read_text())
    assert full[0] == "-r requirements-runtime.txt" and any(r.startswith("pytest") for r in full)
    # built in, not mounted: the DAG files, the api-server plugin and the package are one version per image
    stages = dockerfile_stages(dockerfile)
    assert list(stages) == ["product", "sandbox", "production"]  # the last stage, the default target: production
    for path in ("dags", "plugins/hrflow_plugin.py"):
        assert f"COPY --chown=airflow:root {path} " in stages["product"], path
    assert "sandbox" not in stages["product"].replace("--profile sandbox", "") and stages["production"] == ""
    assert "COPY --chown=airflow:root sandbox " in stages["sandbox"]
    mounts = [v.split(":")[0] for v in COMPOSE["x-airflow-common"]["volumes"]]
    assert not {"./dags", "./plugins", "./sandbox"} & set(mounts)
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in (REPO / "docker-compose.yaml").read_text()


def dockerfile_stages(text: str) -> dict[str, str]:
    """Return each stage's instructions (comments left out), by stage name."""
    stages: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("FROM "):
            current = line.split(" AS ")[1].strip()
            stages[current] = []
        elif current and line.strip() and not line.startswith("#"):
            stages[current].append(line)
    return {name: "\n".join(lines) for name, lines in stages.items()}


def test_the_sandbox_is_its_own_image_on_this_host_only_and_the_build_context_holds_the_product():
    for name in ("sandbox", "sandbox-init"):
        assert SERVICES[name]["build"] == {"context": ".", "target": "sandbox"}, name
        assert SERVICES[name]["image"].endswith("-sandbox"), name
    assert SERVICES["sandbox"]["ports"] == ["127.0.0.1:8765:8765"]  # the fault-injection control plane too
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert ignore[1] == "*"  # everything out, then only what the Dockerfile copies back in
    kept = {line[1:].rstrip("/*") for line in ignore if line.startswith("!")}
    copied = set(re.findall(r"^COPY (?:--chown=\S+ )?(.+) /", (REPO / "Dockerfile").read_text(), flags=re.M))
    assert {path for line in copied for path in line.split()} <= kept | {"Dockerfile"}


def test_the_admin_password_file_is_json_whatever_the_password(tmp_path):
    """airflow-init writes passwords.json with a JSON encoder: quotes, backslashes and $ stay the password."""
    import shlex
    import subprocess
    import sys

    init = SERVICES["airflow-init"]["command"][1]
    start = init.index("python -c ")
    command = init[start : init.index("> /opt/airflow/config/passwords.json", start)].replace("\\\n", " ")
    password = "p\"a\\ss'w$rd {}"
    command = command.replace('"${AIRFLOW_ADMIN_USERNAME:-admin}"', shlex.quote('ad"min'))
    command = command.replace('"$${AIRFLOW_ADMIN_PASSWORD}"', shlex.quote(password))
    command = command.replace("python ", f"{shlex.quote(sys.executable)} ", 1)
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == {'ad"min': password}


def test_only_the_proxy_is_published_and_the_ui_stays_on_this_host():
    published = {n: spec["ports"] for n, spec in SERVICES.items() if spec.get("ports") and not spec.get("profiles")}
    assert set(published) == {"airflow-apiserver", "proxy"}
    assert published["airflow-apiserver"] == ["127.0.0.1:${AIRFLOW_UI_PORT:-8080}:8080"]
    assert published["proxy"] == ["${WEBHOOK_HTTPS_PORT:-443}:443"]
    conf = (REPO / "deploy" / "nginx" / "hrflow-webhook.conf").read_text()
    locations = re.findall(r"location ([^@].*?) \{", conf)  # named ones (@...) are internal
    assert locations == ["= /hrflow/webhook", "= /hrflow/health", "/"]
    assert "large_client_header_buffers 4 64k;" in conf  # HrFlow's ~17 KB signature header
    assert "listen 443 ssl;" in conf and "return 404;" in conf


def test_no_default_login_and_credentials_come_from_env():
    init = SERVICES["airflow-init"]["command"][1]
    assert "passwords.json" in init and 'if [ -n "${AIRFLOW_ADMIN_PASSWORD:-}" ]' in init
    assert "change-me" not in (REPO / "docker-compose.yaml").read_text()
    for name in (
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW_CONN_HRFLOW_LEDGER",
    ):
        assert "${POSTGRES_PASSWORD:?" in COMMON_ENV[name] and "airflow:airflow" not in COMMON_ENV[name], name
    assert SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_distributed_path_packages_are_pinned_where_the_dockerfile_reads_them():
    runtime = (REPO / "requirements-runtime.txt").read_text()
    pins = dict(line.split("==") for line in requirement_names(runtime) if "==" in line)
    constraints = dict(line.split("==") for line in requirement_names((REPO / "constraints.txt").read_text()))
    for package in ("apache-airflow-providers-celery", "psycopg2-binary", "asyncpg", "redis", "statsd"):
        assert package in pins, f"{package} is not pinned in requirements.txt"
        assert constraints[package] == pins[package], package
    assert "celery>=5.6,<5.7" in requirement_names(runtime)


def test_env_example_requires_the_secrets_and_shadows_no_connection():
    lines = (REPO / ".env.example").read_text().splitlines()
    names = {line.split("=")[0] for line in lines if line and not line.startswith("#")}
    assert {
        "AIRFLOW_FERNET_KEY",
        "JWT_SECRET",
        "POSTGRES_PASSWORD",
        "AIRFLOW_ADMIN_PASSWORD",
        "AIRFLOW_BASE_URL",
    } <= names
    # set connections or Variables would override what the sandbox profile's init writes
    assert not [n for n in names if n.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))]
    examples = " ".join(line for line in lines if line.startswith("# AIRFLOW_CONN_"))
    for conn_type in ("hrflow", "hrflow_ats", "smartrecruiters", "workable", "hrflow_messaging", "twilio"):
        assert f'"conn_type": "{conn_type}"' in examples, conn_type
    assert any(line.startswith("# AIRFLOW_CONN_HRFLOW_ALERT=") and "twilio" in line for line in lines)


def test_provider_package_name_is_the_distribution_name():
    from importlib.metadata import distribution

    from hrflow_airflow import get_provider_info
    from hrflow_airflow.destinations import REGISTRY, declaration

    info = get_provider_info()
    assert distribution(info["package-name"]).metadata["Name"] == info["package-name"]
    types = {c["connection-type"]: c for c in info["connection-types"]}
    vendors = {declaration(path)["conn_type"] for path in REGISTRY}  # every ATS adapter, found from its module
    assert {"smartrecruiters", "workable", "greenhouse", "lever", "teamtailor"} <= vendors
    assert set(types) == {"hrflow", "hrflow_messaging", "twilio", *vendors}
    conn = types["hrflow"]
    assert conn["conn-fields"]["webhook_secret"]["schema"]["format"] == "password"
    # the rotation runbook's extra, and the messaging one, are form fields: the raw Extra field is hidden
    assert conn["conn-fields"]["webhook_secret_next"]["schema"]["format"] == "password"
    assert "extra" in conn["ui-field-behaviour"]["hidden-fields"]
    honoured = types["hrflow_messaging"]["conn-fields"]["idempotency_key_honoured"]
    assert honoured["schema"]["type"] == ["boolean", "null"] and honoured["description"]
    assert conn["ui-field-behaviour"]["relabeling"] == {
        "host": "API base URL",
        "login": "API user email",
        "password": "API secret",
    }


def test_airflow_lists_the_hrflow_hook(tmp_path):
    import subprocess

    from sandbox.airflow_home import AIRFLOW, airflow_env

    out = subprocess.run(
        [AIRFLOW, "providers", "hooks", "--output", "json"],
        env=airflow_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    hooks = {h["connection_type"]: h for h in json.loads(out[out.index("[") :])}
    assert hooks["hrflow"]["class"] == "hrflow_airflow.hooks.hrflow_api.HrFlowHook"
    assert hooks["hrflow"]["package_name"] == "hrflow-airflow"
    assert hooks["hrflow_ats"]["class"] == "hrflow_airflow.hooks.api_key.AtsHook"
    assert hooks["hrflow_messaging"]["class"] == "hrflow_airflow.hooks.api_key.MessagingHook"
    assert hooks["twilio"]["class"] == "hrflow_airflow.hooks.twilio.TwilioHook"


# -- Kubernetes: deploy/helm/values.yaml for the official chart, pinned ----------------------------------------------
HELM_CHART = "1.22.0"
PARAMS = f"https://airflow.apache.org/docs/helm-chart/{HELM_CHART}/parameters-ref.html"
INGRESS = "chart/templates/api-server/api-server-ingress.yaml (helm-chart/1.22.0)"
# every key the values file sets, with where the chart documents it
DOCUMENTED = {
    "defaultAirflowRepository": PARAMS + "#common",
    "defaultAirflowTag": PARAMS + "#common",
    "airflowVersion": PARAMS + "#common",
    "images.airflow.repository": PARAMS + "#images",
    "images.airflow.tag": PARAMS + "#images",
    "images.airflow.pullPolicy": PARAMS + "#images",
    "executor": PARAMS + "#common",
    "workers.replicas": PARAMS + "#workers",
    "workers.terminationGracePeriodSeconds": PARAMS + "#workers",
    "dags.persistence.enabled": PARAMS + "#airflow",
    "dags.gitSync.enabled": PARAMS + "#airflow",
    "postgresql.enabled": PARAMS + "#database",
    "data.metadataSecretName": PARAMS + "#database",
    "fernetKeySecretName": PARAMS + "#common",
    "jwtSecretName": PARAMS + "#common",
    "apiSecretKeySecretName": PARAMS + "#common",
    "webserver.defaultUser.enabled": "chart/templates/jobs/create-user-job.yaml (the job runs only when it is on)",
    "volumes": PARAMS + "#common",  # volumes of every Airflow container
    "volumeMounts": PARAMS + "#common",
    "apiServer.extraInitContainers": "chart/templates/api-server/api-server-deployment.yaml",
    "apiServer.extraVolumes": "chart/templates/api-server/api-server-deployment.yaml",
    "apiServer.extraVolumeMounts": "chart/templates/api-server/api-server-deployment.yaml",
    "extraEnvFrom": PARAMS + "#common",
    "config": PARAMS + "#common",  # settings for airflow.cfg, any section
    "apiServer.replicas": PARAMS + "#api-server",
    "ingress.apiServer.enabled": INGRESS,
    "ingress.apiServer.ingressClassName": INGRESS,
    "ingress.apiServer.annotations": INGRESS,
    "ingress.apiServer.hosts": INGRESS,  # [{name, tls: {enabled, secretName}}]
    "ingress.apiServer.path": INGRESS,
    "ingress.apiServer.pathType": INGRESS,
    "ingress.apiServer.succeedingPaths": INGRESS,  # [{path, pathType, serviceName, servicePort}]
}
OPAQUE = {
    "config", "extraEnvFrom", "ingress.apiServer.annotations", "ingress.apiServer.hosts", "volumes", "volumeMounts",
    "apiServer.extraInitContainers", "apiServer.extraVolumes", "apiServer.extraVolumeMounts",
}  # fmt: skip
# what an XCom or secrets path needs installed: scheme or backend module -> the distribution that provides it
PROVIDERS = {
    "s3": "apache-airflow-providers-amazon",
    "gs": "apache-airflow-providers-google",
    "gcs": "apache-airflow-providers-google",
    "airflow.providers.amazon": "apache-airflow-providers-amazon",
    "airflow.providers.google": "apache-airflow-providers-google",
    "airflow.providers.hashicorp": "apache-airflow-providers-hashicorp",
}


def leaf_keys(values: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, value in values.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and key not in OPAQUE:
            keys |= leaf_keys(value, f"{key}.")
        else:
            keys.add(key)
    return keys


def test_helm_values_use_only_keys_the_pinned_chart_documents():
    text = (REPO / "deploy" / "helm" / "values.yaml").read_text()
    values = yaml.safe_load(text)
    assert f"--version {HELM_CHART}" in text and HELM_CHART in (REPO / "docs" / "deploy.md").read_text()
    assert leaf_keys(values) <= set(DOCUMENTED), leaf_keys(values) - set(DOCUMENTED)
    # what the deployment relies on
    assert values["images"]["airflow"]["tag"] == values["defaultAirflowTag"]
    assert values["executor"] in ("CeleryExecutor", "KubernetesExecutor")
    assert "secretRef" in values["extraEnvFrom"]  # connections from a Kubernetes Secret
    hrflow = values["config"]["hrflow"]
    assert {"created_at_floor", "max_objects_per_run"} <= set(hrflow)
    assert "pool" not in hrflow  # opt-in, as on a plain install: nothing on Kubernetes creates the pool
    ingress = values["ingress"]["apiServer"]
    paths = [(ingress["path"], ingress["pathType"])] + [(p["path"], p["pathType"]) for p in ingress["succeedingPaths"]]
    assert paths == [("/hrflow/webhook", "Exact"), ("/hrflow/health", "Exact")]  # nothing else is routed
    assert not ingress.get("precedingPaths") and all(h["tls"]["enabled"] for h in ingress["hosts"])


def helm_values() -> dict:
    return yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())


def test_helm_values_meet_what_the_chart_templates_require():
    """Each value as the 1.22.0 template that reads it needs it: the chart is not rendered here, so say it here."""
    values, text = helm_values(), (REPO / "deploy" / "helm" / "values.yaml").read_text()
    release = re.search(r"helm install (\S+) apache-airflow/airflow", text).group(1)
    # api-server-ingress.yaml: a succeeding path's backend is `name: {{ .serviceName }}`, port `{{ .servicePort }}`
    for path in values["ingress"]["apiServer"]["succeedingPaths"]:
        assert path["serviceName"] == f"{release}-api-server" and path["servicePort"] == "api-server", path
    # a result backend Secret holds a db+postgresql:// URL, the metadata one a postgresql:// URL: never the same
    # Secret; left out, Airflow derives the db+ URL from the metadata connection
    data = values["data"]
    result_backend = data.get("resultBackendSecretName")
    assert result_backend is None or result_backend != data["metadataSecretName"]
    # every Airflow component signs with one [api] secret_key and one JWT secret
    assert values["apiSecretKeySecretName"] and values["jwtSecretName"]
    # no default login: no create-user job, the password file writable and seeded from a Secret
    assert values["webserver"]["defaultUser"]["enabled"] is False
    core = values["config"]["core"]
    auth_dir = str(Path(core["simple_auth_manager_passwords_file"]).parent)
    mounts = {m["mountPath"]: m["name"] for m in values["apiServer"]["extraVolumeMounts"]}
    volumes = {v["name"]: v for v in values["apiServer"]["extraVolumes"]}
    assert "emptyDir" in volumes[mounts[auth_dir]] and "secret" in volumes["admin-password"]


def test_every_provider_an_xcom_or_secrets_path_needs_is_in_the_image():
    values = helm_values()
    runtime = (REPO / "requirements-runtime.txt").read_text()
    xcom = values["config"]["common.io"]["xcom_objectstorage_path"]
    scheme = xcom.split("://")[0]
    if scheme == "file":  # a shared volume, mounted where the path points, in every Airflow container
        directory = xcom.removeprefix("file://").rstrip("/")
        mounted = {m["mountPath"].rstrip("/"): m["name"] for m in values["volumeMounts"]}
        claim = {v["name"]: v for v in values["volumes"]}[mounted[directory]]
        assert "persistentVolumeClaim" in claim
    else:
        assert PROVIDERS[scheme] in runtime, f"{xcom} needs {PROVIDERS[scheme]} in requirements-runtime.txt"
    backend = values["config"].get("secrets", {}).get("backend", "")
    for module, distribution in PROVIDERS.items():
        if backend.startswith(module):
            assert distribution in runtime, f"{backend} needs {distribution} in requirements-runtime.txt"
