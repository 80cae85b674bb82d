# Two commands do everything on a fresh machine (Python 3.11 with pip):
#   make study   set up .venv, then run the whole default study (snakemake --cores all)
#   make test    set up .venv, then run the test suite
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: study smoke test test-fast test-slurm browser lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	# Learned codecs (codecsweep/learned.py): compressai 1.2.8's metadata asks for numpy<2 but
	# it imports and its rANS coder round-trips with the pinned numpy 2.4.6 (tests/test_learned.py),
	# so it and its two undeclared imports come without dependency resolution; the rest of
	# torch-geometric's needs are pinned in pyproject.toml.
	$(VENV)/bin/pip install --quiet --no-deps compressai==1.2.8 einops==0.8.2 torch-geometric==2.8.1
	# Compile the numba pixel kernel once now (~5 s, cached in __pycache__), not in every first job.
	$(VENV)/bin/python -c "import numpy as np; from codecsweep.metrics.pixel import Reference, pixel_metrics; \
	  a = np.zeros((200, 200, 3), np.uint8); pixel_metrics(Reference(a), a)"
	touch $(STAMP)

study: $(STAMP)
	$(VENV)/bin/snakemake --cores all

smoke: $(STAMP)
	$(VENV)/bin/snakemake --cores all --configfile config/smoke.yaml

test: $(STAMP) browser lint
	$(VENV)/bin/python -m pytest -q

# The report test opens reports/index.html in Debian's Chromium (installed here if missing).
browser:
	@command -v chromium >/dev/null || { \
	  [ "$$(id -u)" = 0 ] || { echo "install Debian's chromium (the report test needs it)"; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# Opt-in: a single-node SLURM cluster on loopback (root; installs slurm-wlm and munge).
test-slurm: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m slurm -s tests/test_slurm.py

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "not slow and not slurm and not browser"

# Formatting and lint: ruff (package, scripts, tests, benchmarks) and snakefmt (Snakefile,
# rules), configured in pyproject.toml; `make format` fixes what they report.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/snakefmt --check Snakefile rules/
	$(VENV)/bin/snakemake --lint

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	$(VENV)/bin/snakefmt Snakefile rules/

clean:
	rm -rf results reports/tables reports/figures reports/summary.md reports/index.html reports/rejected.csv logs runs
