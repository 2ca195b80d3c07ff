"""What a component that ignores SIGTERM was doing: its log and stacks, and whether they are Airflow's shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sandbox.stopping import abort_for_stacks, in_airflow_shutdown

LOSES_ITS_EXIT_IN_A_FORK = """
import os, signal, sys, time

def _exit_gracefully(signum, frame):  # Airflow's DAG processor: log, then sys.exit
    print("Exiting gracefully upon receiving signal", signum, flush=True)
    sys.exit(0)

def _releaseLock():  # logging's at-fork hook, where the signal landed on CI
    os.kill(os.getpid(), signal.SIGTERM)
    sum(range(100_000))  # the handler runs here; CPython reports its SystemExit as ignored

signal.signal(signal.SIGTERM, _exit_gracefully)
os.register_at_fork(after_in_parent=_releaseLock)
print("ready", flush=True)
if os.fork() == 0:  # the DAG processor forking a parser
    os._exit(0)
print("still parsing", flush=True)
while True:
    time.sleep(0.1)
"""

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
    stacks = abort_for_stacks(proc, log, since=0)
    assert proc.returncode is not None
    assert "in _exit_gracefully" in stacks and "Fatal Python error" in stacks
    assert in_airflow_shutdown(stacks)


def test_stacks_with_a_frame_of_ours_or_without_the_shutdown_are_not_airflows(tmp_path):
    proc, log = start(tmp_path, "sandbox", HANGS_IN_ITS_HANDLER)  # the same hang, in a file of this repository
    os.killpg(proc.pid, signal.SIGTERM)
    wait_for(log, "stopping", proc)
    stacks = abort_for_stacks(proc, log, since=0)
    assert "in _exit_gracefully" in stacks and not in_airflow_shutdown(stacks)
    busy = '  File "/venv/site-packages/airflow/jobs/job.py", line 12 in execute_job\n'
    assert not in_airflow_shutdown(busy)  # alive, but not shutting down: it never ran the handler
    assert not in_airflow_shutdown("")  # no stacks at all: nothing shows it was Airflow's


def test_a_component_whose_exit_was_lost_in_a_fork_goes_on_and_its_log_says_why(tmp_path):
    proc, log = start(tmp_path, "site-packages/airflow", LOSES_ITS_EXIT_IN_A_FORK)
    wait_for(log, "still parsing", proc)
    time.sleep(0.3)
    assert proc.poll() is None  # the SIGTERM it got is spent: as on CI, it runs until SIGKILL
    text = abort_for_stacks(proc, log, since=0)
    assert "Exception ignored in" in text and "SystemExit" in text and "Fatal Python error" in text
    assert in_airflow_shutdown(text)
    ours = text.replace(str(tmp_path / "site-packages/airflow"), "/repo/sandbox")  # the same, in a file of ours
    assert not in_airflow_shutdown(ours)
