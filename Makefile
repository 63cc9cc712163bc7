# Two commands: `make demo` (install + demo node on :8000) and `make test` (dev tools + all tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: demo test install dev lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(DEVSTAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# Front-end libraries (htmx) come from the npm registry, never from the repository.
NODE := node_modules/.package-lock.json
$(NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

install: $(STAMP) $(NODE)

dev: $(DEVSTAMP)

demo: $(STAMP) $(NODE)
	$(BIN)/tongban demo

test: $(DEVSTAMP) $(NODE)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	@# A temp root of this run's own: pytest prunes all but the newest three runs under the
	@# shared /tmp/pytest-of-$$USER, which deletes the databases of a run still going.
	t=$$(mktemp -d /tmp/tongban-test.XXXXXX); $(BIN)/pytest -n 2 -q --basetemp=$$t; \
	  rc=$$?; rm -rf $$t; exit $$rc

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(DEVSTAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
