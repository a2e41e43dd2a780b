# nadkit — two commands on a fresh machine:
#   make demo   create .venv, install everything, benchmark five detectors on NSL-KDD
#   make test   install the dev extras (+ Debian's chromium for the browser tests), lint, run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Datasets are read in place from one data directory. Use ../shared/datasets when it exists.
SHARED := $(abspath ../shared/datasets)
ifeq ($(origin NADKIT_DATA), undefined)
  ifneq ($(wildcard $(SHARED)/INDEX.md),)
    export NADKIT_DATA := $(SHARED)
  endif
endif
TORCH  := torch==2.13.0
DEMO_OUT ?= results/nsl-kdd

# the dashboard's browser tests drive Debian's chromium (never `playwright install`)
CHROMIUM := /usr/bin/chromium

.PHONY: install install-dev demo test lint bench bench-scale clean chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[serve,track,spark,bench]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[dev,bench,peers,flows]"
	$(BIN)/pip install --quiet --no-deps tsb-ad==1.5   # pins numpy<2; runs on numpy 2 (see peers.py)
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/nadkit datasets
	$(BIN)/nadkit bench --dataset nsl-kdd --models pca,iforest,ocsvm,ae,vae -o $(DEMO_OUT)

lint: install-dev
	$(BIN)/ruff check src tests benchmarks

chromium:
	@test -x $(CHROMIUM) || { echo "installing chromium for the browser tests …"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

test: install-dev lint chromium
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15   # one worker per core, a test file stays on one worker; the 15 slowest tests are listed

bench: install-dev
	$(BIN)/python benchmarks/compare_pyod.py

bench-scale: install-dev   # streamed scoring 1M-10M rows (memory, rows/s) and Spark partitions
	$(BIN)/python benchmarks/scale.py

clean:
	rm -rf $(VENV) results bench-results .pytest_cache
