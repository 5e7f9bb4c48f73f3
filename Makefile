# CodeSight: `make run` brings the product up, `make test` runs every check.
# Both install what they need first (idempotently): Debian packages, the venv, npm packages.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_PACKAGES := chromium postgresql
PYTEST_ARGS ?=

.PHONY: setup apt venv npm tiktoken run test lint typecheck test-js test-py bench clean

setup: apt venv npm tiktoken web/static/vendor/htmx.min.js web/static/vendor/htmx-ext-sse.min.js

apt:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3.11 -m venv $(VENV) 2>/dev/null || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

npm: node_modules/.package-lock.json

node_modules/.package-lock.json: package.json
	npm install --no-audit --no-fund --loglevel=error
	@touch node_modules/.package-lock.json

web/static/vendor/htmx.min.js: node_modules/.package-lock.json
	@mkdir -p web/static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js web/static/vendor/htmx.min.js

web/static/vendor/htmx-ext-sse.min.js: node_modules/.package-lock.json
	@mkdir -p web/static/vendor
	cp node_modules/htmx-ext-sse/dist/sse.min.js web/static/vendor/htmx-ext-sse.min.js

# tiktoken's encoding files, converted from the js-tiktoken npm package (tokens count exactly offline).
tiktoken: .codesight/tiktoken/.installed

.codesight/tiktoken/.installed: node_modules/.package-lock.json $(STAMP)
	$(PY) -m lab.training.install_encodings
	@touch $@

run: setup
	$(VENV)/bin/codesight up

lint: setup
	$(VENV)/bin/ruff check lab workers web tests
	$(VENV)/bin/ruff format --check lab workers web tests
	$(VENV)/bin/lint-imports

typecheck: setup
	$(VENV)/bin/mypy

test-js: setup
	node --test tests/js/

test-py: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck test-js test-py

bench: setup
	$(VENV)/bin/codesight bench selectors --out bench-out/selectors.json

clean:
	rm -rf $(VENV) node_modules web/static/vendor
