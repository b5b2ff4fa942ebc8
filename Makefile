# The two commands of the README: `make book` and `make test`. Each creates .venv and installs
# everything on first use (again whenever the requirements change), then does its work.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# axe-core, the accessibility engine the browser tests inject into every page (npm package)
AXE_VERSION := 4.14.1
AXE := $(VENV)/node/node_modules/axe-core/axe.min.js
export WANDB_MODE ?= offline
export WANDB_SILENT := true
export PYTHONHASHSEED := 0

.PHONY: book test test-fast lint bench clean

$(STAMP): pyproject.toml requirements/ci.txt requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/ci.txt
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going --all

$(AXE): | $(STAMP)
	npm install --prefix $(VENV)/node --no-audit --no-fund --no-save --loglevel=error \
		axe-core@$(AXE_VERSION) >/dev/null \
		|| echo "note: npm could not install axe-core; the accessibility tests will fail"

test: $(STAMP) $(AXE)
	bash scripts/ensure-chromium.sh
	$(BIN)/python -m pytest

# The unit tests in about a minute: no notebooks, book, browser, extra processes or
# benchmark runs, each parametrised test on each value of its parameters once, fewer
# hypothesis examples (tests/conftest.py says how), on TEST_WORKERS processes
# (pytest-xdist). `make test` runs everything.
TEST_WORKERS ?= 2
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --hypothesis-profile=fast \
		-m "not slow and not browser and not heavy"

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m xent.bench

clean:
	rm -rf _build .pytest_cache .hypothesis
