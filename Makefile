# trialflow: the two commands a newcomer needs are `make demo` and `make test`.
# Both create .venv if it is missing and install the pinned dependencies first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test bench bench-national lint format serve deployments clean postgres r-deps pdf-deps chromium

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP) pdf-deps
	$(BIN)/trialflow demo

test: $(STAMP) pdf-deps postgres r-deps chromium
	$(BIN)/python -m pytest -q

# WeasyPrint subsets the PDFs' fonts with HarfBuzz when libharfbuzz-subset is present and
# falls back to fontTools, which is about 10x slower (40 one-page PDFs: 3.0 s -> 0.3 s): the
# letters' and reports' PDFs are most of the demo's time. Installed here where missing.
pdf-deps:
	@if ! ldconfig -p | grep -q 'libharfbuzz-subset\.so\.0'; then \
	  echo "Installing libharfbuzz-subset0 (Debian) so PDFs are written in a tenth of the time"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends libharfbuzz-subset0; \
	fi

# The store tests run on SQLite and on a real PostgreSQL server, which tests/flows/conftest.py
# starts in a temporary folder (initdb, pg_ctl) for the session. Debian's postgresql package,
# installed here where missing: maintained with security fixes, unlike the wheels that bundle
# a server. Needs root (as CI is) or sudo.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
postgres:
	@if ! command -v initdb > /dev/null && ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1; then \
	  echo "Installing PostgreSQL (Debian's postgresql) for the store tests"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends postgresql; \
	fi

# The export test runs the generated primary_analysis.R (estimatr's lm_robust/iv_robust) and
# reads the .dta back with haven. Debian's R packages, installed here where R or one of them
# is missing (the check loads each). Needs root or sudo, like postgres.
R_DEBS := r-base-core r-cran-estimatr r-cran-clubsandwich r-cran-aer r-cran-haven r-cran-mice
R_LIBRARIES := estimatr clubSandwich AER haven mice
r-deps:
	@if ! Rscript -e 'for (p in commandArgs(TRUE)) suppressMessages(library(p, character.only = TRUE))' \
	    $(R_LIBRARIES) > /dev/null 2>&1; then \
	  echo "Installing R and estimatr, clubSandwich, AER, haven, mice (Debian) for the export test and the R references"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(R_DEBS); \
	fi

# The layout test (tests/reports/test_browser_layout.py) opens the reports in headless Chromium
# at phone and desktop widths and measures chart text, overlaps and tables. Debian's chromium,
# installed here where no Chromium is found; the test fails without it. Needs root or sudo.
chromium:
	@if ! command -v chromium > /dev/null && ! command -v chromium-browser > /dev/null \
	    && ! command -v google-chrome > /dev/null; then \
	  echo "Installing Chromium (Debian's chromium) for the report layout test"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium; \
	fi

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# minutes and gigabytes: 1.3M staff, 1M survey responses (issue 18.4); not in make bench
bench-national: $(STAMP)
	$(BIN)/python bench/bench_national.py

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
	rm -rf .trialflow
