# emotion_tf — the two README commands: `make demo` and `make test`.
# Each does its own set-up on a fresh machine (Debian packages + .venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | md5sum | cut -c1-12)
RUN_DIR ?= runs/demo
PYTEST_ARGS ?=

.PHONY: setup test test-fast test-durations lint demo ablate bench clean-venv

$(STAMP): requirements.txt pyproject.toml
	@{ command -v espeak-ng && command -v flite; } >/dev/null 2>&1 || { \
	  echo "installing espeak-ng and flite (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng flite >/dev/null; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP)

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q -n 2 --dist worksteal --durations=15 tests $(PYTEST_ARGS)

# The developer's inner loop: everything but the tests listed in tests/slow_tests.txt.
test-fast: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q -n 2 -m "not slow" tests $(PYTEST_ARGS)

# Runs everything, timing each test, and rewrites tests/slow_tests.txt (tests over 2 s).
test-durations: setup
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q -n 2 --junitxml=.test-durations.xml tests $(PYTEST_ARGS)
	$(PY) scripts/slow_tests.py .test-durations.xml

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

demo: setup
	TF_CPP_MIN_LOG_LEVEL=2 bash scripts/demo.sh $(RUN_DIR)

ablate: setup
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m emotion_tf.ablate --run_dir $(RUN_DIR)

bench: setup
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) bench/train_step.py

clean-venv:
	rm -rf $(VENV)
