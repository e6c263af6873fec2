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

# Tests run on two xdist workers (each gets its own database and vhost); override with
# PYTEST_ARGS=... (e.g. PYTEST_ARGS="-n 0 -k payments").
PYTEST_ARGS ?= -n 2 --durations=15

# `make run` and `make migrate` read dev.env unless the variable is already set.
DEV_ENV := set -a; . ./dev.env; set +a

# Where `make run`'s Mobiquity sandbox keeps its ledger across restarts (git-ignored);
# `make sandbox-reset` empties it. Empty: in memory only.
SANDBOX_DATA_DIR ?= var/sandbox

.PHONY: help setup browser dev-db sandbox sandbox-reset services test test-unit test-integration test-e2e lint fmt run migrate bench clean deploy-check translations screenshots

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed: $(BIN)/python constraints.txt requirements-dev.txt $(PYPROJECTS)
	$(PIP) install -c constraints.txt -r requirements-dev.txt $(addprefix -e ,$(dir $(PYPROJECTS)))
	@touch $@

# checkov has a virtualenv of its own (requirements-checkov.txt says why), shared between
# clones through a cache; .venv/bin/checkov points at it.
$(BIN)/checkov: requirements-checkov.txt scripts/ensure-checkov.sh | $(BIN)/python
	@PYTHON=$(PYTHON) scripts/ensure-checkov.sh $@

setup: $(VENV)/.installed $(BIN)/checkov  ## create .venv and install every package (idempotent)

browser:  ## make sure Debian's Chromium (browser tests) and libfaketime (clock-skew tests) are installed
	@scripts/ensure-chromium.sh
	@scripts/ensure-faketime.sh

services:  ## make sure MariaDB, RabbitMQ and Redis answer (starts local ones)
	@scripts/ensure-services.sh

dev-db: setup services
	@$(DEV_ENV); $(BIN)/python scripts/create_database.py

migrate: dev-db  ## apply the database migrations (BBP_DATABASE_URL, default from dev.env)
	@$(DEV_ENV); $(BIN)/alembic -c db/alembic.ini upgrade head

run: migrate  ## start the sandbox and every service (portal on http://localhost:8000); Ctrl-C stops all
	@$(DEV_ENV); $(BIN)/python scripts/seed_demo.py
	@# The portal's metrics of all its workers (Procfile): a fresh directory every run.
	@rm -rf var/run/portal-prometheus
	@# In the background: the biller catalogue from the sandbox once it answers (idempotent),
	@# then the "ready" block once every process answers (it ends with this shell).
	@# Ctrl-C: honcho stops everything and exits 130 (143 on SIGTERM), a clean stop: exit 0.
	@$(DEV_ENV); export SANDBOX_DATA_DIR="$(SANDBOX_DATA_DIR)"; \
	  ($(BIN)/flask --app 'bbp_portal.wsgi:create_app()' billers seed-from "http://127.0.0.1:$${SANDBOX_PORT:-8090}" --wait 60 \
	    && $(BIN)/python scripts/run_ready.py --watch $$$$ &); \
	  PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho -f Procfile start; rc=$$?; \
	  case $$rc in 0|130|143) echo "make run: everything stopped"; exit 0;; *) exit $$rc;; esac

test: setup services browser  ## run every test tier (what CI runs)
	$(BIN)/python -m pytest $(PYTEST_ARGS) $(wildcard libs/mobiquity_client/tests) tests

test-unit: setup  ## only the unit tier (no database, broker or network)
	$(BIN)/python -m pytest -m unit $(wildcard libs/mobiquity_client/tests) tests

# The README's pictures: the whole system on a throw-away database (as the browser tests start
# it), driven by Debian's Chromium at 1280x800; tests/e2e/test_screenshots.py says what each shows.
screenshots: setup services browser  ## regenerate docs/screenshots/ (the README's "What it looks like")
	BBP_SCREENSHOTS=1 $(BIN)/python -m pytest -n 0 -q -s -p no:cacheprovider tests/e2e/test_screenshots.py

lint: setup  ## ruff, the architecture's import contracts and mypy (pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

deploy-check: setup  ## lint the Dockerfiles, render and validate the Kubernetes overlays offline, tests/deploy
	$(BIN)/python deploy/tools/deploy_check.py
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/deploy

# The portal's Bangla catalogue: extract the interface text (babel.cfg: Python and Jinja2
# templates), merge it into the .po (new texts empty, changed ones fuzzy, gone ones kept as
# #~), compile the .mo. Then translate what is empty or fuzzy in the .po and run it again;
# tests/unit/portal/test_translations.py fails while any visible text lacks Bangla.
PORTAL_I18N := services/portal/src/bbp_portal/translations
translations: setup  ## extract the portal's text, update the Bangla .po, compile the .mo
	@mkdir -p services/portal/build
	cd services/portal && $(CURDIR)/$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext \
	    --no-location --project bbp-portal --version 0 -o build/messages.pot .
	$(BIN)/pybabel update -i services/portal/build/messages.pot -d $(PORTAL_I18N) -l bn -w 100
	$(BIN)/pybabel compile -d $(PORTAL_I18N) -l bn --statistics

fmt: setup  ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

sandbox: setup  ## start only the Mobiquity sandbox (SANDBOX_PORT, default 8090)
	$(BIN)/python -m sandbox

sandbox-reset: setup  ## empty the ledger make run's sandbox keeps (SANDBOX_DATA_DIR, var/sandbox)
	@SANDBOX_DATA_DIR="$(SANDBOX_DATA_DIR)" $(BIN)/python -m sandbox reset

# The benchmarks' own dependencies (the Celery peer): bench/requirements.txt, never in CI.
$(VENV)/.bench-installed: $(VENV)/.installed bench/requirements.txt
	$(PIP) install -c constraints.txt -r bench/requirements.txt
	@touch $@

bench: setup services $(VENV)/.bench-installed  ## run every benchmark under bench/ (not part of CI; prints figures)
	@for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:  ## remove the venv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
