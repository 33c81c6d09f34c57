# cplxcodec — set-up, tests and demo from a fresh clone.
#   make test      create .venv, install everything pinned, run the fast test suite
#   make test-slow the slow tests (run by CI too)
#   make demo      create .venv, install, encode/decode a bundled speech sample
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0

.PHONY: install test test-slow lint demo bench clean

$(STAMP): pyproject.toml requirements/lock.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned, so that nothing pulls a multi-GB CUDA build
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -r requirements/lock.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check cplxcodec tests benchmarks

test: $(STAMP)
	$(VENV)/bin/ruff check cplxcodec tests benchmarks
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

demo: $(STAMP)
	$(PY) -m cplxcodec demo --out demo_out

bench: $(STAMP)
	$(PY) benchmarks/layers.py
	$(PY) benchmarks/optim.py
	$(PY) benchmarks/codec_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo_out
