"""The one [hrflow] registry: declared to Airflow, listed in docs/configuration.md, read typed at run time."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hrflow_airflow.errors import BadConfigError
from hrflow_airflow.settings import OPTIONS, Settings, provider_config, settings

REPO = Path(__file__).resolve().parents[3]


def documented() -> set[str]:
    """Return the settings docs/configuration.md lists in its `[hrflow]` table."""
    text = (REPO / "docs" / "configuration.md").read_text()
    table = text.split("## `[hrflow]` settings", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.M))


def airflow(*args: str, env: dict[str, str]) -> str:
    cli = Path(sys.executable).with_name("airflow")
    return subprocess.run([str(cli), *args], env=env, capture_output=True, text=True, check=True, timeout=120).stdout


@pytest.fixture
def cli_env(tmp_path, monkeypatch) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__HRFLOW__")}
    return {**env, "AIRFLOW_HOME": str(tmp_path)}


def test_registry_settings_and_docs_list_the_same_options():
    names = {o.name for o in OPTIONS}
    assert names == set(Settings.__dataclass_fields__) == documented()
    assert set(provider_config()["hrflow"]["options"]) == names


def test_airflow_config_list_shows_every_documented_option(cli_env):
    listed = set(re.findall(r"^# ([a-z_]+) = ", airflow("config", "list", "--section", "hrflow", env=cli_env), re.M))
    assert listed == documented()


def test_airflow_config_get_value_shows_the_default_and_an_override(cli_env):
    assert airflow("config", "get-value", "hrflow", "max_attempts", env=cli_env).strip() == "5"
    assert airflow("config", "get-value", "hrflow", "breaker_after", env=cli_env).strip() == "5"
    env = {**cli_env, "AIRFLOW__HRFLOW__MAX_ATTEMPTS": "7"}
    assert airflow("config", "get-value", "hrflow", "max_attempts", env=env).strip() == "7"


def test_settings_are_typed_and_read_at_call_time(monkeypatch):
    monkeypatch.setenv("AIRFLOW__HRFLOW__MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AIRFLOW__HRFLOW__UPDATES", "false")
    current = settings()
    assert current.max_attempts == 2 and current.updates is False and current.result_window == 10000
    monkeypatch.setenv("AIRFLOW__HRFLOW__MAX_ATTEMPTS", "many")
    with pytest.raises(BadConfigError, match=r"\[hrflow\] max_attempts must be of type integer"):
        settings()
