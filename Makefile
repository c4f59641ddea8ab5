# Two entry points on a fresh machine with only Python: `make run` and `make test`.
# Each creates .venv and installs the pinned dependencies (requirements.lock) first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck check bench bench-smoke clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

# The reference agencies carry the U.S. commission seats (R20) that /readyz requires.
run: $(STAMP)
	$(BIN)/registry migrate
	$(BIN)/registry seed agencies
	$(BIN)/uvicorn app.main:create_app --factory --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

# Tests run on every core (pytest-xdist); PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check app tests migrations
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

# The benchmark (docs/benchmark.md): a 10k smoke run, or SIZE=10k|100k|1m.
bench-smoke: $(STAMP)
	$(BIN)/python -m bench run --size 10k --smoke

bench: $(STAMP)
	$(BIN)/python -m bench run --size $${SIZE:-100k}

clean:
	rm -rf $(VENV) var/*.db
