# One task runner. `make run` is the main job; `make test` runs every test tier (what CI runs).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
## Retentioneering (a journeys peer) lives in a virtual environment of its own: its pins differ.
RETE_VENV ?= .venv-rete
BENCHMARKS := ingest metrics intake journeys text customers rules web startup storage
export CXLENS_DATA_DIR ?= $(CURDIR)/cxlens-data

.PHONY: run test lint bench bench-smoke bench-peers install install-dev system-deps clean

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
	CXLENS_TEST_POSTGRES_URL="$$url" $(BIN)/pytest -m "" --durations=25 $(PYTEST_ARGS)
	$(MAKE) bench-smoke

lint: install-dev
	$(BIN)/ruff check
	$(BIN)/mypy

## The peers the benchmarks run beside cxlens: pyfim, mlxtend and lifetimes (the bench extra) in the
## venv; Retentioneering 5.x in $(RETE_VENV), run with RETENTIONEERING_NO_TRACK=1 (no telemetry).
bench-peers: install-dev
	$(BIN)/pip install --quiet -e ".[bench]"
	test -x $(RETE_VENV)/bin/python || $(PY) -m venv $(RETE_VENV)
	RETENTIONEERING_NO_TRACK=1 $(RETE_VENV)/bin/pip install --quiet "retentioneering>=5,<6"

## Every benchmark at its small size with its checks against the peers (part of `make test`).
bench-smoke: bench-peers
	@failed=""; for b in $(BENCHMARKS); do \
	  echo "== bench/$$b.py --smoke"; nice -n 10 $(BIN)/python bench/$$b.py --smoke || failed="$$failed $$b"; \
	done; if [ -n "$$failed" ]; then echo "benchmark checks failed:$$failed"; exit 1; fi

## Every benchmark at full size (about an hour): tables and JSON into docs/benchmarks*, exit 1 if
## cxlens and a peer disagree anywhere.
bench: bench-peers
	@failed=""; for b in $(BENCHMARKS); do \
	  echo "== bench/$$b.py --publish"; $(BIN)/python bench/$$b.py --publish || failed="$$failed $$b"; \
	done; if [ -n "$$failed" ]; then echo "benchmark checks failed:$$failed"; exit 1; fi

## Debian packages the tests need (Java for Spark, Chromium for browser tests, PostgreSQL).
system-deps:
	bash scripts/install-system-deps.sh

clean:
	rm -rf $(VENV) $(RETE_VENV) cxlens-data .pytest_cache .mypy_cache .ruff_cache test-artifacts
