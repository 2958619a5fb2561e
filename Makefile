# Thin wrapper: every target is a command the README or CI gives.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup demo test lint bench clean browser

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

## simulate 1M events, run the detectors, evaluate (the README's first command)
demo: $(STAMP)
	$(VENV)/bin/vigil demo

## lint, type-check and run the whole test suite (the README's second command; CI runs it)
test: $(STAMP) lint browser
	$(VENV)/bin/pytest

## Debian's chromium for the browser tests (installed with apt-get when missing)
browser:
	bash scripts/ensure-chromium.sh >/dev/null

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

## throughput and memory benchmark (reads simulator output it makes itself)
bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) vigil-demo .pytest_cache .mypy_cache .ruff_cache .hypothesis
