# The two commands a newcomer needs: `make serve` and `make test`. Both do all set-up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYDIRS := core bridge signaling sessions recorder config cluster web tests bench accounts ops book

.PHONY: serve test lint format system-deps clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The packet fan-out's hot loop in C (bridge/fanout.c), built with cffi beside its sources.
FANOUT := $(VENV)/.fanout
$(FANOUT): $(STAMP) bridge/fanout.c bridge/fanout.h bridge/fanout_build.py
	$(BIN)/python -m bridge.fanout_build
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Debian's Chromium (end-to-end tests) and ffmpeg (ffprobe checks recordings).
system-deps:
	@if ! command -v chromium >/dev/null || ! command -v ffprobe >/dev/null; then \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y chromium ffmpeg; \
	fi

serve: $(STAMP) $(FANOUT) $(NODE_STAMP)
	$(BIN)/reception-bridge serve --demo

lint: $(STAMP) $(FANOUT)
	$(BIN)/ruff check $(PYDIRS)
	$(BIN)/ruff format --check $(PYDIRS)
	$(BIN)/mypy --strict $(PYDIRS)
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format $(PYDIRS)
	$(BIN)/ruff check --fix $(PYDIRS)

# The end-to-end tests run in a pytest process of their own: Playwright's sync API leaves
# its event loop marked as running in the main thread, which breaks later asyncio tests.
# PYTHONDONTWRITEBYTECODE is emptied for the tests (some images set it): the tests start
# many Python processes (servers, nodes, recorder workers, the CLI), and each would
# otherwise compile every project module it imports from source again, and pytest
# would rewrite every test module again on each run.
test: $(STAMP) $(FANOUT) $(NODE_STAMP) system-deps lint
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -q --durations=15 tests/unit tests/integration
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -q --durations=15 tests/e2e

clean:
	rm -rf $(VENV) node_modules build bridge/_fanout*.so
