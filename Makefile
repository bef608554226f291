# make verify — set up .venv and run the main job; make test — set up .venv and run the test suite.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: verify test test-all clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ufm needs Python >= 3.11; set PYTHON=python3.11 (or newer)")'
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

verify: $(STAMP)
	$(VENV)/bin/ufm verify

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
