# The two commands a newcomer needs: `make run` and `make test`. Both build .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= $(or $(AUDITLOG_DATA_DIR),data)
DEMO_DAYS ?= 14
DEMO_EVENTS_PER_DAY ?= 20000
PORT ?= 8501
LIVE ?= 1
LIVE_RATE ?= 3
CURSOR_SECRET_FILE = $(DATA_DIR)/.cursor-secret

.PHONY: run test system-deps lint typecheck bench bench-full demo etl clean-data

$(BIN)/.installed-run: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed-run requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# checkov (the template security checks) lives in its own venv: its boto3 pin conflicts with ours.
CHECKOV_VENV := .venv-checkov
export CHECKOV ?= $(CURDIR)/$(CHECKOV_VENV)/bin/checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

## run: venv, demo data when the data folder is empty, ETL, then the explorer on http://localhost:$(PORT) with
## `auditlog etl --watch` (new raw objects processed as they land) and `auditlog demo --live` (LIVE_RATE events
## a second; LIVE=0 turns it off) beside it; all stop with the explorer
run: $(BIN)/.installed-run
	@if [ -z "$$(ls -A $(DATA_DIR)/raw 2>/dev/null)" ]; then \
		$(BIN)/auditlog demo --data-dir $(DATA_DIR) --days $(DEMO_DAYS) --events-per-day $(DEMO_EVENTS_PER_DAY); \
	fi
	$(BIN)/auditlog etl --data-dir $(DATA_DIR) --all
	@# Page links must survive a restart: unless AUDITLOG_CURSOR_SECRET is set, the explorer signs cursors
	@# with a secret kept in the data folder (created once, readable by its owner only).
	@test -s $(CURSOR_SECRET_FILE) || (umask 077 && mkdir -p $(DATA_DIR) && \
		head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > $(CURSOR_SECRET_FILE))
	@$(BIN)/auditlog etl --watch --data-dir $(DATA_DIR) & watcher=$$!; live=; \
	if [ "$(LIVE)" = 1 ]; then $(BIN)/auditlog demo --live --rate $(LIVE_RATE) --data-dir $(DATA_DIR) & live=$$!; fi; \
	trap 'kill $$watcher $$live 2>/dev/null; wait $$watcher $$live 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	AUDITLOG_CURSOR_SECRET="$${AUDITLOG_CURSOR_SECRET:-$$(cat $(CURSOR_SECRET_FILE))}" \
		AUDITLOG_DATA_DIR=$(DATA_DIR) $(BIN)/streamlit run serve.py --server.port $(PORT) --server.headless true

## system-deps: the Debian packages the tests need (Chromium, a JRE, make, CJK and emoji fonts); installs the
## missing ones as root, otherwise prints the one command to run
system-deps:
	scripts/system-deps.sh

## test: system packages, lint, then every test CI runs (unit, integration, parity, browser)
test: system-deps $(BIN)/.installed-dev $(CHECKOV_VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .

## typecheck: mypy (strict on audit_query and the core etl modules; config in pyproject.toml)
typecheck: $(BIN)/.installed-dev
	$(BIN)/mypy

## bench: quick benchmarks (BENCH_FULL=1 or `make bench-full` for 7/90/365 days)
bench: $(BIN)/.installed-dev
	$(BIN)/python -m bench.run

bench-full: $(BIN)/.installed-dev
	$(BIN)/python -m bench.run --full
