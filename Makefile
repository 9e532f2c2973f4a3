# Two set-up commands for a fresh machine (see README):
#   make run   -> builds .venv with Python >= 3.12, installs the project, runs the four-district case
#   make test  -> builds .venv, installs the project with its test extras, runs the whole test suite
#                 (first installs Chromium for the app's browser test when it is missing and this runs as
#                 root with apt-get; otherwise stops at once with the one command to run)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test venv bench clean chromium

$(PY):
	bash scripts/make_venv.sh $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/coherence-sim case

test: chromium $(STAMP)
	$(PY) -m pytest

# The app's browser test (tests/test_app_browser.py) drives Debian's Chromium (Playwright's own browser
# download is not used); pip cannot install it.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make test: installing Chromium for the app's browser test (apt-get install -y chromium)"; \
	    apt-get update && apt-get install -y chromium; \
	  else \
	    echo "make test: the app's browser test needs Chromium; install it, then run make test again:" >&2; \
	    echo "    sudo apt-get install -y chromium" >&2; \
	    exit 1; \
	  fi; }

bench: $(STAMP)
	$(PY) benchmarks/bench_case.py

clean:
	rm -rf $(VENV) results .pytest_cache
