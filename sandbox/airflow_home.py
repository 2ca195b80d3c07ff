"""Build a self-contained SQLite Airflow home for the demo, the tests and the benchmarks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from sandbox.dags_test_server import WarmAirflow
from sandbox.stopping import STOP_GRACE, abort_for_stacks, in_airflow_shutdown, log_size

REPO = Path(__file__).resolve().parent.parent
_BESIDE_PYTHON = Path(sys.executable).with_name("airflow")
AIRFLOW = str(_BESIDE_PYTHON) if _BESIDE_PYTHON.exists() else shutil.which("airflow") or "airflow"


def environ_without_airflow() -> dict[str, str]:
    """Return this process's environment without any ``AIRFLOW_*`` setting (each home sets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}


def forget_runs(home: Path) -> None:
    """Delete a home's sync ledger and batch files, so the next run remembers no earlier run's objects."""
    shutil.rmtree(Path(home) / "xcom" / "hrflow_batches", ignore_errors=True)
    for path in Path(home).glob("hrflow_ledger.db*"):
        path.unlink()


def airflow_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return an environment that points Airflow at ``home`` (SQLite) and at this repo's dags/ and plugins/."""
    env = environ_without_airflow()
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        # XComs of 1 KB or more go to files under the home; the metadata DB keeps only their paths
        AIRFLOW__CORE__XCOM_BACKEND="airflow.providers.common.io.xcom.backend.XComObjectStorageBackend",
        AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH=f"file://{home}/xcom",
        AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD="1024",
        # the HrFlow pool is opt-in; init_home creates it (AirflowStack(pool_slots=None) runs without it)
        AIRFLOW__HRFLOW__POOL="hrflow_api",
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "plugins")]),
        # `airflow standalone` starts its components as `airflow ...` from PATH
        PATH=os.pathsep.join([str(Path(AIRFLOW).parent), os.environ.get("PATH", "")]),
    )
    env.update(extra or {})
    return env


POOL, POOL_SLOTS = "hrflow_api", 16


def init_home(env: dict[str, str], pool_slots: int | None = POOL_SLOTS) -> None:
    """Create or upgrade the metadata database of the home ``env`` points at; create the HrFlow pool (unless None)."""
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    commands = [["db", "migrate"]]
    if pool_slots is not None:
        commands.append(["pools", "set", POOL, str(pool_slots), "Concurrent HrFlow API tasks"])
    for cmd in commands:
        subprocess.run([AIRFLOW, *cmd], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def dags_test(
    env: dict[str, str], dag_id: str, conf: str | None = None, timeout: float = 600, *, warm: bool = False
) -> subprocess.CompletedProcess:
    """
    Run ``airflow dags test`` for one DAG and return the finished process (output captured).

    ``warm``: run it as a child forked from a process that already imported Airflow (:mod:`sandbox.dags_test_server`,
    one per home and core settings, kept for this process's life), which saves a short run about 6 s of start-up
    and exit. The tests use it; the demo and the benchmarks time what a user runs: a cold command.
    ``HRFLOW_DAGS_TEST_COLD=1`` makes every run cold.
    """
    args = ["dags", "test", dag_id, *(["--conf", conf] if conf else [])]
    if warm and os.environ.get("HRFLOW_DAGS_TEST_COLD") != "1":
        server = WarmAirflow.for_env(env)
        if server is not None:
            return server.run(args, env, timeout)
    return subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout)


def worker_name() -> str:
    """Hostname callable for test workers: the worker's own name, so task instances show who ran them."""
    import socket

    return os.environ.get("HRFLOW_WORKER_NAME") or socket.getfqdn()


