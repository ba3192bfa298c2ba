# Two commands on a fresh machine:
#   make demo   run the main job on the bundled example data (SQLite, no credentials)
#   make test   run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
AS_OF ?= 2026-11-21T00:00:00Z

.PHONY: demo test check lint bench examples clean

$(BIN)/impactlink: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

demo: $(BIN)/impactlink
	$(BIN)/impactlink run --config config.example.toml --dry-run --as-of $(AS_OF)
	$(BIN)/impactlink report --config config.example.toml

test: $(BIN)/impactlink
	$(BIN)/pytest

lint: $(BIN)/impactlink
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/mypy src

# The performance figures of issue 9 (benchmarks/cycle.py); a quicker subset, e.g.:
#   make bench BENCH_ARGS="--records 100k --sizes 10k,100k --skip-postgres"
bench: $(BIN)/impactlink
	$(BIN)/python -c "import duckdb" 2>/dev/null || $(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/cycle.py $(BENCH_ARGS)

examples: $(BIN)/impactlink
	$(BIN)/python examples/generate.py

clean:
	rm -rf $(VENV) impactlink.db impactlink.db-wal impactlink.db-shm .pytest_cache .mypy_cache .ruff_cache
