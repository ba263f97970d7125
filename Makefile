# The two commands a newcomer needs: `make run` (the platform) and `make test` (the suite).
# Both create the virtual environment and fetch what they need on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck pytest stack-up stack-down clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "paystream needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel setuptools
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	@touch $@

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/paystream up

test: $(STAMP) lint typecheck compose-check pytest

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

compose-check:
	@bash devstack/compose-check.sh

pytest: $(STAMP)
	$(BIN)/pytest -p no:cacheprovider

stack-up: $(STAMP)
	$(BIN)/paystream stack up

stack-down: $(STAMP)
	$(BIN)/paystream stack down

clean:
	rm -rf $(VENV) .cache
