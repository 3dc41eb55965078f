# sandbench build entry points (GNU make). On a fresh clone, `make run` and
# `make test` set the host up first (scripts/setup.sh: fast when already done).

VENV := .venv
BIN := $(VENV)/bin
# Python directories that exist in this checkout (git drops empty ones).
PY_DIRS := $(wildcard src tests bench)
PYTEST_ARGS ?=

.PHONY: setup run test bench lint fmt clean

setup:
	bash scripts/setup.sh

run: setup
	bash scripts/load-samples.sh
	exec $(BIN)/sandbench

# The failures are printed again last (scripts/test_summary.py): a log is read from its end.
test: setup
	$(BIN)/ruff check $(PY_DIRS)
	@status=0; $(BIN)/pytest --junitxml=.test-report.xml $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/python scripts/test_summary.py .test-report.xml; exit $$status

bench: setup
	@set -e; found=0; \
	for f in bench/bench_*.py; do \
		[ -e "$$f" ] || continue; found=1; \
		echo "== $$f"; $(BIN)/python "$$f"; \
	done; \
	[ $$found = 1 ] || echo "no bench/bench_*.py to run"

lint: setup
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)

fmt: setup
	$(BIN)/ruff check --select I --fix $(PY_DIRS)
	$(BIN)/ruff format $(PY_DIRS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist
	find . -path ./.git -prune -o \( -name __pycache__ -o -name '*.egg-info' \) -type d -prune -exec rm -rf {} +
