# Each target creates the virtual environment it needs (.venv), so a fresh clone
# needs only Python 3.12, git and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast lint bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "Leeway needs Python 3.12 or newer: set PYTHON=python3.12")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/leeway run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Two processes, each taking whole files (a file's shared proxy or server stays in one):
# most tests wait on real processes and sockets, so the two cores halve the wall time.
test: lint
	$(BIN)/pytest -n 2 --dist loadfile

# The unit tests alone (policy, addons, store, proxy) on SQLite, without those that start a
# process: well under a minute on an idle machine. `make test` runs everything, PostgreSQL too.
test-fast: $(STAMP)
	env -u LEEWAY_TEST_POSTGRES_URL $(BIN)/pytest -q -m "not process" tests/policy tests/addons tests/proxy

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
