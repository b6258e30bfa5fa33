# procession: every target installs what it needs and is idempotent.
#   make demo   run the demo workflow on a local testbed it starts and stops
#   make test   lint, then every test
#   make bench  benchmarks, printed as ratios against floors measured in the same run
#   make lint   ruff, mypy --strict, import-linter layer contracts
#   make docs   the documentation site, built into site/ with mkdocs --strict
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
EXTRAS ?= test,bench,serial,plot,asyncssh,g5k

.PHONY: all install system demo test lint bench docs clean

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

# The docs extra has its own stamp, so that `make test` does not pull it in.
$(DOCS_STAMP): pyproject.toml $(STAMP)
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[docs]'
	@touch $@

docs: install $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache
