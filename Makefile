# Every target creates .venv on first use and installs what it needs (idempotent: re-installs only
# when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test figures bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test,dist,docs]'
	@touch $@ $(VENV)/.installed-base $(VENV)/.installed-docs

$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[docs]'
	@touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(BIN)/python -m analysis.demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

figures: $(VENV)/.installed-test
	$(BIN)/python -m analysis.all

bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.all

# The documentation site, into docs/_build/html; any warning fails the build. The gallery runs the
# examples at full size (ODEFLOW_GALLERY=small: with their --small flag, for a quicker build).
docs: $(VENV)/.installed-docs
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis docs/_build docs/generated docs/auto_examples docs/sg_execution_times.rst docs/tests_cited.rst
