# callkit-records — the single entry point. `make run` and `make test` are what a
# newcomer needs; the rest is for development and deployment.
SHELL        := /bin/bash
GO           ?= go
GOTESTFLAGS  ?= -count=1 -timeout 30m
PKGS         ?= ./...

include scripts/emu.mk

# Lambda bootstraps: provided.al2023 on arm64, static, no RPC shim, stripped, and
# without net/http's HTTP/2 (nethttpomithttp2): the Runtime API and the DynamoDB, SQS and
# Secrets Manager endpoints are all spoken over HTTP/1.1, and the unused h2 code is ~0.4 MB
# of every bootstrap (internal/e2e checks the 8,000,000-byte budget).
LAMBDA_ENV   := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LAMBDA_FLAGS := -tags lambda.norpc,nethttpomithttp2 -trimpath -ldflags "-s -w"
FUNCTIONS    := ingest persist query
ENV          ?= default

.PHONY: run test test-go lint fmt vet tidy-check cfn-lint validate build deploy bench clean help \
        build-IngestFunction build-PersistFunction build-QueryFunction

help:
	@echo "make run        local all-in-one server on 127.0.0.1:3000 (embedded store in ./.data)"
	@echo "make test       lint + every test, including DynamoDB Local and moto (started and stopped here)"
	@echo "make bench      benchmarks and load tests (not part of make test)"
	@echo "make build      the three arm64 bootstraps into bin/<function>/bootstrap"
	@echo "make deploy     sam build && sam deploy --config-env \$$ENV (default, staging, prod)"
	@echo "make lint       gofmt, go vet, go mod tidy check, cfn-lint"

## run: the local all-in-one server (CALLKIT_ADDR, CALLKIT_DATA_DIR, CALLKIT_* settings apply)
run:
	$(GO) run ./cmd/callkit-local

## test: lint, then all tests against the real stand-ins; the stand-ins are stopped by PID
## whatever happens.
test: lint
	@bash scripts/emu.sh up
	@set -o pipefail; eval "$$(bash scripts/emu.sh env)"; \
	  $(GO) test $(GOTESTFLAGS) $(PKGS); rc=$$?; \
	  bash scripts/emu.sh down; exit $$rc

## test-go: the Go tests only, against emulators already running (make emu-up)
test-go:
	@eval "$$(bash scripts/emu.sh env)"; $(GO) test $(GOTESTFLAGS) $(PKGS)

## bench: load test (local server vs a bare net/http handler, vegeta), DynamoDB units and
## the AWS cost per 1M callbacks, Lambda under the emulator, query API on 1M records;
## writes bench/results.md and bench/results.json. Bounded: a few minutes (the 1M-record
## dataset is built once into .bench/ the first time). Not part of `make test`.
bench:
	@bash scripts/bench.sh

lint: fmt vet tidy-check cfn-lint

cfn-lint validate:
	@command -v cfn-lint >/dev/null || { echo "cfn-lint is not installed (pip install cfn-lint)"; exit 1; }
	cfn-lint template.yaml

## build: all bootstraps (what sam build produces), with their sizes
build:
	@for f in $(FUNCTIONS); do \
	  $(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o bin/$$f/bootstrap ./functions/$$f || exit 1; \
	  printf '%-8s %s bytes\n' $$f $$(stat -c %s bin/$$f/bootstrap); done

## build-<LogicalId>: called by `sam build` (Metadata: BuildMethod: makefile) with ARTIFACTS_DIR
build-IngestFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/ingest
build-PersistFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/persist
build-QueryFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/query

## deploy: build and deploy with the samconfig.toml environment ENV
deploy:
	sam build --config-env $(ENV)
	sam deploy --config-env $(ENV)

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

tidy-check:
	@cp go.mod /tmp/callkit-go.mod.bak; cp go.sum /tmp/callkit-go.sum.bak; \
	  $(GO) mod tidy; \
	  if ! diff -q go.mod /tmp/callkit-go.mod.bak >/dev/null || ! diff -q go.sum /tmp/callkit-go.sum.bak >/dev/null; then \
	    diff /tmp/callkit-go.mod.bak go.mod; cp /tmp/callkit-go.mod.bak go.mod; cp /tmp/callkit-go.sum.bak go.sum; \
	    echo "go mod tidy would change go.mod/go.sum: run it and commit"; exit 1; fi

clean:
	rm -rf bin .aws-sam
