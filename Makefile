# bigmodel: every target sets itself up on a fresh clone (.venv is created when missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser demo test test-slow lint bench soak docs docs-serve clean

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	# constraints.txt pins this machine's CPU torch build (pyproject.toml keeps a range);
	# install it first so no other requirement can pull a CUDA build. [dev] includes
	# [serve] and [data] (the corpora and digits the recipes, the tour and the demo read).
	$(BIN)/pip install --quiet -c constraints.txt torch
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	$(MAKE) --no-print-directory browser
	touch $(STAMP)

setup: $(STAMP)

CHROMIUM := /usr/bin/chromium
browser:  # Debian's Chromium for the playground tests (never `playwright install`)
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium missing and no root: browser tests will skip"; fi; }

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python examples/demo.py

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not slow" -p no:cacheprovider --durations=15

test-slow: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m slow -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples scripts docs
	$(BIN)/ruff check --select C901 src/bigmodel  # McCabe complexity <= 10 everywhere
	$(BIN)/lint-imports

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

docs-serve: $(STAMP)
	$(BIN)/mkdocs serve -a 127.0.0.1:8001

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/generate.py

soak: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/soak.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
