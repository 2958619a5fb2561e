# Thin wrapper: every target is a command the README or CI gives.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
ASSETS := src/vigil/console/static/vendor/.lock-$(shell cksum < web/package-lock.json | cut -d' ' -f1)

.PHONY: setup demo test lint bench clean browser postgres assets java

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

## the console's browser libraries from the npm registry (web/package-lock.json)
$(ASSETS): web/package-lock.json
	bash scripts/build-console-assets.sh

assets: $(ASSETS)

setup: $(STAMP) $(ASSETS)

## simulate 1M events, run the detectors, evaluate (the README's first command)
demo: $(STAMP) $(ASSETS)
	$(VENV)/bin/vigil demo

## lint, type-check and run the whole test suite (the README's second command; CI runs it)
test: $(STAMP) $(ASSETS) lint browser java
	url="$${VIGIL_TEST_PG_URL:-$$(bash scripts/ensure-postgres.sh)}" && [ -n "$$url" ] && \
	  VIGIL_TEST_PG_URL="$$url" $(VENV)/bin/pytest

## a private PostgreSQL for the case and security tests (apt-get when missing; runs under .pg/)
postgres:
	@echo "export VIGIL_TEST_PG_URL=$$(bash scripts/ensure-postgres.sh)"

## Debian's chromium for the browser tests (installed with apt-get when missing)
browser:
	bash scripts/ensure-chromium.sh >/dev/null

## Debian's OpenJDK 17 for the Spark runtime's tests (installed with apt-get when missing)
java:
	bash scripts/ensure-java.sh >/dev/null

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

## throughput and memory benchmark (reads simulator output it makes itself)
bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) web/node_modules src/vigil/console/static/vendor vigil-demo .pytest_cache .mypy_cache .ruff_cache .hypothesis
