# Two commands: `make demo` (install, sandbox, one real sync run) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install lint nginx chromium bench-ui demo test test-distributed bench bench-scale bench-migration bench-chaos bench-changes bench-webhook bench-realtime bench-ats bench-workable bench-http standalone sandbox screenshots clean

$(STAMP): requirements.txt requirements-runtime.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# every Python file of the repo; pyproject.toml [tool.ruff] holds the rules (lines of at most 120 characters)
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# ATS=ashby, greenhouse, lever, recruitee, smartrecruiters, teamtailor or workable (sandbox/registry.py): the
# same run into that ATS's emulator; ATS=json (the default): the JSON endpoint
demo: install
	ATS=$(ATS) $(BIN)/python -m sandbox.demo

# Debian's nginx for the compose proxy test (tests/test_compose_stack.py): installed here when missing and we are
# root (as on CI and a fresh container); otherwise stop with the one command that installs it
nginx:
	@if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
	  s=$$([ "$$(id -u)" = 0 ] || echo sudo -n); echo "make test: installing Debian's nginx-light for the compose proxy test"; \
	  $$s apt-get install -y -q nginx-light >/dev/null 2>&1 || { $$s apt-get update -q >/dev/null && $$s apt-get install -y -q nginx-light >/dev/null; }; \
	else echo "make test needs nginx (tests/test_compose_stack.py); install it with: sudo apt-get install -y nginx-light" >&2; exit 2; fi

# Debian's chromium for the HrFlow page's browser test (tests/test_ui_stack.py, playwright from requirements.txt):
# installed here when missing and we are root (CI, a fresh container); otherwise stop with the command that does
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
	  s=$$([ "$$(id -u)" = 0 ] || echo sudo -n); echo "make test: installing Debian's chromium for the HrFlow page's browser test"; \
	  $$s apt-get install -y -q chromium >/dev/null 2>&1 || { $$s apt-get update -q >/dev/null && $$s apt-get install -y -q chromium >/dev/null; }; \
	else echo "make test needs chromium (tests/test_ui_stack.py); install it with: sudo apt-get install -y chromium" >&2; exit 2; fi

# lint and format check, then DAG and unit tests on two workers (each its own sandbox and Airflow home; a worker
# that runs out of tests takes the other's waiting ones, --dist worksteal, so the phase does not end on one), then
# the Airflow-stack tests after them, two files at a time (--dist loadfile: a file's stack, home, ports, databases
# and Redis database are its own; two stacks share the two cores as the suite measured they can)
test: install lint nginx chromium
	@start=$$(date +%s); \
	$(BIN)/python -m pytest -n 2 --dist worksteal -m "not stack" --durations=15; a=$$?; \
	$(BIN)/python -m pytest -n 2 --dist loadfile -m stack --durations=15; b=$$?; \
	echo "make test: $$(( $$(date +%s) - start )) s (the two pytest phases)"; test $$a -eq 0 -a $$b -eq 0

# CeleryExecutor + PostgreSQL + Redis on loopback (part of `make test` too); REQUIRE_SERVICES=1 fails instead of skipping
test-distributed: install
	$(BIN)/python -m pytest -m distributed

# defaults first (the figure the README reports), at 3,000 and 5,000 profiles; tuned and scheduler runs as extra lines
bench: install
	$(BIN)/python -m bench.sync_bench --n 3000
	$(BIN)/python -m bench.sync_bench --n 5000

# under a scheduler (a process per task), then under `airflow dags test` (one process runs every task)
bench-scale: install
	$(BIN)/python -m bench.scale_run
	$(BIN)/python -m bench.dags_test_memory

# a million profiles, 20 ms per HrFlow call, defaults, real scheduler (about an hour on 2 cores; not in `make test`)
bench-migration: install
	$(BIN)/python -m bench.scale_run --n 1000000 --hrflow-latency 0.02 --parallelism 8 --name migration_1m

# 100,000 synced profiles, 1% edited in HrFlow, then one run as the hourly schedule reads
bench-changes: install
	$(BIN)/python -m bench.changes_run

# twice: against an ATS that honours Idempotency-Key, then one that ignores it (most real ones)
bench-chaos: install
	$(BIN)/python -m bench.chaos_run
	$(BIN)/python -m bench.chaos_run --ignore-idempotency-key

# 500 profiles into each vendor ATS at its documented limit (Greenhouse, Lever, Teamtailor, SmartRecruiters,
# then Workable's account token, 10 requests / 10 s: about 500 s alone); no 429
bench-ats: install
	$(BIN)/python -m bench.ats_paced --n 500

bench-workable: install
	$(BIN)/python -m bench.ats_paced --n 500 --ats workable

# CPU per HrFlow call of the tagging path: the SDK on plain requests against LeanSession (a minute)
bench-http: install
	$(BIN)/python -m bench.http_cpu

# the HrFlow page's queries on a 1,000,000-row ledger, SQLite then PostgreSQL (127.0.0.1:5432, if reachable)
bench-ui: install
	$(BIN)/python -m bench.ui_queries

# ARGS=--cold: only the burst, on an api-server started 20 s before (as a deploy or a restart meets redeliveries)
bench-webhook: install
	$(BIN)/python -m bench.webhook_latency $(ARGS)

# 20 new profiles announced by 20 deliveries in 2 s, then one edit: delivery -> ATS on a real scheduler (3 min)
bench-realtime: install
	$(BIN)/python -m bench.realtime_run

standalone: install
	$(BIN)/python -m sandbox.standalone

sandbox: install
	$(BIN)/python -m sandbox

# README pictures (docs/img/) from airflow standalone + headless Chromium (Debian package `chromium`)
screenshots: install chromium
	$(BIN)/python -m sandbox.screenshots

clean:
	rm -rf $(VENV) .airflow
