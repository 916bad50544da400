# Entry points (see README): `make demo` runs Schedy's main job, `make test` the whole suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(PY) examples/quickstart.py

lint: setup
	$(PY) -m ruff check
	$(PY) -m mypy

test: lint
	$(PY) -m pytest
