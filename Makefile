# Consortium: one machine, two commands (`make demo`, `make test`). See README.md.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PACKAGES := core tasks client-sdk services/kit services/coordinator services/registry services/metrics services/gateway services/contribution tools bench cli
STAMP := $(VENV)/.consortium-installed
BENCH ?= all
PYTEST_ARGS ?=

export FLWR_DISABLE_UPDATE_CHECK := 1
export FLWR_TELEMETRY_ENABLED := 0
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export PYTHONUNBUFFERED := 1

.PHONY: install up down status demo test bench chaos lint clean

CONSOLE := web/dist/index.html
CONSOLE_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html \
	web/vite.config.ts web/package-lock.json

install: $(STAMP) $(CONSOLE)

# torch==2.13.0 first: the CPU build lies on this machine's disk; anything that pulls torch
# before it would download a multi-GB CUDA build. promtool/prometheus (monitoring tests) and
# Chromium (the console's browser tests) come from Debian's packages where apt-get runs as
# root; elsewhere a note says what to do.
$(STAMP): $(foreach p,$(PACKAGES),$(p)/pyproject.toml) requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q $(foreach p,$(PACKAGES),-e $(p)) -r requirements-dev.txt
	@# openmined-psi (vertical jobs' private set intersection) pins protobuf==6.30.2, older than
	@# Flower's gRPC needs; it runs on the newer protobuf, so it comes without its pins
	$(PIP) install -q --no-deps openmined-psi==2.0.6
	@bash deploy/monitoring/install-prometheus.sh
	@bash web/scripts/install-browser.sh
	@touch $(STAMP)

# The console (web/): npm ci when the lock file changed, then a build when a source changed.
$(CONSOLE): $(CONSOLE_SOURCES) | $(STAMP)
	@if command -v npm >/dev/null; then \
		cd web && { [ node_modules/.package-lock.json -nt package-lock.json ] || \
			npm ci --no-audit --no-fund; } && npm run build; \
	else echo "note: npm not found: the console is not built and its tests skip (Node 20.19+)"; fi

up: install
	$(VENV)/bin/consortium-platform up

down:
	@if [ -x $(VENV)/bin/consortium-platform ]; then $(VENV)/bin/consortium-platform down; fi

status:
	$(VENV)/bin/consortium-platform status

demo: install up
	$(VENV)/bin/consortium-demo --scenario $${SCENARIO:-medical}

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) -m consortium_bench --bench $(BENCH)

# About 10 minutes of random faults (SIGKILL of services, NATS, participants; Postgres crashes)
# on a platform of its own under var/chaos, then the checks; writes var/bench/chaos.json.
# CHAOS_ARGS="--duration 120 --participants 5 --seed 3" for a shorter or repeatable run.
CHAOS_ARGS ?=
chaos: install
	$(VENV)/bin/consortium-chaos $(CHAOS_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean: down
	rm -rf var
