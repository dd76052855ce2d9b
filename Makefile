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

.PHONY: help serve test generate lint vendor-protos bench bench-quick clean redis-server tesseract

help:
	@echo "make serve     run the server on 127.0.0.1:50051 with SQLite under ./data"
	@echo "make test      run every test (installs what is missing first)"
	@echo "make generate  regenerate generated/ from protos/"
	@echo "make lint      buf lint"
	@echo "make bench     Runwire against a bare grpc.aio server; results in bench/results/"

$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	@touch $@

$(GRPCURL):
	GOBIN=$(TOOLS) GOFLAGS=-mod=mod $(GO) install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

# The first start prints a bootstrap admin key; `make serve SERVE_ARGS=--insecure-no-auth` turns auth off.
SERVE_ARGS ?=
serve: $(INSTALLED)
	$(BIN)/runwire serve $(SERVE_ARGS)

test: $(INSTALLED) $(GRPCURL) redis-server tesseract lint
	RUNWIRE_GRPCURL=$(GRPCURL) $(BIN)/python -m pytest $(PYTEST_ARGS)

# The rate-limit tests start their own redis-server on a free port; install Debian's when it is missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
redis-server:
	@command -v redis-server >/dev/null || { \
		echo "installing redis-server (the tests start their own on a free port)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server >/dev/null; }

# Text of uploaded images is read by Tesseract OCR (the server and its tests); install Debian's when missing.
tesseract:
	@command -v tesseract >/dev/null || { \
		echo "installing tesseract-ocr (OCR of uploaded images)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq tesseract-ocr >/dev/null; }

generate: $(INSTALLED)
	$(BIN)/python scripts/generate.py

lint: $(INSTALLED)
	$(BIN)/buf lint
	$(BIN)/buf build -o /dev/null

# A few minutes; writes bench/results/*.json and the README's table.
bench: $(INSTALLED)
	$(BIN)/python bench/run_bench.py

bench-quick: $(INSTALLED)
	$(BIN)/python bench/run_bench.py --quick

# Copies the googleapis protos we import from the pinned googleapis-common-protos wheel.
vendor-protos: $(INSTALLED)
	$(BIN)/python scripts/vendor_protos.py

clean:
	rm -rf $(VENV) .tools data .pytest_cache
