"""What a component that ignores SIGTERM was doing: its stacks, and whether they are Airflow's shutdown alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sandbox.stopping import abort_for_stacks, in_airflow_shutdown

HANGS_IN_ITS_HANDLER = """
import signal, sys, threading, time

def _exit_gracefully(signum, frame):  # the handler's name in Airflow's DAG processor
    print("stopping", flush=True)
    threading.Event().wait()  # a shutdown that never ends

signal.signal(signal.SIGTERM, _exit_gracefully)
print("ready", flush=True)
while True:
    time.sleep(0.1)
"""


def wait_for(log: Path, word: str, proc: subprocess.Popen) -> None:
    while word not in log.read_text():
        assert proc.poll() is None, log.read_text()
        time.sleep(0.05)


def start(tmp_path: Path, where: str, source: str) -> tuple[subprocess.Popen, Path]:
    script = tmp_path / where / "component.py"
    script.parent.mkdir(parents=True)
    script.write_text(source)
    log = tmp_path / "component.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(script)],
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_for(log, "ready", proc)
    return proc, log


def test_a_component_stuck_in_its_own_sigterm_handler_is_aborted_and_its_stacks_say_so(tmp_path):
    proc, log = start(tmp_path, "site-packages/airflow", HANGS_IN_ITS_HANDLER)
    os.killpg(proc.pid, signal.SIGTERM)
    wait_for(log, "stopping", proc)
    time.sleep(0.5)
    assert proc.poll() is None  # ignored, as the dag-processor once did on CI
    stacks = abort_for_stacks(proc, log)
    assert proc.returncode is not None
    assert "in _exit_gracefully" in stacks and "Fatal Python error" in stacks
    assert in_airflow_shutdown(stacks)


def test_stacks_with_a_frame_of_ours_or_without_the_shutdown_are_not_airflows(tmp_path):
    proc, log = start(tmp_path, "sandbox", HANGS_IN_ITS_HANDLER)  # the same hang, in a file of this repository
    os.killpg(proc.pid, signal.SIGTERM)
    wait_for(log, "stopping", proc)
    stacks = abort_for_stacks(proc, log)
    assert "in _exit_gracefully" in stacks and not in_airflow_shutdown(stacks)
    busy = '  File "/venv/site-packages/airflow/jobs/job.py", line 12 in execute_job\n'
    assert not in_airflow_shutdown(busy)  # alive, but not shutting down: it never ran the handler
    assert not in_airflow_shutdown("")  # no stacks at all: nothing shows it was Airflow's
