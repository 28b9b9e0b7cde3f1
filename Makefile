# The two commands of the README: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint unit bench bench-ui bench-daemon clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

# without make's own variables: a `make` launched from tractui would act as a sub-make of this one
MAKE_VARS := MAKEFLAGS MAKELEVEL MFLAGS MAKE_TERMOUT MAKE_TERMERR MAKEOVERRIDES
run: $(VENV)/.installed-run
	env $(addprefix -u ,$(MAKE_VARS)) $(BIN)/tractui $(ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check $(wildcard tractui tests bench)
	$(BIN)/ruff format --check $(wildcard tractui tests bench)
	$(BIN)/mypy
	$(BIN)/lint-imports

# two workers: most of the suite's time is spent waiting for real processes, not computing
unit: $(VENV)/.installed-dev
	$(BIN)/pytest -q -n 2 tests

test: lint unit

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/storm/run.py

bench-ui: $(VENV)/.installed-dev
	$(BIN)/python bench/ui/run.py

bench-daemon: $(VENV)/.installed-dev
	$(BIN)/python bench/daemon/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
