# Two commands a newcomer needs: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test test-fast lint bench native clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 'setuptools>=77'

$(STAMP): pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEVSTAMP): pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(STAMP)

## run: start socialear on SQLite with the bundled sample feed (console at http://127.0.0.1:8000)
run: $(STAMP)
	$(BIN)/socialear run

## test: install dev dependencies and run the whole suite
test: $(DEVSTAMP)
	$(BIN)/pytest

## lint: ruff, mypy and the layering contracts of docs/architecture.md (import-linter); CI runs it
lint: $(DEVSTAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy socialear platforms storage reports listener responders console
	$(BIN)/lint-imports

## native: recompile the hot modules (mypyc: setup.py's GROUPS) after editing them; until then they run from source
native: $(DEVSTAMP)
	$(BIN)/python setup.py -q build_ext --inplace

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py --n 100000
	$(BIN)/python bench/quality.py

clean:
	rm -rf $(VENV) data .pytest_cache build listener/*.so listener/scoring/*.so socialear/*.so \
		listener/compiled.json listener/scoring/compiled.json socialear/compiled.json
