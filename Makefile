# dctkd: every target builds the environment first if it is missing or stale.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROFILE ?= quick
NB ?=
DATA ?=
SET ?=

.PHONY: env test figures lab bench clean lint

env: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

test: env
	$(BIN)/python -m pytest -n 2

figures: env
	$(BIN)/dctkd figures --profile $(PROFILE) $(if $(NB),--nb $(NB)) $(if $(DATA),--data $(DATA)) $(if $(SET),--set '$(SET)')

lab: env
	$(BIN)/jupyter lab --notebook-dir=notebooks

lint: env
	$(BIN)/ruff check dctkd tests bench

bench: env
	$(BIN)/python bench/dct_loss.py

clean:
	rm -rf results .pytest_cache
