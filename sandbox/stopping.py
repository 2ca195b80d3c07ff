"""Stopping a stack's components: what a component that ignored SIGTERM was doing, and whose code that was."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

STOP_GRACE = 20  # seconds a component gets to stop on SIGTERM


def in_airflow_shutdown(stacks: str) -> bool:
    """
    Tell whether a component's faulthandler ``stacks`` show it inside Airflow's own SIGTERM handling (the DAG
    processor's ``_exit_gracefully``, a job's ``complete_execution``) with no frame of this repository's code.
    """
    ours = ("/hrflow_airflow/", "/sandbox/", "/dags/hrflow_")
    files = [line for line in stacks.splitlines() if line.strip().startswith("File ")]
    shutdown = ("_exit_gracefully", "complete_execution")
    return (
        bool(files)
        and not any(mark in line for line in files for mark in ours)
        and any(line.rstrip().endswith(f" in {name}") for line in files for name in shutdown)
    )


def abort_for_stacks(proc: subprocess.Popen, log: Path) -> str:
    """
    SIGABRT component ``proc`` (started with ``PYTHONFAULTHANDLER=1``, so each thread's stack goes to ``log``),
    SIGKILL its process group; return what it wrote to ``log`` meanwhile.
    """
    before = log.stat().st_size if log.exists() else 0
    os.kill(proc.pid, signal.SIGABRT)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    with open(log, "rb") as handle:
        handle.seek(before)
        return handle.read().decode(errors="replace")[-6000:]
