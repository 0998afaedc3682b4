# Two commands: `make run` (the demo) and `make test`. Everything else is a convenience.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test test-fast lint bench system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: the demo fleet, a mail catcher, `responder serve --workers 2` on the embedded Redis, a replayed storm
run: install
	$(PY) samples/demo.py

## test: the whole suite on real parts (its own Redis; the monitoring daemons where installed). It never
## installs anything: `sudo make system-deps` does, once; without it the tests needing a package skip.
test: install
	$(PY) -m pytest -q

## test-fast: skip the tests marked slow (real Alertmanager/Icinga2/Zabbix daemons, large fleets)
test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check responder workers tests samples bench
	$(VENV)/bin/mypy

## bench: one table of figures against same-run baselines, and bench/results.json (BENCH_ARGS=--quick: ~10x smaller)
bench: install
	$(PY) -m bench $(BENCH_ARGS)

## system-deps: Debian packages the slow tests drive (best effort: needs root and apt); installs them
## without starting or enabling any system service
system-deps:
	@sh scripts/system-deps.sh

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
