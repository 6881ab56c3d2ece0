# One-command set-up: `make run` (build the tables if stale, then serve) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
export PORT
# The MovieLens release to build from: ml-latest-small (bundled), ml-25m, ml-32m or ml-latest
# (fetched from GroupLens into data/ on first use: `make run DATA=ml-32m`).
DATA   ?= ml-latest-small
DATA_DIR := data/$(DATA)

.PHONY: run build rebuild evaluate serve test test-fast lint benchmark bench-full bench-web bench-feedback status clean download \
        export-feedback build-with-feedback db-upgrade

run: build serve  ## build trained_data/ when missing or stale, then serve on http://127.0.0.1:$(PORT)

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { echo "error: $(PYTHON) cannot create virtualenvs: install the python3-venv package (Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

build: $(VENV)/.installed $(DATA_DIR)/ratings.csv  ## build only what is stale
	$(PY) -m offline build --if-stale --data-dir $(DATA_DIR)

rebuild: $(VENV)/.installed $(DATA_DIR)/ratings.csv  ## build everything again
	$(PY) -m offline build --data-dir $(DATA_DIR)

evaluate: $(VENV)/.installed $(DATA_DIR)/ratings.csv  ## the 5-fold three-pick evaluation: report.json/report.html
	$(PY) -m offline evaluate --data-dir $(DATA_DIR)

# A release that is not in data/ yet is downloaded (checksum-checked, resumable); the bundled
# data/ml-latest-small/ratings.csv is there, so nothing is fetched for it.
data/%/ratings.csv: | $(VENV)/.installed
	$(PY) -m offline download $*

download: $(VENV)/.installed  ## fetch data/$(DATA) from GroupLens (a no-op when it is there)
	$(PY) -m offline download $(DATA)

serve: $(VENV)/.installed
	$(VENV)/bin/gunicorn --config webapp/gunicorn_conf.py "webapp:create_app()"

status: $(VENV)/.installed
	$(PY) -m offline status --data-dir $(DATA_DIR)

test: $(VENV)/.installed-dev  ## the whole test suite
	$(PY) -m pytest

test-fast: $(VENV)/.installed-dev  ## everything but the full build on the bundled data
	$(PY) -m pytest -m "not slow"

lint: $(VENV)/.installed-dev  ## ruff (lint and format check) and mypy on offline/ and webapp/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

benchmark: $(VENV)/.installed  ## per-stage times of the build and the evaluation
	$(PY) -m offline benchmark --with-evaluate

bench-full: $(VENV)/.installed  ## the build at 1M, 5M and 25M synthetic ratings (about an hour; by hand, never in CI)
	$(PY) -m offline benchmark --synth 1M,5M,25M --keep .cache/bench

bench-web: $(VENV)/.installed  ## load test of the web app (needs wrk)
	$(PY) benchmarks/web.py

bench-feedback: $(VENV)/.installed  ## feedback posts under load, and the result page meanwhile (needs wrk)
	$(PY) benchmarks/feedback.py

export-feedback: $(VENV)/.installed  ## visitors' feedback -> var/feedback-ratings.csv (MovieLens ratings)
	$(PY) -m offline export-feedback --data-dir $(DATA_DIR)

build-with-feedback: export-feedback $(DATA_DIR)/ratings.csv  ## export the feedback, then build with it
	$(PY) -m offline build --data-dir $(DATA_DIR) --include-feedback

db-upgrade: $(VENV)/.installed  ## apply the feedback database's migrations (the app does it at start-up too)
	$(PY) -m webapp.db upgrade

clean:
	rm -rf $(VENV) .pytest_cache
