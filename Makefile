# One entry point for everything a developer or CI does. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q

# Every installable package of the repository, installed editable into one venv.
PACKAGES := libs/mobiquity_client libs/common services/portal services/scheduler \
            services/communicator sandbox
PYPROJECTS := $(wildcard $(addsuffix /pyproject.toml,$(PACKAGES)))

.PHONY: help setup services test test-unit test-integration test-e2e lint fmt run migrate bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed: $(BIN)/python constraints.txt requirements-dev.txt $(PYPROJECTS)
	$(PIP) install -c constraints.txt -r requirements-dev.txt $(addprefix -e ,$(dir $(PYPROJECTS)))
	@touch $@

setup: $(VENV)/.installed  ## create .venv and install every package (idempotent)

services:  ## make sure MariaDB, RabbitMQ and Redis answer (starts local ones)
	@scripts/ensure-services.sh

test: setup services  ## run every test tier (what CI runs)
	$(BIN)/python -m pytest libs/mobiquity_client/tests tests

lint: setup  ## ruff and the architecture's import contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

fmt: setup  ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:  ## remove the venv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
