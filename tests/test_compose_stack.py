"""
docker-compose.yaml's own Airflow configuration, run without Docker (there is no daemon here, nor on CI).

The test takes the compose file's common Airflow environment, filled in from `.env.example` as a user fills it,
its init script and its services' commands, and runs them on loopback: api-server, scheduler, dag-processor,
triggerer and a Celery worker, with local PostgreSQL and Redis standing in for the compose services, and Debian's
nginx with deploy/nginx/hrflow-webhook.conf standing in for the proxy service. Only what must differ outside
containers is rewritten: host names, ports and the /opt/airflow paths. Every rewrite must match something, so a
change to the compose file that this test would no longer follow fails it.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import yaml

from hrflow_airflow.events.signing import SIGNATURE_HEADER, sign
from sandbox.__main__ import DEMO_SOURCE
from sandbox.airflow_home import AIRFLOW, AirflowStack, environ_without_airflow, free_port
from sandbox.objects import WEBHOOK_SECRET
from tests.conftest import PG, REDIS

pytestmark = pytest.mark.distributed

REPO = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
# the compose services this test runs, by their own commands
SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker")
SYNC, SMS = "hrflow_profiles_to_ats", "hrflow_profile_sms"
DIGEST_OVER = 3  # [hrflow] sms_digest_over, set in .env


class ComposeError(ValueError):
    """What docker compose would refuse: a required variable (``${NAME:?message}``) unset or empty."""


def read_dotenv(path: Path) -> dict[str, str]:
    """Read ``NAME=value`` lines as docker compose reads an env file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip().strip("'\"")
    return values


_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(text: str, dotenv: dict[str, str], missing: list[str]) -> str:
    """Substitute ``${NAME}``, ``${NAME:-default}``, ``${NAME:?message}`` and ``$$`` as compose does.

    A required variable that is unset or empty is appended to ``missing`` (compose names them and stops).
    """

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        value, op = dotenv.get(match["name"]), match["op"] or ""
        unset = value is None or (value == "" and op.startswith(":"))
        if op.endswith("?") and unset:
            missing.append(match["name"])
        if op.endswith("-") and unset:
            return match["arg"]
        return value or ""

    return _VARIABLE.sub(one, text)


def service_environment(service: str, dotenv: dict[str, str]) -> dict[str, str]:
    """Return a compose service's container environment: its env file, then its interpolated ``environment``."""
    missing: list[str] = []
    env = {
        **dotenv,
        **{k: interpolate(str(v), dotenv, missing) for k, v in COMPOSE["services"][service]["environment"].items()},
    }
    if missing:
        raise ComposeError(f"required variable(s) unset: {', '.join(sorted(set(missing)))}")
    return env


def filled_dotenv(**values: str) -> dict[str, str]:
    """Return `.env.example` with its blanks filled in as its comments say, then ``values`` on top."""
    from cryptography.fernet import Fernet

    dotenv = read_dotenv(REPO / ".env.example")
    dotenv.update(
        AIRFLOW_FERNET_KEY=Fernet.generate_key().decode(),
        JWT_SECRET=secrets.token_urlsafe(32),
        POSTGRES_PASSWORD=secrets.token_hex(12),
        AIRFLOW_ADMIN_PASSWORD=secrets.token_hex(12),
    )
    return {**dotenv, **values}


class Loopback:
    """Rewrite what must differ on one host (names, ports, /opt/airflow), and remember which rewrites matched."""

    def __init__(self, rewrites: dict[str, str]) -> None:
        self.rewrites, self.matched = rewrites, set()

    def __call__(self, text: str) -> str:
        for old, new in self.rewrites.items():
            if old in text:
                text = text.replace(old, new)
                self.matched.add(old)
        return text

    def env(self, env: dict[str, str]) -> dict[str, str]:
        return {name: self(value) for name, value in env.items()}


