# Two commands do everything on a fresh machine:
#   make demo   installs into .venv and runs the main job on the synthetic corpus (demo.py)
#   make test   installs into .venv and runs the test suite (what .ci/run calls)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test install clean-demo

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

demo: install
	$(PY) demo.py

# a pytest worker per core (at most 4: each holds its own TensorFlow and its own copy of the session
# fixtures); `pytest tests/test_x.py` alone runs in one process
test: install
	$(PY) -m pytest -q -n auto --maxprocesses 4 tests

clean-demo:
	rm -rf data/synth runs/000_demo submissions/000_demo* tf_files/000_demo*
