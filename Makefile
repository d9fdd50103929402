# Everything a fresh machine needs: `make check` runs a real check,
# `make test` runs lint, types and the test suite (on every core), then the tests that
# start a local Ray instance (`pytest -m ray`; setup installs the ray extra).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SCENARIO ?= dirops/rename-rmdir-link

.PHONY: check test lint bench counterexamples setup system-packages clean

check: setup
	$(BIN)/vfsmc check $(SCENARIO)

test: setup
	$(BIN)/ruff check mc models tests bench
	$(BIN)/ruff format --check mc models tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n auto
	$(BIN)/pytest -m ray

bench: setup
	@command -v spin >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq spin; }
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/scenarios.py
	$(BIN)/python bench/writeback.py
	$(BIN)/python bench/truncate.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/por_ceiling.py
	$(BIN)/python bench/ceiling.py
	$(BIN)/python bench/fingerprint_clashes.py

counterexamples: setup
	$(BIN)/python -m mc.cli.shipped

setup: $(STAMP) system-packages

system-packages:
	@command -v dot >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq graphviz; }
	@{ command -v chromium >/dev/null && command -v chromedriver >/dev/null; } || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver; } || \
	  echo "make: chromium could not be installed; the browser test of vfsmc report will be skipped"

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,ray]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
