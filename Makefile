# `make run` and `make test` do all the set-up they need on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test check lint format bench prove clean

$(STAMP): pyproject.toml requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Pro IRP needs Python 3.11 or newer (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/proirp db upgrade
	$(BIN)/proirp users ensure-admin
	$(BIN)/proirp serve

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench prove
	$(BIN)/ruff check src tests bench prove
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format src tests bench prove
	$(BIN)/ruff check --fix src tests bench prove

check: lint test

bench: $(STAMP)
	$(BIN)/python -m bench

# What the product promises, shown under faults, load, bad input and a search for leaked secrets
# (README, "Proof under fire"). QUICK=1: every area at a smaller size, as CI runs it.
prove: $(STAMP)
	$(BIN)/python -m prove $(if $(QUICK),--quick) $(PROVE_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
