# Two entry points (see README.md): `make demo` and `make test`. Both create the virtual environment first.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
DEMO_DIR ?= demo_output

.PHONY: setup demo test lint clean

setup: $(VENV)/.installed

# The CPU build of torch is installed first where it fits (`<2.14` resolves to the local CPU wheel on our build
# machines); on a GPU machine install the torch build you want before `make setup`.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "torch>=2.4,<2.14"
	$(PY) -m pip install --quiet -e ".[dev,training]"
	touch $@

demo: setup
	$(PY) examples/quickstart.py --output-dir $(DEMO_DIR)

test: setup
	$(PY) -m pytest -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$status

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache
