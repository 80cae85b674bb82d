# Two commands do everything on a fresh machine (Python 3.11 with pip):
#   make study   set up .venv, then run the whole default study (snakemake --cores all)
#   make test    set up .venv, then run the test suite
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: study smoke test test-fast lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

study: $(STAMP)
	$(VENV)/bin/snakemake --cores all

smoke: $(STAMP)
	$(VENV)/bin/snakemake --cores all --configfile config/smoke.yaml

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/snakemake --lint

clean:
	rm -rf results reports/tables reports/summary.md reports/rejected.csv logs
