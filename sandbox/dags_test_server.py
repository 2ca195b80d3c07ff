"""
A warm ``airflow dags test``: a process that imports Airflow once, then forks one child per run.

A cold ``airflow dags test`` spends most of a short run before and after it: importing Airflow (about 2 s here),
building the in-process Execution API's versioned routes on the first task's first call (about 2.5 s) and
shutting the interpreter down (about 2 s). This server pays the first two once. Each run is a child forked from
it that takes the run's environment, runs Airflow's own CLI entry point (``airflow.__main__.main``) with the
run's arguments, and writes stdout and stderr to the files it is given: the same command, the same code path,
without the fixed costs. The child leaves with ``os._exit`` once its output is flushed (everything it wrote to
the databases was committed by then).

Nothing candidate- or test-specific is imported or called before the fork: no DAG file, no plugin, no
connection, variable or Fernet key is read. The parent only imports and builds the Execution API app, so every
setting a run passes in its environment (``AIRFLOW_CONN_*``, ``AIRFLOW_VAR_*``, ``AIRFLOW__HRFLOW__*``, the
Fernet key) is read by the child, as a fresh process would. :class:`WarmAirflow`, its client, serves
``sandbox.airflow_home.dags_test`` runs whose home and Airflow core settings match the server's; the others run as
a plain subprocess.

Protocol (one JSON object per line): request ``{"argv", "env", "stdout", "stderr"}`` on stdin; answers
``{"pid"}`` right after the fork, then ``{"returncode"}`` when the child has exited.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def warm() -> None:
    """Import what every ``dags test`` run imports, and build the in-process Execution API's routes."""
    from airflow import __main__ as cli  # noqa: F401 (airflow, its configuration and the CLI parser)
    from airflow.cli.commands import dag_command  # noqa: F401
    from airflow.sdk.execution_time import supervisor, task_runner  # noqa: F401

    app = supervisor.in_process_api_server().app  # the process's one in-process API (cached), as dags test uses

    async def one_request() -> None:
        """Send the app one request: the versioned routes are generated on the first (a 404 needs no thread)."""
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/warm-up-not-a-route",
            "raw_path": b"/warm-up-not-a-route",
            "query_string": b"",
            "root_path": "",
            "headers": [],
            "client": ("127.0.0.1", 0),
            "server": ("127.0.0.1", 80),
        }

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(_message: dict) -> None:
            return None

        await app(scope, receive, send)

    asyncio.run(one_request())


def run_child(request: dict) -> int:
    """Run one ``airflow`` command in this (forked) process with the request's environment; return its code."""
    os.setpgid(0, 0)  # its own group: a timeout kills the run and whatever it started
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.close(nothing)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, fd)
        os.close(out)
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # the run's TMPDIR, not the one the server may have read before the fork
    sys.argv = ["airflow", *request["argv"]]
    from airflow.__main__ import main

    try:
        main()
        code = 0
    except SystemExit as exc:  # what the interpreter would print and return for it
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def serve() -> None:
    """Answer requests until stdin closes."""
    answers = os.fdopen(os.dup(1), "w")  # the answers' own pipe: what Airflow prints goes to stderr
    os.dup2(2, 1)
    warm()
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = run_child(request)
            finally:
                os._exit(code)
        try:
            os.setpgid(pid, pid)  # here too, so that the group exists once the client knows the pid
        except (PermissionError, ProcessLookupError):  # the child did it already, or has exited
            pass
        answers.write(json.dumps({"pid": pid}) + "\n")
        answers.flush()
        _, status = os.waitpid(pid, 0)
        answers.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        answers.flush()


class WarmAirflow:
    """The client of one :mod:`sandbox.dags_test_server` process: runs one command at a time, in a forked child."""

    _servers: dict[tuple, WarmAirflow] = {}  # oldest first
    KEEP = 2
    _guard = threading.Lock()

    def __init__(self, env: dict[str, str]) -> None:
        log = open(Path(env["AIRFLOW_HOME"]) / f"dags-test-server-{os.getpid()}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox.dags_test_server"],
            env=env,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            bufsize=0,
        )
        log.close()
        self.busy = threading.Lock()
        self.pending = b""

    @staticmethod
    def key(env: dict[str, str]) -> tuple:
        """Return what the server fixes at its start: the home and Airflow's settings but ours and the Fernet key."""
        fixed = {"AIRFLOW_HOME", "PYTHONPATH", "PATH"}
        return tuple(
            sorted(
                (name, value)
                for name, value in env.items()
                if name in fixed
                or (
                    name.startswith("AIRFLOW__")
                    and not name.startswith("AIRFLOW__HRFLOW__")
                    and name != "AIRFLOW__CORE__FERNET_KEY"
                )
            )
        )

    @classmethod
    def for_env(cls, env: dict[str, str]) -> WarmAirflow | None:
        """Return the idle server for ``env``'s settings (started on first use), or None when it is busy."""
        with cls._guard:
            key = cls.key(env)
            server = cls._servers.get(key)
            if server is None or server.proc.poll() is not None:
                server = cls._servers[key] = cls(env)
                for stale in list(cls._servers)[: -cls.KEEP]:  # a test's own home is seldom used again
                    cls._servers.pop(stale).stop()
        return server if server.busy.acquire(blocking=False) else None

    def answer(self, deadline: float) -> dict | None:
        """Read the server's next answer line, or None at ``deadline`` (monotonic seconds)."""
        poller = select.poll()  # not select.select: a test process may hold more than FD_SETSIZE (1024) files
        poller.register(self.proc.stdout.fileno(), select.POLLIN)
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                return None
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError(f"the warm dags-test server exited ({self.proc.wait()}): see its log in the home")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    def run(self, args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
        """Run ``airflow <args>`` in a child of the server (the caller holds ``busy``); return it as finished."""
        try:
            with tempfile.TemporaryDirectory(prefix="dags-test-") as tmp:
                out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
                request = {"argv": args, "env": env, "stdout": str(out), "stderr": str(err)}
                self.proc.stdin.write(json.dumps(request).encode() + b"\n")
                started = time.monotonic()
                sent = self.answer(started + 60)
                if sent is None:
                    raise RuntimeError("the warm dags-test server did not start a run in 60 s: see its log in the home")
                pid = sent["pid"]
                done = self.answer(started + timeout)
                if done is None:
                    with contextlib.suppress(ProcessLookupError):  # it ended as the time ran out
                        os.killpg(pid, signal.SIGKILL)
                    if self.answer(time.monotonic() + 60) is None:  # its exit never reported: start afresh
                        self.proc.kill()
                    # a child killed before it opened its files wrote nothing
                    written = [path.read_bytes() if path.exists() else b"" for path in (out, err)]
                    raise subprocess.TimeoutExpired(["airflow", *args], timeout, *written)
                text = {"encoding": "utf-8", "errors": "replace"}
                return subprocess.CompletedProcess(
                    ["airflow", *args], done["returncode"], out.read_text(**text), err.read_text(**text)
                )
        except subprocess.TimeoutExpired:
            raise
        except BaseException:  # its answers may no longer match its requests: the next run starts a new server
            self.proc.kill()
            raise
        finally:
            self.busy.release()

    def stop(self) -> None:
        """Close the server's requests: it leaves once its current child (if any) has exited."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    @classmethod
    def stop_all(cls) -> None:
        """Stop every server this process started."""
        for server in cls._servers.values():
            server.stop()


atexit.register(WarmAirflow.stop_all)


if __name__ == "__main__":
    serve()
