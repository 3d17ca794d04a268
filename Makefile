# fieldsync — the two commands a new machine needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
HOST ?= 127.0.0.1
PORT ?= 8000
export UV_LINK_MODE := copy

.PHONY: setup run test lint typecheck contract node-setup bench clean

$(UV):
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv

setup: $(UV)
	@$(UV) sync --frozen --quiet
	@$(MAKE) --no-print-directory node-setup

node-setup:
	@if [ ! -d clients/watermelon/node_modules ]; then (cd clients/watermelon && npm ci --no-audit --no-fund --loglevel=error); fi

## The main job on the embedded default: SQLite, in-memory channel layer, local media, in-process worker.
run: setup
	@$(UV) run python manage.py migrate --no-input -v 0
	@$(UV) run python manage.py seed_demo
	@$(UV) run python manage.py serve --host $(HOST) --port $(PORT)

lint:
	@$(UV) run ruff check .
	@$(UV) run ruff format --check .
	@$(UV) run lint-imports --no-cache

typecheck:
	@$(UV) run mypy .

contract:
	@$(UV) run python manage.py export_contract --check

## The whole suite (lint, types, import contracts, contract freshness, pytest) on FIELDSYNC_DATABASE_URL.
test: setup lint typecheck contract
	@$(UV) run pytest $(PYTEST_ARGS)

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(UV) run python $$b || exit 1; done

clean:
	rm -rf var .venv clients/watermelon/node_modules
