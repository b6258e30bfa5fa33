# procession: every target installs what it needs and is idempotent.
#   make demo         run the demo workflow on a local testbed it starts and stops
#   make test         lint, then every test
#   make bench        benchmarks, printed as ratios against floors measured in the same run
#   make lint         ruff, mypy --strict, import-linter layer contracts
#   make docs         the documentation site, built into site/ with mkdocs --strict
#   make lock         refresh requirements/*.txt to the newest versions (run make test-latest first)
#   make test-latest  the same lint and tests in .venv-latest, against the newest versions (no lock)
#
# What the targets install comes from the checked-in lock (requirements/lock.txt, every
# extra's dependencies pinned, transitive ones included; requirements/tools.txt for pip,
# the build backend and uv), so that a fresh machine gets what passed CI.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
EXTRAS ?= test,bench,all
LOCK := requirements/lock.txt
TOOLS := requirements/tools.txt
# `-c LOCK` pins every package pip installs; make test-latest empties it.
CONSTRAINTS ?= -c $(LOCK)
PIP := $(PY) -m pip install -q --disable-pip-version-check
UV_COMPILE := $(VENV)/bin/uv pip compile -q --universal --python-version 3.11 --upgrade
LATEST_VENV := .venv-latest

.PHONY: all install system demo test lint bench docs lock test-latest clean

all: test

system:
	@bash .ci/install-system-deps

# Re-install when the project metadata or the lock changes. The build backend comes from the
# lock too (--no-build-isolation), instead of whatever setuptools is newest that day.
$(STAMP): pyproject.toml $(LOCK) $(TOOLS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) $(if $(CONSTRAINTS),-r $(TOOLS),--upgrade pip setuptools wheel uv)
	@$(PIP) --no-build-isolation $(CONSTRAINTS) -e '.[$(EXTRAS)]'
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
$(DOCS_STAMP): pyproject.toml $(LOCK) $(STAMP)
	@$(PIP) --no-build-isolation $(CONSTRAINTS) -e '.[docs]'
	@touch $@

docs: install $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

# The newest resolvable versions of everything, in a venv of their own: drift such as a new
# release's deprecation warnings shows here before it reaches the lock. Not run by CI.
test-latest:
	rm -rf $(LATEST_VENV)
	$(MAKE) test VENV=$(LATEST_VENV) CONSTRAINTS= PIP='$(LATEST_VENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade --upgrade-strategy eager'
	@echo "make test-latest: passed; versions that differ from $(LOCK):"
	@$(LATEST_VENV)/bin/python scripts/compare-lock.py $(LOCK)

# Refresh the lock deliberately, after make test-latest passed: newest versions of every extra.
lock: install
	$(UV_COMPILE) --all-extras pyproject.toml -o $(LOCK)
	$(UV_COMPILE) requirements/tools.in -o $(TOOLS)

clean:
	rm -rf $(VENV) $(LATEST_VENV) build .mypy_cache .pytest_cache .ruff_cache
