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
MODEL_DIR ?= model

.PHONY: help install data train serve run lint format test clean
.PHONY: score bench

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

clean: ## Remove caches (keeps data/, model/ and .venv)
	find . -name __pycache__ -prune -exec rm -rf {} + ; rm -rf .pytest_cache

score: $(STAMP) ## Score a CSV into a CSV: make score IN=records.csv OUT=predictions.csv [ERRORS=errors.csv]
	@test -n "$(IN)" -a -n "$(OUT)" || { echo "usage: make score IN=input.csv OUT=output.csv [ERRORS=errors.csv]"; exit 2; }
	$(PY) -m service.score "$(IN)" "$(OUT)" $(if $(ERRORS),--errors "$(ERRORS)")

bench: data ## Measure latency, throughput, memory, cold start and batch scoring (~3 min)
	@test -f $(MODEL_DIR)/metadata.json || { echo "make bench needs a model in $(MODEL_DIR): run make train"; exit 2; }
	MODEL_DIR=$(MODEL_DIR) $(PY) -m bench.run_all