def _kill_quietly(proc) -> None:
    import psutil

    try:
        proc.kill()
    except psutil.Error:
        pass


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AirflowStack:
    """A real api-server, scheduler and dag-processor (LocalExecutor, SQLite) on loopback, as separate processes."""

    USER, PASSWORD = "admin", "admin-password"

    def __init__(
        self,
        home: Path,
        extra_env: dict[str, str] | None = None,
        port: int | None = None,
        pool_slots: int | None = POOL_SLOTS,
    ) -> None:
        import json
        import secrets

        self.home = Path(home)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = airflow_env(
            self.home,
            {
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
                **(extra_env or {}),
            },
        )
        if pool_slots is None:  # an Airflow where nobody ran `airflow pools set`: no pool, no [hrflow] pool
            self.env.pop("AIRFLOW__HRFLOW__POOL", None)
        init_home(self.env, pool_slots)
        (self.home / "passwords.json").write_text(json.dumps({self.USER: self.PASSWORD}))
        self.procs: list[subprocess.Popen] = []
        self.named: dict[str, subprocess.Popen] = {}
        self._token: str | None = None

    @classmethod
    def around(cls, home: Path, env: dict[str, str], port: int, user: str, password: str) -> AirflowStack:
        """Wrap an environment prepared elsewhere (docker-compose.yaml's, say): no home is built, nothing migrated."""
        stack = cls.__new__(cls)
        stack.home, stack.env, stack.port, stack.url = Path(home), env, port, f"http://127.0.0.1:{port}"
        stack.USER, stack.PASSWORD = user, password
        stack.procs, stack.named, stack._token = [], {}, None
        return stack

    def start(
        self,
        wait_for_dags: tuple[str, ...] = (),
        timeout: float = 180,
        standalone: bool = False,
        celery_workers: tuple[str, ...] = (),
        commands: list[tuple[str, list[str], dict[str, str]]] | None = None,
    ) -> AirflowStack:
        """
        Start the processes (or one ``airflow standalone``) and wait until the API answers and DAGs are parsed.

        ``celery_workers`` names Celery workers to start too; each reports its name as the task hostname.
        ``commands`` replaces the default components: (name, airflow arguments, extra environment) each.
        """
        import time

        if commands is None:
            commands = (
                [("standalone", ["standalone"], {})]
                if standalone
                else [
                    ("api-server", ["api-server", "--port", str(self.port)], {}),
                    ("scheduler", ["scheduler"], {}),
                    ("dag-processor", ["dag-processor"], {}),
                ]
            )
        commands = commands + [self._celery_worker(name) for name in celery_workers]
        for name, cmd, extra in commands:
            self.spawn(name, cmd, extra)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.token()
                if all(self.api("GET", f"/api/v2/dags/{d}").status_code == 200 for d in wait_for_dags):
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"Airflow stack did not come up; see logs in {self.home}")
            time.sleep(1)

    @staticmethod
    def _celery_worker(name: str) -> tuple[str, list[str], dict[str, str]]:
        return (
            name,
            ["celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "2"],
            {"HRFLOW_WORKER_NAME": name, "AIRFLOW__CORE__HOSTNAME_CALLABLE": "sandbox.airflow_home.worker_name"},
        )

    def spawn(self, name: str, cmd: list[str], extra: dict[str, str]) -> None:
        log = open(self.home / f"{name}.log", "w")
        # faulthandler on: a component stop() has to abort writes each thread's stack to its log first
        env = {**self.env, **extra, "PYTHONFAULTHANDLER": "1"}
        proc = subprocess.Popen([AIRFLOW, *cmd], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        self.named[name] = proc

    def add_celery_worker(self, name: str) -> None:
        """Start one more Celery worker (say, to replace one a test killed)."""
        self.spawn(*self._celery_worker(name))

    def stop(self) -> None:
        """
        Stop every process: SIGTERM, and for a component still alive after :data:`STOP_GRACE` seconds, SIGABRT
        (faulthandler writes each of its threads' stacks to its log) then SIGKILL.

        Recorded in ``left_behind`` (the tests fail on it): a task process that outlived its component, and a
        component that needed SIGKILL unless its log and stacks show only Airflow's own shutdown failing
        (:func:`~sandbox.stopping.in_airflow_shutdown`). That one is Airflow's (docker and Kubernetes SIGKILL it
        after their grace period too): it goes to ``stuck_in_airflow`` with what it logged, printed. Every
        leftover is killed so the suite goes on.
        """
        import os
        import signal

        self.left_behind, self.stuck_in_airflow = [], []
        names = {id(p): n for n, p in self.named.items()}
        logged = {id(p): log_size(self.home / f"{names.get(id(p), p.args[1])}.log") for p in self.procs}
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                name = names.get(id(proc), proc.args[1])
                text = abort_for_stacks(proc, self.home / f"{name}.log", since=logged[id(proc)])
                what = (
                    f"{name} (pid {proc.pid}) ignored SIGTERM for {STOP_GRACE} s; since then it logged:\n{text[-6000:]}"
                )
                (self.stuck_in_airflow if in_airflow_shutdown(text) else self.left_behind).append(what)
        for what in self.stuck_in_airflow:
            print(f"Airflow's own shutdown hung (SIGKILLed, not a leftover of ours): {what}", file=sys.stderr)
        for leftover in self.leftover_processes():
            try:
                self.left_behind.append(f"{leftover.name()} (pid {leftover.pid}) outlived its component")
            except Exception:
                pass
            _kill_quietly(leftover)
        self.procs.clear()

    def kill_hard(self, name: str) -> list[int]:
        """SIGKILL one component (say, a Celery worker) with every process under it, as a lost machine would."""
        import psutil

        root = psutil.Process(self.named[name].pid)
        victims = [root, *root.children(recursive=True)]
        for proc in victims:
            _kill_quietly(proc)
        self.named[name].wait(timeout=10)
        return [p.pid for p in victims]

    def leftover_processes(self) -> list:
        """Return the live processes started for this stack's home (found by their ``AIRFLOW_HOME``)."""
        import psutil

        found = []
        for proc in psutil.process_iter():
            try:
                if proc.environ().get("AIRFLOW_HOME") == str(self.home) and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except (psutil.Error, OSError):
                continue
        return found

    def token(self) -> str:
        import requests

        if self._token is None:
            response = requests.post(
                f"{self.url}/auth/token", json={"username": self.USER, "password": self.PASSWORD}, timeout=10
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs):
        import requests

        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 120, poll: float = 0.5) -> str:
        """Wait until a DAG run ends, asking every ``poll`` seconds; return its state."""
        import time
        from urllib.parse import quote

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
            if response.status_code == 200 and response.json()["state"] in ("success", "failed"):
                return response.json()["state"]
            time.sleep(poll)
        raise TimeoutError(f"run {run_id} of {dag_id} did not finish in {timeout}s")
