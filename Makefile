# release-custodian: the two commands a newcomer needs are `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo sandbox test test-offline lint unit reliability clean

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

## reliability: the reliability tests with the long counts, then RELIABILITY.md rendered from what they measured
## (faults, crash trials, concurrent runs, property examples, the bad-input corpus, mutating requests per target)
RELIABILITY_TESTS := tests/test_bad_input_corpus.py tests/test_cli_bad_input.py tests/config tests/sandbox/test_faults.py \
	tests/reaper/test_crash_kill.py tests/reaper/test_concurrent_apply.py tests/reaper/test_lost_answers.py \
	tests/reaper/test_dead_endpoint.py tests/reaper/test_arm_failures.py tests/integration/test_paging_loops.py \
	tests/integration/test_enforce_safety.py tests/integration/test_mixed_faults.py tests/engine
RELIABILITY_COUNTS ?= RC_CRASH_TRIALS=20 RC_CONCURRENT_TRIALS=5 RC_FAULT_SEEDS=8 RC_PROPERTY_EXAMPLES=2000
RELIABILITY_WORKERS ?= auto
reliability: setup
	rm -rf .reliability && mkdir -p .reliability
	env $(RELIABILITY_COUNTS) RC_RELIABILITY_DIR=$(CURDIR)/.reliability PYTHONPATH=$(CURDIR) \
	  $(BIN)/pytest -p no:cacheprovider -p tests.reliability -n $(RELIABILITY_WORKERS) --dist loadfile $(RELIABILITY_TESTS); \
	  status=$$?; $(BIN)/python -m tests.reliability_md .reliability --counts "$(RELIABILITY_COUNTS)" > RELIABILITY.md \
	  && echo "RELIABILITY.md written (pytest exit $$status)"; exit $$status

## test-offline: the test-suite in a network namespace with only loopback (root; proves no network is used)
test-offline: setup
	unshare -n sh -c 'ip link set lo up && $(BIN)/pytest -p no:cacheprovider'

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .sandbox
