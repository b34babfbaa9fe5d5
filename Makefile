# khabar: `make run` and `make test` do their own set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test lint format bench bench-ner clean

# Create the virtual environment if missing and install the project (editable) with its dev tools.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

## install: the virtual environment with khabar and its tools (run and test do this themselves)
install: $(STAMP)

## run: process data/raw into data/processed, then print the top-entities report
run: $(STAMP)
	$(BIN)/khabar run
	$(BIN)/khabar report top-entities

## test: lint (ruff, mypy), then the test suite
test: $(STAMP) lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: end-to-end figures on the shared SaudiNewsNet articles (not part of the tests)
bench: $(STAMP)
	$(BIN)/python bench/pipeline_bench.py

## bench-ner: entity quality and speed of each backend on the shared ANERcorp file (several minutes)
bench-ner: $(STAMP)
	$(BIN)/python bench/ner_bench.py

clean:
	rm -rf $(VENV) data/processed/*/ .pytest_cache .ruff_cache
