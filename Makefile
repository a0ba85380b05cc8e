# Every target installs what it needs: a fresh clone only needs python3 (>= 3.11) and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format typecheck schemas unit integration install-check bench eval services clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The main job: local broker, sample feed (incl. the seed story), the service, enriched events, metrics.
demo: $(STAMP)
	$(BIN)/wire-ingest demo

## Lint, types, schema drift, unit and integration tests (starts Redis if it is not running),
## and a no-extras install with the interpreter's own pip.
test: $(STAMP) lint typecheck services
	$(BIN)/pytest -q
	$(MAKE) install-check

lint: $(STAMP)
	$(BIN)/ruff check service tests tools
	$(BIN)/ruff format --check service tests tools

format: $(STAMP)
	$(BIN)/ruff check --fix service tests tools
	$(BIN)/ruff format service tests tools

typecheck: $(STAMP)
	$(BIN)/mypy service

schemas: $(STAMP)
	$(BIN)/python -m service.schema_export schemas

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP) services
	$(BIN)/pytest -q tests/integration

# What an operator (and deploy/Dockerfile) does: a fresh venv, the stock pip, no extras; then
# `wire-ingest --help`, HTML pages through `wire-ingest process`, and `demo` without its extra.
install-check: $(STAMP)
	$(BIN)/python tools/check_install.py --python $(PYTHON)

# Redis backs the shared dedupe store; these machines run it on loopback, start it if it is not up.
services:
	@$(BIN)/python tools/ensure_services.py

# The benchmark's venv adds the `bench` extra (Quix Streams, the peer row), whose caps on
# pydantic and confluent-kafka stay out of the venv the tests run in.
BENCH_VENV ?= .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python tools/bench.py

eval: $(STAMP)
	$(BIN)/python tools/eval_formats.py
	$(BIN)/python tools/eval_dedupe.py --no-sweep --stream-thresholds 0.45,0.5,0.51,0.52,0.55
	$(BIN)/python tools/eval_enrich.py
	$(BIN)/python tools/eval_multilingual.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache results
