# census-service: every entry point. `make` alone lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
URL ?= http://$(HOST):$(PORT)
STAMP := $(VENV)/.installed
# pip-audit: where vulnerability data comes from (pypi = PyPI's JSON API; osv also works),
# and the file listing accepted exceptions, one "ID  reason" per line.
AUDIT_SERVICE ?= pypi
AUDIT_IGNORE ?= .pip-audit-ignore

.PHONY: help install data train serve run lint format test clean audit bench-observability

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-train.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the pinned requirements

data: $(STAMP) ## Fetch the raw data (SHA-256 checked) and clean it
	$(PY) -m training.fetch
	$(PY) -m training.clean

train: data ## Select, train, export, verify and publish the model; write reports
	$(PY) -m training.train
	$(PY) -m training.evaluate

serve: $(STAMP) ## Serve model/ with gunicorn on $(HOST):$(PORT)
	HOST=$(HOST) PORT=$(PORT) $(BIN)/gunicorn --config gunicorn.conf.py service.wsgi:app

run: $(STAMP) ## The main job: train if no model is available, then serve
	@if [ ! -f model/metadata.json ]; then $(MAKE) --no-print-directory train; fi
	$(MAKE) --no-print-directory serve

lint: $(STAMP) ## black --check and flake8
	$(BIN)/black --check .
	$(BIN)/flake8

format: $(STAMP) ## Reformat the code with black
	$(BIN)/black .

test: data ## Run the whole test suite (what CI runs)
	$(BIN)/pytest

audit: $(STAMP) ## pip-audit the runtime + training requirements; fails on any known vulnerability
	$(BIN)/pip-audit --strict --progress-spinner off --vulnerability-service $(AUDIT_SERVICE) \
	  $$(sed -n 's/^\([A-Za-z][A-Za-z0-9-]*\).*/--ignore-vuln \1/p' $(AUDIT_IGNORE)) \
	  -r requirements.txt -r requirements-train.txt

bench-observability: $(STAMP) ## What request IDs, logs, metrics and headers cost per request
	$(PY) -m bench.observability_overhead

clean: ## Remove caches (keeps data/, model/ and .venv)
	find . -name __pycache__ -prune -exec rm -rf {} + ; rm -rf .pytest_cache
