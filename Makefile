# The two commands: `make dev` runs the product, `make test` runs the tests. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: dev test install clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(INSTALLED)

install: $(INSTALLED)

dev: install
	$(BIN)/qb-pipeline dev

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .data .dagster_home .pytest_cache
