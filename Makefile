# Entry points (see README): `make demo` runs Schedy's main job, `make test` the whole suite,
# `make test-slow` its long variants.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup setup-integrations demo test test-slow lint bench-quick

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# The demo needs only the service: not the test toolchain of `setup`.
$(VENV)/.demo-installed: pyproject.toml
	@echo "Installing Schedy (the service and client) into $(VENV): about 30 s the first time..."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on -e '.[server]'
	touch $@

demo: $(VENV)/.demo-installed
	$(PY) examples/quickstart.py

lint: setup
	$(PY) -m ruff check
	$(PY) -m mypy

# Three test processes by default, on 2 cores: most tests wait on a service, a browser, a database
# or a subprocess, so two processes left a quarter of the CPU idle (tests/client: 207 s with two, 156 s
# with three). A test file stays in one process (--dist loadfile) so its module fixtures start once.
# TEST_PROCESSES=0 runs them serially.
TEST_PROCESSES ?= 3
# The long variants measure behaviour under their own load: two processes, one per core.
SLOW_TEST_PROCESSES ?= 2

test: lint
	$(PY) -m pytest -n $(TEST_PROCESSES) --dist loadfile

# The frameworks the callbacks of schedy.integrations are tested with (docs/integrations.md):
# torch's CPU build first (a bare "torch" may pull a CUDA build of several GB), then the rest.
setup-integrations: setup
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,xgboost,lightgbm,keras,lightning,transformers]'

# The long variants of the reliability tests (docs/reliability.md): load, chaos, fuzzing.
# Spread test by test (--dist load), not file by file: the two fuzzing runs, half of the time, share a file and
# run side by side. These tests check behaviour under load (no error, nothing lost, no job claimed twice), not
# speed, so a neighbouring test's load does not change what they assert.
test-slow: setup
	$(PY) -m pytest -m slow -n $(SLOW_TEST_PROCESSES) --dist load

# A reduced run of the benchmarks of docs/benchmarks.md (SQLite only, about 3 minutes).
bench-quick: setup
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) bench/throughput.py --backends sqlite --workers 1 4 --reps 3 --duration 1.5
	$(PY) bench/scale.py --sizes 1000 100000 --reps 3 --duration 1
