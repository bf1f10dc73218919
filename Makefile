# One task runner. `make run` is the main job; `make test` runs every test tier (what CI runs).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export CXLENS_DATA_DIR ?= $(CURDIR)/cxlens-data

.PHONY: run test lint bench install install-dev system-deps clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[text,customers,web]"

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[all]"

## The main job on the embedded default: demo retailer -> validated ingest -> summary and report.
run: install
	$(BIN)/cxlens run

## Every test tier (unit, slow, spark, browser, postgres) plus lint and type checks.
test: system-deps install-dev
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy
	@# A throwaway PostgreSQL server for the postgres tests, stopped whatever pytest does.
	@pgdir=$$(mktemp -d /tmp/cxlens-pg.XXXXXX); \
	url=$$(bash scripts/postgres.sh start "$$pgdir") || exit 1; \
	trap 'bash scripts/postgres.sh stop "'"$$pgdir"'"' EXIT; \
	echo "PostgreSQL for the tests: $$url"; \
	CXLENS_TEST_POSTGRES_URL="$$url" $(BIN)/pytest -m "" $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check
	$(BIN)/mypy

## Benchmarks (not part of `make test`); each prints its ratios against peers run alongside.
bench: install-dev
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/metrics.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/journeys.py
	$(BIN)/python bench/text.py
	$(BIN)/python bench/customers.py
	$(BIN)/python bench/rules.py

## Debian packages the tests need (Java for Spark, Chromium for browser tests, PostgreSQL).
system-deps:
	bash scripts/install-system-deps.sh

clean:
	rm -rf $(VENV) cxlens-data .pytest_cache .mypy_cache .ruff_cache test-artifacts
