PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: dev test test-fast demo lint bench bench-delta docs clean

dev: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements-dev.txt tools/dev_install.py tools/system-deps.sh
	sh tools/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python tools/dev_install.py
	touch $@

test: dev
	$(BIN)/python -m pytest -q tests

test-fast: dev
	$(BIN)/python -m pytest -q tests/unit

demo: dev
	$(BIN)/python tools/demo.py

lint: dev
	$(BIN)/ruff check conda_envbundle tests tools docs bench
	$(BIN)/ruff format --check conda_envbundle tests tools docs bench
	$(BIN)/mypy

bench: dev
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-delta: dev
	$(BIN)/python bench/delta.py $(BENCH_ARGS)

docs: dev
	$(BIN)/python -m pip install -q -r docs/requirements.txt
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info docs/_build
