# make verify — set up .venv and run the main job; make test — set up .venv and run the test suite.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: verify test test-all docs lint slurm browser clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ufm needs Python >= 3.11; set PYTHON=python3.11 (or newer)")'
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[test,docs]"
	@touch $(STAMP)

verify: $(STAMP)
	$(VENV)/bin/ufm verify

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(VENV)/bin/python -m pytest -q

# The documentation site, built strictly (a broken link or reference fails): the figures of its gallery first.
docs: $(STAMP)
	$(VENV)/bin/ufm figures --quick --out build/docs-figures
	UFM_DOCS_FIGURES=build/docs-figures NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --clean

lint: $(STAMP)
	$(VENV)/bin/ruff check ufm theory experiments tests docs

# Debian's SLURM and munge for the single-node cluster of tests/experiments/test_slurm.py (as root; CI runs it).
slurm:
	@if command -v sbatch >/dev/null && { command -v slurmctld || test -x /usr/sbin/slurmctld; } >/dev/null; then \
		echo "slurm: already installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null && \
		echo "slurm: installed slurmctld slurmd slurm-client munge"; \
	else \
		echo "slurm: needs Debian's slurmctld, slurmd, slurm-client and munge (apt-get, as root)"; exit 1; \
	fi

# Debian's chromium for the gallery test of tests/experiments/test_figures.py (a real headless browser; as root; CI runs it).
browser:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then \
		echo "browser: already installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null && echo "browser: installed chromium"; \
	else \
		echo "browser: needs Debian's chromium (apt-get, as root)"; exit 1; \
	fi

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
