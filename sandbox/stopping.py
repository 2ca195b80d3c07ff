"""Stopping a stack's components: what a component that ignored SIGTERM was doing, and whose code that was."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

STOP_GRACE = 20  # seconds a component gets to stop on SIGTERM


def in_airflow_shutdown(text: str) -> bool:
    """
    Tell whether what a component logged since its SIGTERM (``text``: its log, then its faulthandler stacks)
    shows Airflow's own shutdown failing, with no frame of this repository's code: stacks inside Airflow's
    SIGTERM handling (the DAG processor's ``_exit_gracefully``, a job's ``complete_execution``), or that handler's
    ``SystemExit`` lost, as CPython drops an exception raised in an at-fork hook (``Exception ignored in: ...``;
    the signal landed while the DAG processor forked a parser, and it went on parsing).
    """
    ours = ("/hrflow_airflow/", "/sandbox/", "/dags/hrflow_")
    files = [line for line in text.splitlines() if line.strip().startswith("File ")]
    if not files or any(mark in line for line in files for mark in ours):
        return False
    hung = any(
        line.rstrip().endswith(f" in {name}") for line in files for name in ("_exit_gracefully", "complete_execution")
    )
    return hung or any(
        ", in _exit_gracefully" in ignored.partition("SystemExit")[0] and "SystemExit" in ignored
        for ignored in text.split("Exception ignored in:")[1:]
    )


def log_size(log: Path) -> int:
    """Return how many bytes ``log`` holds now (0 if it does not exist yet)."""
    return log.stat().st_size if log.exists() else 0


def abort_for_stacks(proc: subprocess.Popen, log: Path, since: int) -> str:
    """
    SIGABRT component ``proc`` (started with ``PYTHONFAULTHANDLER=1``, so each thread's stack goes to ``log``),
    SIGKILL its process group; return what it wrote to ``log`` from byte ``since`` on (its SIGTERM, say).
    """
    os.kill(proc.pid, signal.SIGABRT)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    with open(log, "rb") as handle:
        handle.seek(since)
        return handle.read().decode(errors="replace")
