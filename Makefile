# fleet — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LAB_DIR ?= .lab

.DEFAULT_GOAL := help
.PHONY: help install world test test-unit test-e2e lint format runner demo demo-down bench bench-compare bench-scale clean

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@# Debian's python3 makes a venv only with python3-venv (ensurepip); `-m venv --help` works without it.
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; } || \
	  { echo "install: $(PYTHON) cannot make a venv; install python3-venv" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	@# The distribution was called `fleet` before 0.1.0 went out; a venv made then holds both.
	$(PY) -m pip uninstall -q -y fleet 2>/dev/null || true
	PYTHONWARNINGS=ignore $(PY) -m pip install -q -e '.[dev]'  # quiet setuptools' editable-mode notice
	touch $(STAMP)

install: $(STAMP)  ## a venv (.venv) with fleet and the dev tools

world: install  ## the test world: Debian packages, Compose v2 plugin, a running dockerd
	bash scripts/world.sh

test: world  ## all tests: unit, then end-to-end against real sshd hosts and Docker
	$(PY) -m pytest tests

test-unit: install  ## unit tests only (no sshd, no Docker)
	$(PY) -m pytest tests/unit

test-e2e: world  ## end-to-end tests only
	$(PY) -m pytest tests/e2e

lint: install  ## ruff, mypy, and the layer contract (which package may import which)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/controller/test_layers.py \
	  tests/unit/remote/test_imports.py tests/unit/inventory/test_structure.py

format: install  ## apply ruff's formatting and safe fixes
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

runner: install  ## build the stage-runner zipapp into dist/fleet-runner.pyz
	$(PY) -m remote.build dist/fleet-runner.pyz

demo: world  ## bring up a local lab (one sshd host per example host) and deploy the example inventory to it
	$(PY) -m tests.lab demo --dir $(LAB_DIR)

demo-down:  ## stop the demo lab and remove its containers
	$(PY) -m tests.lab down --dir $(LAB_DIR)

bench: world  ## the benchmark: fleet against the asyncssh floor, table + JSON in bench-results/
	$(PY) -m tests.bench

bench-compare: world  ## the benchmark plus pyinfra and Ansible on the same lab (1 and 10 hosts)
	$(PY) -m tests.bench --compare 1,10

bench-scale: world  ## the overhead workload and status at 1, 100 and 500 hosts (no real workload; writes bench-results/bench-scale.json)
	$(PY) -m tests.bench --hosts 1,100,500 --no-real --only overhead,status --out bench-scale.json

clean:  ## remove the venv, caches and build output
	rm -rf $(VENV) .venv-compare dist build *.egg-info .pytest_cache .mypy_cache .ruff_cache
