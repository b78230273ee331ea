# callkit-records — the single entry point. `make run` and `make test` are what a
# newcomer needs; the rest is for development and deployment.
SHELL        := /bin/bash
GO           ?= go
GOTESTFLAGS  ?= -count=1 -timeout 30m
PKGS         ?= ./...

include scripts/emu.mk

.PHONY: run test test-go lint fmt vet tidy-check bench clean help

help:
	@echo "make run        local all-in-one server on 127.0.0.1:3000 (embedded store in ./.data)"
	@echo "make test       lint + every test, including DynamoDB Local and moto (started and stopped here)"
	@echo "make bench      benchmarks and load tests (not part of make test)"

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

lint: fmt vet tidy-check

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
