# fieldsync — the two commands a new machine needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
# uv from PATH, else the copy `setup` installs with pip into this Python (`python3 -m uv`).
UV := $(shell command -v uv 2>/dev/null || echo $(PYTHON) -m uv)
HOST ?= 127.0.0.1
PORT ?= 8000
export UV_LINK_MODE := copy

.PHONY: setup uv run simulate test lint typecheck contract node-setup bench clean

# uv need not end up on PATH (pip --user puts it in ~/.local/bin): every target runs it as $(UV), and the
# README's commands use .venv/bin/python directly.
uv:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || \
		{ echo "== installing uv with pip"; $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv; } || \
		{ echo "could not install uv with $(PYTHON) -m pip: install it (https://docs.astral.sh/uv/) and run make again" >&2; exit 1; }

setup: uv
	@[ -x .venv/bin/python ] || echo "== creating .venv from uv.lock (first run: about a minute)"
	@$(UV) sync --frozen --quiet

# The real WatermelonDB client the test suite drives in Node (serving needs no Node).

node-setup:
	@if [ ! -d clients/watermelon/node_modules ]; then echo "== installing the WatermelonDB test client (npm ci)"; (cd clients/watermelon && npm ci --no-audit --no-fund --loglevel=error); fi

## The main job on the embedded default: SQLite, in-memory channel layer, local media, in-process worker.
## `make run PORT=8123` (or HOST=0.0.0.0) serves elsewhere; `make simulate PORT=8123` plays against it.
run: setup
	@echo "== migrating the embedded database (var/)"
	@$(UV) run python manage.py migrate --no-input -v 0
	@$(UV) run python manage.py seed_demo
	@$(UV) run python manage.py serve --host $(HOST) --port $(PORT)

## An officer's shift against the server `make run` started (same checkout: it reads the demo handbook in var/).
simulate: setup
	@$(UV) run python manage.py simulate --server http://$(HOST):$(PORT) $(SIMULATE_ARGS)

lint:
	@$(UV) run ruff check .
	@$(UV) run ruff format --check .
	@$(UV) run lint-imports --no-cache

typecheck:
	@$(UV) run mypy .

contract:
	@$(UV) run python manage.py export_contract --check

## The whole suite (lint, types, import contracts, contract freshness, pytest) on FIELDSYNC_DATABASE_URL.
test: setup node-setup lint typecheck contract
	@$(UV) run pytest $(PYTEST_ARGS)

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(UV) run python $$b || exit 1; done

clean:
	rm -rf var .venv clients/watermelon/node_modules
