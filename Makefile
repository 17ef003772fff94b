# trialflow: the two commands a newcomer needs are `make demo` and `make test`.
# Both create .venv if it is missing and install the pinned dependencies first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench lint format serve deployments clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/trialflow demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Regenerates prefect.yaml from the designs folder, then serves and deploys every deployment.
serve: $(STAMP)
	bash scripts/serve.sh

# After adding or editing a design (trial_designs/*.yaml, or $$TRIALFLOW_DESIGNS_DIR/*.yaml):
# regenerate prefect.yaml and, if `make serve` is running, deploy it (its worker runs them).
API_URL = $(or $(PREFECT_API_URL),http://127.0.0.1:$(or $(PREFECT_SERVER_API_PORT),4200)/api)
deployments: $(STAMP)
	$(BIN)/python scripts/make_prefect_yaml.py
	@if curl -sf "$(API_URL)/health" > /dev/null; then \
	  PREFECT_API_URL="$(API_URL)" $(BIN)/prefect --no-prompt deploy --all; \
	else \
	  echo "No Prefect server at $(API_URL): prefect.yaml is written; 'make serve' deploys it."; \
	fi

prefect.yaml: scripts/make_prefect_yaml.py $(wildcard trial_designs/*.yaml)
	$(BIN)/python scripts/make_prefect_yaml.py

clean:
	rm -rf .trialflow reports/out
