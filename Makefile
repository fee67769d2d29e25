# Every target creates .venv on first use and installs what it needs (idempotent: re-installs only
# when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test figures bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test,dist]'
	@touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(BIN)/python -m analysis.demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

figures: $(VENV)/.installed-test
	$(BIN)/python -m analysis.all

bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.all

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
