# Two commands matter: `make run` (serve the demo on SQLite) and `make test` (lint, types, tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-stamp
STAMP := $(VENV)/.test-stamp
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

.PHONY: run test test-pg lint types pytest ide docs js-clients examples bench bench-quick bench-tools bench-export fuzz soak clean lock

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Serving needs only the runtime dependencies; tests add the test and dev extras. Versions come
# from constraints.txt (every dependency pinned); `make lock` refreshes it.
$(RUN_STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -c constraints.txt -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test,dev]'
	touch $(STAMP) $(RUN_STAMP)

# Resolve pyproject.toml afresh (the newest versions its bounds allow) in a throwaway venv and
# pin the result. Run it deliberately, then `make test`, and commit constraints.txt.
LOCK_HEADER := \# Every runtime, test and dev dependency, pinned; `make` installs with -c constraints.txt.\n\# Written by `make lock` from pyproject.toml: edit the bounds there, never the pins here.
lock:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install -q --upgrade pip; \
	"$$tmp/venv/bin/python" -m pip install -q -e '.[test,dev]'; \
	{ printf '$(LOCK_HEADER)\n'; \
	  "$$tmp/venv/bin/python" -c 'import platform as p; print("# Resolved with", p.python_implementation(), p.python_version(), "on", p.system())'; \
	  "$$tmp/venv/bin/python" -m pip freeze --exclude exports-gateway; } > "$$tmp/constraints.txt"; \
	mv "$$tmp/constraints.txt" constraints.txt; \
	echo "make lock: constraints.txt rewritten; review the diff, run make test, commit it"

# GraphiQL assets come from npm at build time into a git-ignored folder (never committed).
ide:
	@if command -v npm >/dev/null 2>&1; then bash app/graphql/ide/build.sh; \
	else echo "warning: npm not found; GraphiQL assets not built (the API works without them)" >&2; fi

# Swagger UI for GET /docs, the same way: swagger-ui-dist from npm into a git-ignored folder.
docs:
	@if command -v npm >/dev/null 2>&1; then bash app/rest/docs/build.sh; \
	else echo "warning: npm not found; API docs assets not built (/openapi.json works without them)" >&2; fi

# Rebilly's JavaScript SDK for tests/clients, the same way: npm ci from the committed lockfile.
js-clients:
	@if command -v npm >/dev/null 2>&1; then bash tests/clients/js/install.sh; \
	else echo "warning: npm not found; tests/clients skip (and fail in CI)" >&2; fi

# examples/typescript: npm ci from its lockfile, GraphQL Codegen on schema.graphql, tsc (all
# git-ignored; only when something changed). examples/python needs only the test extras.
examples:
	@if command -v npm >/dev/null 2>&1; then bash examples/typescript/build.sh; \
	else echo "warning: npm not found; examples/typescript not built (tests/test_examples.py skips, and fails in CI)" >&2; fi

PORT ?= 8000
run: $(RUN_STAMP) ide docs
	$(BIN)/python -m app serve --demo --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) ide docs js-clients examples
	$(BIN)/pytest -q

test: lint types pytest

# The same suite against PostgreSQL (what .ci/run does after `make test`).
test-pg: $(STAMP) ide docs js-clients examples
	TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q

# The REST and GraphQL fuzzers at 20x their `make test` size, and schemathesis against
# /openapi.json with every phase for at least OPENAPI_FUZZ_CASES cases, from FUZZ_SEED or the
# clock (printed: FUZZ_SEED=N replays a run; the schemathesis test prints its case count);
# TEST_DATABASE_URL=... runs them on PostgreSQL.
FUZZ_ITERATIONS ?= 4400
OPENAPI_FUZZ_CASES ?= 1200
OPENAPI_FUZZ_PHASES ?= examples,coverage,fuzzing,stateful
fuzz: $(STAMP)
	@seed=$${FUZZ_SEED:-$$(date +%s)}; \
	echo "make fuzz: FUZZ_SEED=$$seed FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) OPENAPI_FUZZ_CASES=$(OPENAPI_FUZZ_CASES)"; \
	FUZZ_SEED=$$seed FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) OPENAPI_FUZZ_CASES=$(OPENAPI_FUZZ_CASES) \
	OPENAPI_FUZZ_PHASES=$(OPENAPI_FUZZ_PHASES) \
		$(BIN)/pytest -q tests/rest/test_fuzz.py tests/graphql/test_fuzz.py \
		tests/rest/test_openapi.py::test_schemathesis_finds_nothing

# The soak (tests/soak.py) at full size on SQLite, then on a database of its own on PG_TEST_URL's
# server: 200 exports, 4 workers, 10 SIGKILLs, 100 timed DELETEs each, from SOAK_SEED or the
# clock (printed: SOAK_SEED=N replays). Both always run; any bad figure fails the target.
soak: $(STAMP)
	@seed=$${SOAK_SEED:-$$(date +%s)}; status=0; \
	echo "make soak: SOAK_SEED=$$seed"; \
	$(BIN)/python -m tests.soak --database sqlite --seed $$seed || status=1; \
	$(BIN)/python -m tests.soak --database postgres --postgres-url $(PG_TEST_URL) \
		--seed $$seed || status=1; \
	exit $$status

# Every benchmark in one table (bench/run.py; README, "Performance"): the gateway against the
# ceiling app and PostGraphile 4, wrk as the load, 3 interleaved rounds of 10 s, the exports at
# 1,000,000 rows and peak RSS at 1,000,000 and 5,000,000. bench-quick: the same in small.
# wrk comes from Debian's package (installed when missing and we are root, as .ci/run does for
# chromium); PostGraphile from npm into the git-ignored bench/postgraphile/node_modules.
BENCH_ARGS ?=
bench: $(STAMP) bench-tools
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-quick: $(STAMP) bench-tools
	$(BIN)/python -m bench.run --quick $(BENCH_ARGS)

bench-tools:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; \
	  else echo "make bench: wrk is missing; install Debian's package: sudo apt-get install wrk" >&2; \
	    exit 1; fi; }
	@command -v npm >/dev/null 2>&1 || { echo "make bench: npm is missing (PostGraphile 4)" >&2; exit 1; }
	@bash bench/postgraphile/install.sh

# One part alone: the export script (worker vs sqlite3 -csv, peak RSS at two sizes).
bench-export: $(STAMP)
	$(BIN)/python bench/export.py

.PHONY: bench-preview
bench-preview: $(STAMP)
	$(BIN)/python bench/preview.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache app/graphql/ide/static app/graphql/ide/frontend/node_modules \
		app/rest/docs/static app/rest/docs/frontend/node_modules \
		examples/typescript/node_modules examples/typescript/dist examples/typescript/gql
