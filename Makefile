# dctkd: every target builds the environment first if it is missing or stale.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROFILE ?= quick
NB ?=
DATA ?=
SET ?=

.PHONY: env test test-slow test-all figures publish lab bench clean lint tensorboard

env: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	# Notebook outputs never reach a commit: nbstripout cleans *.ipynb (.gitattributes) on add.
	# A fresh clone wrote its notebooks in the same second as its index, so git re-checks each
	# one through that filter until the index is refreshed: once here, not in every run's
	# provenance (`git status`).
	if git rev-parse --git-dir >/dev/null 2>&1; then $(BIN)/nbstripout --install; \
	  git update-index -q --refresh >/dev/null || true; fi
	touch $(STAMP)

test: env
	$(BIN)/python -m pytest -n 2

# The long tests (`-m slow`: the rehearsal build of every notebook, compiled terms), a few
# minutes on 2 cores; `test-all` is both suites, what CI runs.
test-slow: env
	$(BIN)/python -m pytest -m slow

test-all: test test-slow

figures: env
	$(BIN)/dctkd figures --profile $(PROFILE) $(if $(NB),--nb $(NB)) $(if $(DATA),--data $(DATA)) $(if $(SET),--set '$(SET)')

# A finished build of PROFILE, as reports/PROFILE: the executed notebooks (HTML), tables, PNG
# figures, an index, its screenshot and BUILD.json (needs Chromium: apt-get install chromium
# chromium-driver). `dctkd publish --check` says whether the published builds are current.
publish: env
	$(BIN)/dctkd publish --profile $(PROFILE)

# Opens the .ipynb notebooks; jupytext (notebooks/jupytext.toml) keeps each paired .py in sync.
lab: env
	$(BIN)/jupyter lab --notebook-dir=notebooks

# Every run of a profile writes TensorBoard events beside its metrics.csv; watch a build live.
tensorboard: env
	$(BIN)/tensorboard --logdir results/$(PROFILE)/runs

lint: env
	$(BIN)/ruff check dctkd tests bench notebooks

bench: env
	$(BIN)/python bench/dct_loss.py
	$(BIN)/python bench/dct_ops.py
	$(BIN)/python bench/train_step.py
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/startup.py

clean:
	rm -rf results .pytest_cache
