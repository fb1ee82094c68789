# Batchmill developer entry points. Each target creates the virtualenv it needs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test check-deploy venv clean bench-spine bench-api bench-ratelimit bench fuzz load

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

## The whole suite, Batchmill against the seed design (FastAPI + Celery + Redis), one table of
## ratios (also written to test-artifacts/bench/latest.md); ~15 minutes on 2 cores. Also needs
## Redis (BASELINE_REDIS_URL, default redis://127.0.0.1:6379/15, flushed). Not part of CI.
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.suite $(BENCH_ARGS)

## Long runs beside the suite's short ones (same Postgres as `make test`).
## fuzz: schemathesis, 500 fresh cases per operation and mode (BATCHMILL_FUZZ_EXAMPLES).
fuzz: $(STAMP)
	BATCHMILL_FUZZ_EXAMPLES=$${BATCHMILL_FUZZ_EXAMPLES:-500} BATCHMILL_FUZZ_RANDOM=1 \
		$(BIN)/pytest tests/integration/test_fuzz.py -q -s --timeout=3600 -p no:cacheprovider

## load: 20 clients submit 500-request batches and poll them for 60 s while two workers run.
load: $(STAMP)
	$(BIN)/python -m bench.load $(LOAD_ARGS)
