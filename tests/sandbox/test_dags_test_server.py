"""The warm ``airflow`` runner: each command runs in a fresh fork with its own environment, output and exit code."""

from __future__ import annotations

import os
import subprocess

import pytest

from sandbox.airflow_home import AIRFLOW, airflow_env
from sandbox.dags_test_server import WarmAirflow


@pytest.fixture
def warm(tmp_path):
    """Return a started server and the environment it was keyed by; stop it after the test."""
    env = airflow_env(tmp_path / "home", {"TMPDIR": str(tmp_path)})
    (tmp_path / "home").mkdir()
    servers = []

    def run(args: list[str], extra: dict[str, str] | None = None, timeout: float = 120):
        server = WarmAirflow.for_env({**env, **(extra or {})})
        assert server is not None, "a server nobody else uses is idle"
        servers.append(server)
        return server.run(args, {**env, **(extra or {})}, timeout)

    yield run, env
    for server in servers:
        server.stop()


def test_each_run_reads_its_own_settings_on_one_server(warm):
    """Two runs with different [hrflow] settings share one server, and each prints its own, as a cold command does."""
    run, env = warm
    first = run(["config", "get-value", "hrflow", "max_cv_mb"], {"AIRFLOW__HRFLOW__MAX_CV_MB": "7"})
    second = run(["config", "get-value", "hrflow", "max_cv_mb"], {"AIRFLOW__HRFLOW__MAX_CV_MB": "9"})
    cold = subprocess.run(
        [AIRFLOW, "config", "get-value", "hrflow", "max_cv_mb"],
        env={**env, "AIRFLOW__HRFLOW__MAX_CV_MB": "9"},
        capture_output=True,
        text=True,
    )
    assert (first.returncode, first.stdout.strip()) == (0, "7")
    assert (second.returncode, second.stdout.strip()) == (cold.returncode, cold.stdout.strip()) == (0, "9")
    assert WarmAirflow.key({**env, "AIRFLOW__HRFLOW__MAX_CV_MB": "7"}) == WarmAirflow.key(env)


def test_a_failing_command_returns_its_exit_code_and_its_error(warm):
    """An unknown option exits as the cold command does (argparse: code 2), its message on stderr."""
    run, env = warm
    result = run(["dags", "list", "--no-such-option"])
    cold = subprocess.run([AIRFLOW, "dags", "list", "--no-such-option"], env=env, capture_output=True, text=True)
    assert result.returncode == cold.returncode == 2
    assert "--no-such-option" in result.stderr


def test_a_run_past_its_timeout_is_killed_and_the_server_serves_the_next(warm):
    """A command that outlives its timeout raises TimeoutExpired; the server then runs the next command."""
    run, _ = warm
    with pytest.raises(subprocess.TimeoutExpired):
        run(["dags", "list-import-errors", "--output", "json"], timeout=0.01)
    after = run(["config", "get-value", "hrflow", "max_cv_mb"], {"AIRFLOW__HRFLOW__MAX_CV_MB": "3"})
    assert (after.returncode, after.stdout.strip()) == (0, "3")


def test_a_process_holding_more_than_1024_files_still_reads_the_answers(warm):
    """The answers are polled, not select()ed: a test process past FD_SETSIZE gets its runs (not a ValueError)."""
    import resource

    run, _ = warm
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        pytest.skip(f"this process may open {soft} files")
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        result = run(["config", "get-value", "hrflow", "max_cv_mb"], {"AIRFLOW__HRFLOW__MAX_CV_MB": "5"})
    finally:
        for fd in held:
            os.close(fd)
    assert (result.returncode, result.stdout.strip()) == (0, "5")