def test_compose_refuses_to_start_until_the_example_env_is_filled_in():
    """Copied as it is, `.env.example` leaves the secrets empty: compose names each and starts nothing."""
    with pytest.raises(ComposeError) as refused:
        service_environment("airflow-apiserver", read_dotenv(REPO / ".env.example"))
    assert str(refused.value) == "required variable(s) unset: AIRFLOW_FERNET_KEY, JWT_SECRET, POSTGRES_PASSWORD"
    # filled in: nothing left at a default login or secret
    env = service_environment("airflow-apiserver", filled_dotenv())
    assert "change-me" not in json.dumps(env)
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"  # user admin, role admin
    assert not any(k.startswith(("AIRFLOW_CONN_HRFLOW_DEFAULT", "AIRFLOW_CONN_ATS", "AIRFLOW_CONN_SMS")) for k in env)


@pytest.fixture(scope="module")
def compose_db(live_services):
    """A database and its own role, as the postgres image creates them from POSTGRES_USER / _PASSWORD / _DB."""
    import psycopg2

    name, password = f"compose_{uuid.uuid4().hex[:8]}", secrets.token_hex(12)
    admin = psycopg2.connect(host=PG[0], port=PG[1], user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    admin.cursor().execute(f"CREATE DATABASE {name} OWNER {name}")
    yield {"POSTGRES_USER": name, "POSTGRES_PASSWORD": password, "POSTGRES_DB": name}
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.cursor().execute(f"DROP ROLE IF EXISTS {name}")
    admin.close()


def _container_base(home: Path) -> dict[str, str]:
    """What the image gives every container: this Python's PATH, and AIRFLOW_HOME (dags/ and plugins/ under it)."""
    import os

    base = environ_without_airflow()
    base.update(AIRFLOW_HOME=str(home), PATH=f"{Path(AIRFLOW).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return base


@pytest.fixture(scope="module")
def compose_stack(sandbox_server, compose_db, tmp_path_factory):
    """The compose file's Airflow services on loopback, after its airflow-init and sandbox-init ran."""
    home = tmp_path_factory.mktemp("compose_home")
    # the image's layout: the DAG files in /opt/airflow/dags, the api-server plugin in /opt/airflow/plugins (the
    # package itself is installed, here by `make install` as in the image by pip)
    (home / "dags").symlink_to(REPO / "dags")
    (home / "plugins").mkdir()
    (home / "plugins" / "hrflow_plugin.py").symlink_to(REPO / "plugins" / "hrflow_plugin.py")
    port = free_port()
    # .env as a user fills it: .env.example's blanks, and its commented-out digest line uncommented
    dotenv = filled_dotenv(
        **compose_db, AIRFLOW_BASE_URL=f"http://127.0.0.1:{port}", AIRFLOW__HRFLOW__SMS_DIGEST_OVER=str(DIGEST_OVER)
    )
    assert "# AIRFLOW__HRFLOW__SMS_DIGEST_OVER=" in (REPO / ".env.example").read_text()
    loopback = Loopback(
        {
            "@postgres/": f"@{PG[0]}:{PG[1]}/",
            '"host": "postgres"': f'"host": "{PG[0]}"',
            # a Redis database of 10-14: tests/test_celery_distributed.py takes 5-9, so the two never share a broker
            "redis://:@redis:6379/0": f"redis://:@{REDIS[0]}:{REDIS[1]}/{uuid.uuid4().int % 5 + 10}",
            "http://airflow-apiserver:8080/": f"http://127.0.0.1:{port}/",
            "http://sandbox:8765": sandbox_server.url,
            "/opt/airflow": str(home),
        }
    )
    # in their containers each component has its own network namespace; on one host their ports must differ
    ports = {
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }
    envs = {
        name: {**_container_base(home), **loopback.env(service_environment(name, dotenv)), **ports}
        for name in (*SERVICES, "airflow-init", "sandbox-init")
    }

    # airflow-init, its own script; chown is the container's business (the files here are this user's already)
    init = COMPOSE["services"]["airflow-init"]["command"]
    assert init[0] == "-c"
    script = loopback(interpolate(init[1], dotenv, []))
    script = "\n".join(line for line in script.splitlines() if not line.strip().startswith("chown"))
    assert "/entrypoint airflow" in script
    script = script.replace("/entrypoint airflow", "airflow")  # the image's entrypoint; here, Airflow itself
    subprocess.run(["bash", "-c", script], env=envs["airflow-init"], cwd=home, check=True, capture_output=True)
    # sandbox-init (the compose `sandbox` profile): connections and Variables for the sandbox, nothing from .env
    connect = [loopback(part) for part in COMPOSE["services"]["sandbox-init"]["entrypoint"]]
    assert connect[:3] == ["python", "-m", "sandbox.connect"]
    subprocess.run([sys.executable, *connect[1:]], env=envs["sandbox-init"], cwd=REPO, check=True, capture_output=True)
    assert loopback.matched == set(loopback.rewrites), (
        f"rewrites that matched nothing: {set(loopback.rewrites) - loopback.matched}"
    )

    stack = AirflowStack.around(home, envs["airflow-apiserver"], port, "admin", dotenv["AIRFLOW_ADMIN_PASSWORD"])
    commands = [(name, shlex.split(COMPOSE["services"][name]["command"]), envs[name]) for name in SERVICES]
    stack.start(wait_for_dags=(SYNC, SMS), commands=commands, timeout=240)
    stack.compose = {"dotenv": dotenv, "envs": envs, "ports": ports}
    try:
        yield stack
    finally:
        _wait_until_no_run_is_active(stack)  # e.g. the sync run a test's webhook started: none stopped mid-task
        stack.stop()
        assert not stack.left_behind, f"processes left behind: {stack.left_behind}"


@pytest.fixture(scope="module")
def proxy(compose_stack, tmp_path_factory):
    """nginx (Debian's; `.ci/run` installs it) with the project's proxy file, its upstream and paths on loopback."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        pytest.fail("nginx is not installed (apt-get install nginx-light)")
    home, port = tmp_path_factory.mktemp("proxy"), free_port()
    self_signed = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost".split()
    files = ["-keyout", str(home / "tls.key"), "-out", str(home / "tls.crt")]
    subprocess.run([*self_signed, *files], check=True, capture_output=True)
    loopback = Loopback(
        {
            "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
            "http://airflow-apiserver:8080": compose_stack.url,
            "/etc/nginx/certs/": f"{home}/",
        }
    )
    site = loopback((REPO / "deploy" / "nginx" / "hrflow-webhook.conf").read_text())
    assert loopback.matched == set(loopback.rewrites)
    # nginx's own paths under this directory (the official image has them in /var/cache/nginx)
    temp = " ".join(f"{name}_temp_path {home}/{name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (home / "nginx.conf").write_text(
        f"daemon off; pid {home}/nginx.pid; error_log {home}/error.log;\nevents {{}}\n"
        f"http {{ access_log {home}/access.log; {temp}\n{site}\n}}\n"
    )
    proc = subprocess.Popen([nginx, "-c", str(home / "nginx.conf"), "-p", str(home)], stderr=subprocess.PIPE)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"nginx did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
    yield f"https://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def healthcheck(service: str, stack: AirflowStack, proxy_url: str) -> subprocess.Popen:
    """Start a compose service's own healthcheck command, with its ports (and the container hostname) on loopback."""
    from airflow.utils.net import get_hostname

    test = COMPOSE["services"][service]["healthcheck"]["test"]
    loopback = Loopback(
        {
            "http://localhost:8080/": f"{stack.url}/",
            "http://localhost:8974/": f"http://127.0.0.1:{stack.compose['ports']['AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT']}/",
            "https://localhost/": f"{proxy_url}/",
        }
    )
    argv = [loopback(interpolate(part, {}, [])) for part in test[1:]]
    env = dict(stack.compose["envs"].get(service, stack.env))
    # in a container HOSTNAME is the container's name, which is both Airflow's and Celery's host name; here the
    # two differ (Airflow asks for the FQDN, Celery for the host name), so each check gets the one its peer used
    env["HOSTNAME"] = socket.gethostname() if "celery" in " ".join(argv) else get_hostname()
    command = ["bash", "-c", argv[0]] if test[0] == "CMD-SHELL" else argv
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_every_service_passes_its_own_compose_healthcheck(compose_stack, proxy):
    checks = {name: healthcheck(name, compose_stack, proxy) for name in (*SERVICES, "proxy")}
    failed = {}
    for name, check in checks.items():
        output, _ = check.communicate(timeout=120)
        if check.returncode != 0:
            failed[name] = output[-1500:]
    assert failed == {}


def test_the_login_is_the_env_password_and_no_default_one(compose_stack):
    token = f"{compose_stack.url}/auth/token"
    password = compose_stack.compose["dotenv"]["AIRFLOW_ADMIN_PASSWORD"]
    for guess in ("admin", "change-me"):
        assert requests.post(token, json={"username": "admin", "password": guess}, timeout=10).status_code == 401
    assert requests.post(token, json={"username": "admin", "password": ""}, timeout=10).status_code == 400
    assert requests.post(token, json={"username": "admin", "password": password}, timeout=10).status_code == 201


def post_in_pieces(base: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    """POST over TLS as a slow client does: the headers, then the body in two sends 0.2 s apart."""
    import http.client
    import ssl
    from urllib.parse import urlsplit

    where, context = urlsplit(base), ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # the fixture's self-signed certificate
    conn = http.client.HTTPSConnection(where.hostname, where.port, timeout=30, context=context)
    conn.putrequest("POST", path)
    for name, value in {**headers, "Content-Length": str(len(body))}.items():
        conn.putheader(name, value)
    conn.endheaders()
    half = len(body) // 2
    for piece in (body[:half], body[half:]):
        time.sleep(0.2)
        conn.send(piece)
    answer = conn.getresponse()
    try:
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def test_through_the_tls_proxy_a_signed_webhook_sends_one_sms_and_nothing_else_is_reachable(
    proxy, compose_stack, sandbox
):
    """An event carrying a whole profile (its signature header ~17 KB) passes; the UI and REST API do not."""
    stack = compose_stack
    stack.unpause(SMS)  # compose creates DAGs paused
    [key] = sandbox.state.seed("profile", DEMO_SOURCE, 1, start=500)
    profile = sandbox.state.get("profile", DEMO_SOURCE, key)
    example = json.loads((REPO / "sandbox" / "profile_example.json").read_text())
    # a real stored profile also carries its resume's text: together some 17 KB once signed and encoded
    text = " ".join(e.get("description") or "" for e in example["experiences"] + example["educations"])
    whole = {**example, "key": key, "source": {"key": DEMO_SOURCE}, "text": (text * 10)[:3500]}
    event = {"type": "profile.storing.success", "origin": "api", "message": "stored", "profile": whole}
    body = json.dumps(event).encode()
    header = sign(WEBHOOK_SECRET, body)
    assert len(header) > 16_000  # nginx's default header buffers (8 KB) would refuse it

    # the headers first, then the body in two later reads: nginx must hold it in memory (it answered 500 on CI
    # when it spooled such a body to a directory its worker could not write)
    status, answer = post_in_pieces(proxy, "/hrflow/webhook", {SIGNATURE_HEADER: header}, body)

    assert status == 200, answer
    [result] = json.loads(answer)["results"]
    assert stack.wait_for_run(SMS, result["run_id"], timeout=180) == "success"
    assert len([b for b in sandbox.state.sms.bodies if profile["info"]["phone"] in b["text"]]) == 1
    assert requests.get(f"{proxy}/hrflow/health", verify=False, timeout=10).json()["status"] == "ok"
    for path in ("/", "/api/v2/version", "/api/v2/dags", "/auth/token", "/execution/", "/hrflow/docs"):
        assert requests.get(f"{proxy}{path}", verify=False, timeout=10).status_code == 404, path
    assert requests.get(f"{proxy}/hrflow/webhook", verify=False, timeout=10).status_code == 403  # POST only
    assert requests.get(f"{stack.url}/api/v2/version", timeout=10).status_code == 200  # there, not through it
    huge = {SIGNATURE_HEADER: "x" * 70_000}
    assert requests.post(f"{proxy}/hrflow/webhook", headers=huge, verify=False, timeout=10).status_code == 431
    too_big = b"[" + b"1," * 600_000 + b"1]"
    assert requests.post(f"{proxy}/hrflow/webhook", data=too_big, verify=False, timeout=10).status_code == 413


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S+0000")


def test_a_scheduled_sync_posts_each_profile_once_with_the_ledger_in_postgres(compose_stack, compose_db, sandbox):
    """Unpaused, the sync DAG's scheduled run (the latest complete hour) reaches the ATS through a Celery worker."""
    stack, state = compose_stack, sandbox.state
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    keys = state.seed("profile", DEMO_SOURCE, 3, created_at=_stamp(hour - timedelta(minutes=30)))
    keys += state.seed("profile", DEMO_SOURCE, 2, start=3, created_at=_stamp(hour - timedelta(days=3)))

    stack.unpause(SYNC)

    runs: list[dict] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not runs:
        listed = stack.api("GET", f"/api/v2/dags/{SYNC}/dagRuns").json()["dag_runs"]
        runs = [r for r in listed if r["run_type"] == "scheduled"]
        time.sleep(1)
    assert len(runs) == 1, "the scheduler created no scheduled run"
    assert stack.wait_for_run(SYNC, runs[0]["dag_run_id"], timeout=300) == "success"
    assert dict(state.ats_area("profiles").applied) == {k: 1 for k in keys}
    assert state.snapshot()["synced"]["profile"] == sorted(keys)
    # its tasks went to the Celery worker (one `execute_workload` each), its large XComs to the compose XCom path
    tis = stack.api("GET", f"/api/v2/dags/{SYNC}/dagRuns/{runs[0]['dag_run_id']}/taskInstances").json()
    ran = [ti for ti in tis["task_instances"] if ti["state"] == "success"]
    received = re.findall(
        r"Task execute_workload\[[-0-9a-f]+\] received", (stack.home / "airflow-worker.log").read_text()
    )
    assert len(ran) >= 3 and len(received) >= len(ran)
    assert any((stack.home / "xcom" / SYNC).iterdir())
    # and the ledger is the compose PostgreSQL's, which every worker shares
    synced = "SELECT count(*) FROM hrflow_sync_ledger WHERE object_key = ANY(%s) AND synced_hash IS NOT NULL"
    assert compose_query(compose_db, synced, keys)[0] == len(keys)


def compose_query(compose_db: dict[str, str], sql: str, *args: object) -> tuple | None:
    """Run one query on the compose PostgreSQL, as its own role; return the first row."""
    import psycopg2

    db = compose_db["POSTGRES_DB"]
    with psycopg2.connect(host=PG[0], port=PG[1], user=compose_db["POSTGRES_USER"], dbname=db) as conn:
        cursor = conn.cursor()
        cursor.execute(sql, args)
        return cursor.fetchone()


def _wait_until_no_run_is_active(stack: AirflowStack, timeout: float = 180) -> None:
    """Wait (a condition, bounded) until no DAG run is queued or running, so that stopping kills no task mid-way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = stack.api("GET", "/api/v2/dags/~/dagRuns", params={"state": ["queued", "running"]})
        if answer.ok and not answer.json()["dag_runs"]:
            return
        time.sleep(1)


def runs_carrying(stack, profiles: set[str], timeout: float = 120) -> set[str]:
    """Wait until SMS runs carry every one of ``profiles`` (profiles' run ids); return those runs' ids."""
    from hrflow_airflow.events.inbox import members_of

    deadline = time.monotonic() + timeout
    while True:
        listed = stack.api("GET", f"/api/v2/dags/{SMS}/dagRuns", params={"limit": 1000}).json()["dag_runs"]
        carrying = {r["dag_run_id"]: {m for m, _ in members_of(r["dag_run_id"], r["conf"] or {})} for r in listed}
        runs = {run for run, members in carrying.items() if members & profiles}
        if set().union(*(carrying[run] for run in runs)) >= profiles:
            return runs
        assert time.monotonic() < deadline, "not every profile joined an SMS run"
        time.sleep(1)


def _burst_count(compose_db: dict[str, str], window: int) -> int:
    """Return how many SMS runs counted themselves in ``window`` (table hrflow_sms_bursts, the compose ledger)."""
    if not compose_query(compose_db, "SELECT to_regclass('hrflow_sms_bursts') IS NOT NULL")[0]:
        return 0
    row = compose_query(compose_db, "SELECT runs FROM hrflow_sms_bursts WHERE window_start = %s", window)
    return row[0] if row else 0


def test_a_bulk_import_past_sms_digest_over_sends_n_sms_and_one_digest(compose_stack, compose_db, sandbox):
    """12 new profiles in one delivery, `sms_digest_over` 3 from .env: the recruiter gets 3 SMS and one digest per
    10-minute window the runs count themselves in, however the Celery worker interleaves the 12 runs (they count
    themselves in the compose PostgreSQL). The burst starts whenever the test does: when it crosses into the next
    window, each window's share is checked on its own (12 runs over two windows still put 6 or more in one)."""
    from hrflow_airflow.events.digest import WINDOW_SECONDS

    stack, state = compose_stack, sandbox.state
    stack.unpause(SMS)
    first = int(time.time() // WINDOW_SECONDS * WINDOW_SECONDS)
    windows = (first, first + WINDOW_SECONDS)  # the runs end within minutes: this window or the next
    counted = {w: _burst_count(compose_db, w) for w in windows}  # an earlier test's SMS run in a window counts too
    keys = state.seed("profile", DEMO_SOURCE, 12, start=600)
    phones = {state.get("profile", DEMO_SOURCE, k)["info"]["phone"] for k in keys}
    events = [{"type": "profile.storing.success", "profile": {"key": k, "source": {"key": DEMO_SOURCE}}} for k in keys]
    body = json.dumps(events).encode()

    answer = requests.post(
        f"{stack.url}/hrflow/webhook", data=body, headers={SIGNATURE_HEADER: sign(WEBHOOK_SECRET, body)}, timeout=30
    )

    assert answer.status_code == 200, answer.text
    profiles = {r["run_id"] for r in answer.json()["results"]}
    assert len(profiles) == 12
    run_ids = runs_carrying(stack, profiles)  # a burst's profiles share runs (events/inbox.py)
    assert {stack.wait_for_run(SMS, run_id, timeout=300) for run_id in run_ids} == {"success"}
    added = {w: _burst_count(compose_db, w) - counted[w] for w in windows}
    assert sum(added.values()) == 12, added  # every run counted once, none lost to a race
    assert any(counted[w] + added[w] > DIGEST_OVER + 1 for w in windows)  # past the digest in some window
    # in each window, the runs counted up to DIGEST_OVER send their SMS, the next one the digest, the rest nothing
    sends = sum(max(0, min(DIGEST_OVER, counted[w] + added[w]) - counted[w]) for w in windows)
    digested = sum(1 for w in windows if counted[w] <= DIGEST_OVER < counted[w] + added[w])
    texts = [b["text"] for b in state.sms.bodies]
    own = [t for t in texts if any(t.endswith(f"{phone}.") for phone in phones)]
    digests = [t for t in texts if t.startswith(f"[HrFlow] More than {DIGEST_OVER} new profiles in 10 min")]
    assert len(own) == sends, (texts, counted, added)
    assert len(digests) == digested, (texts, counted, added)
    assert len(texts) == len(own) + len(digests)  # the others sent nothing
