"""Build a self-contained SQLite Airflow home for the demo, the tests and the benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def airflow_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return an environment that points Airflow at ``home`` (SQLite) and at this repo's dags/ and plugins/."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "plugins")]),
    )
    env.update(extra or {})
    return env


def migrate(env: dict[str, str]) -> None:
    """Create or upgrade the metadata database of the home ``env`` points at."""
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def dags_test(env: dict[str, str], dag_id: str, conf: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``airflow dags test`` for one DAG and return the finished process (output captured)."""
    cmd = [AIRFLOW, "dags", "test", dag_id]
    if conf:
        cmd += ["--conf", conf]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
