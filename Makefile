# procession: every target installs what it needs and is idempotent.
#   make demo   run the demo workflow on a local testbed it starts and stops
#   make test   lint, then every test
#   make bench  benchmarks, printed as ratios against floors measured in the same run
#   make lint   ruff, mypy --strict, import-linter layer contracts
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= test,bench

.PHONY: all install system demo test lint bench clean

all: test

system:
	@bash .ci/install-system-deps

# Re-install when the project metadata changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[$(EXTRAS)]'
	@touch $@

install: system $(STAMP)

demo: install
	$(PY) examples/demo.py

lint: install
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: install lint
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache
