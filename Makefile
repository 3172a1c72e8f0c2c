# Two commands matter: `make run` (set up and open the lab) and `make test` (set up and run every test).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint bench clean

$(BIN)/trm-lab: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first, so nothing later pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/trm-lab

setup: $(BIN)/trm-lab

run: setup
	$(BIN)/trm-lab

test: setup
	$(BIN)/ruff check .
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/train.py

clean:
	rm -rf $(VENV)
