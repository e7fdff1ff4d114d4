# The two commands: `make dev` runs the product, `make test` runs the tests. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: dev test lint format bench drill topology mutation-check install browser clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(INSTALLED)

install: $(INSTALLED)

dev: install
	$(BIN)/qb-pipeline dev

# The end-to-end test looks at the UI in headless Chromium; Debian's package is installed when missing
# (needs root, as on CI). Without it that one test is skipped with a reason.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  ( (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
	    || echo "note: Chromium could not be installed; the browser test will be skipped" )

test: install browser lint
	$(BIN)/python -m pytest

# ruff: lint (bugbear and complexity included) and format check, settings in pyproject.toml; `make format`
# rewrites what it can. lint-imports: the import contracts in pyproject.toml (imports point one way).
# Then no function over 60 lines (tools/function_length.py lists each one).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python tools/function_length.py

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Measures, never fails on a time (only on a wrong result): benchmarks/results/latest.json + a table.
# PostgreSQL variants run too when QB_TEST_POSTGRES_URL is set.
bench: install
	$(BIN)/python -m benchmarks.run_all

# Faults, SIGKILLs, races, bad input and a secrets scan; exits non-zero on any duplicate, loss or leak.
# CI runs it at a smaller size (qb_pipeline_tests/test_drill.py).
drill: install
	$(BIN)/python -m drills

# Dagster's production topology as separate processes (code server, webserver, daemon, instance and project
# database on PostgreSQL, the sandbox); the daemon and a push run SIGKILLed mid-push; duplicates and lost
# orders per company. Needs a PostgreSQL server where it may create databases (README: Production topology).
# CI runs it smaller (qb_pipeline_tests/test_topology.py).
# (The default is the shell's: a make variable of that name, even a target's own, would take it out of
# the environment of every other target, and `make test` would skip its PostgreSQL variants.)
topology: install
	QB_TEST_POSTGRES_URL=$${QB_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test} $(BIN)/python -m qb_pipeline_tests.topology

# Each at-most-once safeguard switched off in turn: the tests that prove it must then fail.
# (make test runs it too, through qb_pipeline_tests/test_mutation_check.py.)
mutation-check: install
	$(BIN)/python -m qb_pipeline_tests.mutation_check

clean:
	rm -rf $(VENV) .data .dagster_home .pytest_cache test-artifacts
