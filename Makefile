# Two set-up commands for a fresh machine (see README):
#   make run   -> builds .venv with Python >= 3.12, installs the project, runs the four-district case
#   make test  -> builds .venv, installs the project with its test extras, runs the whole test suite
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test venv bench clean

$(PY):
	bash scripts/make_venv.sh $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/coherence-sim case

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/bench_case.py

clean:
	rm -rf $(VENV) results .pytest_cache
