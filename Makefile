# Every entry point of the template. `make` alone lists the targets.
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

# DVC runs each stage's `python -m training.<stage>`: the venv's python must come first.
DVC := PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc
HEROKU_REMOTE ?= heroku
APP_URL ?=

.PHONY: help install data train serve run lint format test test-fast test-example \
	clean model push pull deploy smoke precommit hooks bench-dyno audit \
	bench-observability score score-spark bench monitor alerts bench-monitoring
MODEL_DIR ?= model

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-batch.txt requirements-spark.txt \
	  requirements-deploy.txt requirements-train.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the pinned requirements

# Bring your own data: params.yaml written from the CSV itself (training/init.py).
.PHONY: init
init: $(STAMP) ## params.yaml from your CSV: make init DATA=path.csv TARGET=column [DELIMITER=;] [FORCE=1]
	@test -n "$(DATA)" -a -n "$(TARGET)" || { echo "usage: make init DATA=path.csv TARGET=column [DELIMITER=;] [FORCE=1]"; exit 2; }
	$(PY) -m training.init "$(DATA)" "$(TARGET)" $(if $(DELIMITER),--delimiter "$(DELIMITER)") $(if $(FORCE),--force)

data: $(STAMP) ## Fetch the raw data (SHA-256 checked) and clean it
	$(PY) -m training.fetch
	$(PY) -m training.clean

train: $(STAMP) ## Reproduce the DVC pipeline fetch -> clean -> fit -> export -> evaluate (dvc repro)
	$(DVC) repro

push: $(STAMP) ## Upload data and model to the DVC remote (dvc push)
	$(DVC) push

pull: $(STAMP) ## Download data and model from the DVC remote (dvc pull)
	$(DVC) pull

model: $(STAMP) ## Pull the model dvc.lock names; if the remote lacks it, train and push it
	@$(DVC) pull export || { \
	  echo "The DVC remote does not have this model: reproducing the pipeline."; \
	  $(DVC) repro && { $(DVC) push || echo "warning: dvc push failed; model kept locally"; }; }

serve: $(STAMP) ## Serve model/ on $(HOST):$(PORT) (python -m deploy.serve, as every platform runs it)
	HOST=$(HOST) PORT=$(PORT) $(PY) -m deploy.serve

run: $(STAMP) ## The main job: get the model (pull, else train + push), then serve
	@if [ ! -f model/metadata.json ]; then $(MAKE) --no-print-directory model; fi
	$(MAKE) --no-print-directory serve

lint: $(STAMP) ## black --check and flake8
	$(BIN)/black --check .
	$(BIN)/flake8

format: $(STAMP) ## Reformat the code with black
	$(BIN)/black .

precommit: $(STAMP) ## Every pre-commit hook on all files (CI's lint step)
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

hooks: $(STAMP) ## Install the git pre-commit hook
	$(BIN)/pre-commit install

test: data model ## Run the whole test suite (what CI runs); gets the model first
	$(BIN)/pytest

test-fast: $(STAMP) ## The unit tests that need no data download and no trained model (< 1 min)
	$(BIN)/pytest -q -m "not needs_model and not needs_data and not slow"

EXAMPLE ?= german_credit
test-example: $(STAMP) ## The suite on another data set (the deploy targets are proven once, by make test)
	$(BIN)/pytest --params examples/$(EXAMPLE)/params.yaml -m "not platform"

smoke: $(STAMP) ## Smoke-test a running service: make smoke URL=https://<app>.herokuapp.com
	$(PY) smoke_test.py $(URL)

deploy: $(STAMP) ## Lint + tests, push the model (DVC) and the code (git) to Heroku, smoke-test APP_URL
	@test -n "$(APP_URL)" || { echo "set APP_URL=https://<app>.herokuapp.com"; exit 2; }
	$(MAKE) --no-print-directory lint test
	$(DVC) push export
	git push $(HEROKU_REMOTE) main
	$(PY) smoke_test.py $(APP_URL)

bench-dyno: $(STAMP) ## Time a simulated Heroku dyno's boot (model pulled) and size the slug
	$(PY) -m bench.dyno_boot

audit: $(STAMP) ## pip-audit the runtime, training, batch and Spark requirements; fails on any known vulnerability
	$(BIN)/pip-audit --strict --progress-spinner off --vulnerability-service $(AUDIT_SERVICE) \
	  $$(sed -n 's/^\([A-Za-z][A-Za-z0-9-]*\).*/--ignore-vuln \1/p' $(AUDIT_IGNORE)) \
	  -r requirements.txt -r requirements-train.txt -r requirements-spark.txt

bench-observability: $(STAMP) ## What request IDs, logs, metrics and headers cost per request
	$(PY) -m bench.observability_overhead

clean: ## Remove caches (keeps data/, model/ and .venv)
	find . -name __pycache__ -prune -exec rm -rf {} + ; rm -rf .pytest_cache

score: $(STAMP) ## Score a file: make score IN=records.csv[.gz]|.parquet OUT=predictions.csv|.parquet [ERRORS=errors.csv]
	@test -n "$(IN)" -a -n "$(OUT)" || { echo "usage: make score IN=input.csv OUT=output.csv [ERRORS=errors.csv]"; exit 2; }
	$(PY) -m batch.score "$(IN)" "$(OUT)" --model-dir "$(MODEL_DIR)" $(if $(ERRORS),--errors "$(ERRORS)")

score-spark: $(STAMP) ## The same scoring on Spark (local[*]; Java 17+): make score-spark IN=records.csv|dir OUT=dir [ERRORS=dir] [MASTER=url]
	@test -n "$(IN)" -a -n "$(OUT)" || { echo "usage: make score-spark IN=input.csv|.parquet|folder OUT=folder [ERRORS=folder] [MASTER=local[*]]"; exit 2; }
	$(PY) -m batch.spark_job "$(IN)" "$(OUT)" --model-dir "$(MODEL_DIR)" $(if $(ERRORS),--errors "$(ERRORS)") $(if $(MASTER),--master "$(MASTER)")

monitor: $(STAMP) ## Drift report from captured records: make monitor CAPTURE=capture.jsonl [LABELS=labels.csv]
	@test -n "$(CAPTURE)" || { echo "usage: make monitor CAPTURE=capture.jsonl [LABELS=labels.csv] (docs/monitoring.md)"; exit 2; }
	$(PY) -m monitoring.report "$(CAPTURE)" --model $(MODEL_DIR) $(if $(LABELS),--labels "$(LABELS)")

alerts: $(STAMP) ## Prometheus rules, Grafana dashboard and scrape config for the model into build/monitoring
	$(PY) -m monitoring.alerts --model $(MODEL_DIR)

bench-monitoring: $(STAMP) ## /predict throughput with drift monitoring on vs off (goal >= 95%)
	MODEL_DIR=$(MODEL_DIR) $(PY) -m bench.monitoring

bench: data ## Measure latency, throughput, memory, cold start, batch scoring and Spark (~4 min)
	@test -f $(MODEL_DIR)/metadata.json || { echo "make bench needs a model in $(MODEL_DIR): run make train"; exit 2; }
	MODEL_DIR=$(MODEL_DIR) $(PY) -m bench.run_all

# Container, Heroku registry, AWS, Kubernetes targets (docs/deploy.md).
include deploy/targets.mk
