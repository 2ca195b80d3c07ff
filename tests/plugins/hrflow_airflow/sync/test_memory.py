"""The memory a task freed goes back to the system when the task ends (glibc's malloc_trim), in this process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from hrflow_airflow.sync.memory import _libc_trim

# A child process, so that what this test allocates leaves no trace in the suite's worker: eight threads each
# allocate 40 MB in 16 KB pieces (glibc serves those from the thread's own arena, not mmap), each followed by a
# 1 KB one that stays alive (both from malloc: pymalloc takes only up to 512 B), then free the pieces. The holes
# between the survivors are free but not at the heap's top, so glibc keeps them. The child prints its resident
# memory when the task returns and after.
CHILD = textwrap.dedent(
    """
    import threading
    from pathlib import Path
    from hrflow_airflow.sync.memory import gives_memory_back

    def rss_mb():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

    KEPT = []

    def churn():
        pieces = [(bytearray(16 * 1024), bytearray(1024)) for _ in range(2560)]
        KEPT.extend(small for _, small in pieces)
        del pieces

    @gives_memory_back
    def task():
        threads = [threading.Thread(target=churn) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return rss_mb()

    during = task.__wrapped__() if TRIM == 0 else task()
    print(during, rss_mb())
    """
)


def run(trim: int) -> tuple[float, float]:
    code = f"TRIM = {trim}\n{CHILD}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    before, after = (float(x) for x in out.stdout.split())
    return before, after


@pytest.mark.skipif(_libc_trim() is None, reason="the C library has no malloc_trim (not glibc)")
def test_a_task_gives_back_what_its_threads_freed():
    kept_before, kept_after = run(trim=0)
    given_before, given_after = run(trim=1)

    assert kept_before > 120 and given_before > 120  # the freed pieces still counted when the task returned
    assert kept_after > kept_before - 5  # undecorated: what the threads freed stays with the process
    assert given_after < given_before - 50  # decorated: given back when the task ends


def test_an_error_still_gives_memory_back(monkeypatch):
    calls = []
    monkeypatch.setattr("hrflow_airflow.sync.memory.trim", lambda: calls.append(1) or True)
    from hrflow_airflow.sync.memory import gives_memory_back

    @gives_memory_back
    def failing():
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        failing()
    assert calls == [1]
