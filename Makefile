# Batchmill developer entry points. Each target creates the virtualenv it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check-deploy venv clean bench-spine bench-api bench-ratelimit

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Benchmarks also need the seed baseline's own stack (Celery, Redis client, FastAPI).
BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

## Run the demo: embedded Postgres + Claude simulator unless configured otherwise.
demo: $(STAMP)
	$(BIN)/batchmill demo

## Run the test suite against BATCHMILL_TEST_DATABASE_URL, Docker, or an embedded Postgres.
test: $(STAMP)
	$(BIN)/ruff check app bench tests migrations
	$(BIN)/pytest $(PYTEST_ARGS)

## Deployment checks: the Helm chart (lint, render, strict schema validation, KEDA CRDs) and
## compose.yaml (.ci/check-deploy), then the KEDA query against the real schema (tests/deploy).
check-deploy: $(STAMP)
	bash .ci/check-deploy
	$(BIN)/pytest tests/deploy -q

clean:
	rm -rf $(VENV) .batchmill

## Benchmarks print figures (never timed assertions). Needs a Postgres server:
## BATCHMILL_BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/test.
bench-spine: $(BENCH_STAMP)
	$(BIN)/python -m bench.spine

bench-api: $(BENCH_STAMP)
	$(BIN)/python -m bench.api_reads

bench-ratelimit: $(BENCH_STAMP)
	$(BIN)/python -m bench.ratelimit
