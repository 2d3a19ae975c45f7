# release-custodian: the two commands a newcomer needs are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo sandbox test test-offline lint unit clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[sandbox]' --group dev
	@touch $@

node_modules/.installed: package-lock.json package.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## demo: set up, then run the main job on the built-in sandbox (seed scenario): audit, enforce --apply, audit
demo: setup
	$(BIN)/release-custodian demo --out .demo

## sandbox: the emulators alone, until Ctrl-C (env file in .sandbox/sandbox.env)
sandbox: setup
	$(BIN)/release-custodian sandbox serve --scenario seed --env-file .sandbox/sandbox.env

## test: set up, lint (ruff, mypy strict, import contracts), then the whole test suite
test: setup lint unit

lint: setup
	$(BIN)/ruff check custodian tests scheduler.py bench examples
	$(BIN)/ruff format --check custodian tests scheduler.py bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports

## unit: the test-suite, one worker per core (a test file stays on one worker: its emulators are shared)
unit: setup
	$(BIN)/pytest -n auto --dist loadfile

## test-offline: the test-suite in a network namespace with only loopback (root; proves no network is used)
test-offline: setup
	unshare -n sh -c 'ip link set lo up && $(BIN)/pytest -p no:cacheprovider'

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .sandbox
