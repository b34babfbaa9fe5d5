# khabar: `make run` and `make test` do their own set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install browser run test lint format bench bench-ner clean

# Create the virtual environment if missing and install the project (editable) with its dev tools.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

## install: the virtual environment with khabar and its tools (run and test do this themselves)
install: $(STAMP)

## run: process data/raw into data/processed, print the top-entities report, write data/processed/report.html
run: $(STAMP)
	$(BIN)/khabar run
	$(BIN)/khabar report top-entities
	$(BIN)/khabar report --html data/processed/report.html

## browser: Debian's Chromium and an Arabic font, for the report's browser test (skipped, with the reason, without)
browser:
	@if command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Chromium for the browser test (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium fonts-dejavu-core >/dev/null || echo "khabar: Chromium could not be installed; the browser test will be skipped"; \
	else echo "khabar: no Chromium and no root apt-get to install it; the browser test will be skipped"; fi

## test: lint (ruff, mypy), then the test suite (installs Chromium first, for the browser test)
test: $(STAMP) browser lint
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

## bench-ner: entity quality and speed of each backend on the shared ANERcorp file (about 35 minutes: the 5-block cross-validation trains a bilstm per block)
bench-ner: $(STAMP)
	$(BIN)/python bench/ner_bench.py

clean:
	rm -rf $(VENV) data/processed/*/ .pytest_cache .ruff_cache
