#!/usr/bin/env bash
# scripts/bench.sh — `make bench`: the load test and the benchmarks, not part of
# `make test`. Every step is bounded in time; the results go to bench/results.md and
# bench/results.json (the raw outputs stay in .bench/run/).
#
#   1. webhook load: cmd/callkit-local vs the webhook alone vs a bare net/http handler,
#      driven by vegeta (callkit-bench load), then query latency idle and under load
#   2. DynamoDB requests/units per 1,000 callbacks and per query page, log bytes,
#      handler times (internal/awscost, against DynamoDB Local and moto)
#   3. the Lambda functions under the emulator (internal/e2e), when that package exists
#   4. the query API on 1M records (shared/query; the dataset is built once into .bench/)
#   5. the hot path in process (callback parse, envelope, ingest, persist)
#   6. callkit-bench report → bench/results.md, bench/results.json
#
# DynamoDB Local and moto: the Go benchmarks use AWS_ENDPOINT_URL_* when set, else they
# start private ones on free 127.0.0.1 ports and stop them (internal/testenv).
#
# Environment: BENCH_QUICK=1 shortens every step (a smoke run, not for publishing);
# BENCH_QUERY_CALLS (default 1000000) sizes the query dataset; BENCH_OUT (default bench).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
GO="${GO:-go}"
OUT="${BENCH_OUT:-bench}"
RUN=.bench/run
QUERY_CALLS="${BENCH_QUERY_CALLS:-1000000}"

log() { printf '\nbench: %s\n' "$*" >&2; }

STARTED=$(date +%s)
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || true)
rm -rf "$RUN"
mkdir -p "$RUN/bin" "$OUT"

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	LOAD_ARGS=(-duration 2s -pairs 1 -rate-duration 1s -query-duration 2s)
	WARM=20x COLD=2x QUERY_N=50x MICRO=200ms
else
	LOAD_ARGS=(-duration 5s -pairs 2 -rate-duration 3s -query-duration 8s)
	WARM=200x COLD=10x QUERY_N=300x MICRO=1s
fi

log "building the harness and the local server"
$GO build -o "$RUN/bin/callkit-bench" ./cmd/callkit-bench
$GO build -o "$RUN/bin/callkit-local" ./cmd/callkit-local

log "1/5 webhook and query load (callkit-bench load ${LOAD_ARGS[*]})"
timeout 600 "$RUN/bin/callkit-bench" load -local "$RUN/bin/callkit-local" -work "$RUN/load" -out "$RUN/load.json" "${LOAD_ARGS[@]}"

log "2/5 DynamoDB units, SQS messages, log bytes and handler times (internal/awscost)"
CALLKIT_COST_OUT="$ROOT/$RUN/cost.json" timeout 600 \
	$GO test -count=1 -timeout 10m -run '^$' -bench BenchmarkAWSCost -benchtime 1x ./internal/awscost/ | tee "$RUN/cost.txt"

LAMBDA_NOTE=""
if [ -d internal/e2e ] && ls internal/e2e/*_test.go >/dev/null 2>&1; then
	log "3/5 Lambda functions under the emulator (internal/e2e)"
	{
		timeout 900 $GO test -count=1 -timeout 15m -run '^$' -bench 'BenchmarkLambdaWarm' -benchtime "$WARM" ./internal/e2e/
		timeout 900 $GO test -count=1 -timeout 15m -run '^$' -bench 'BenchmarkLambda(ColdStart|BootstrapSize)' -benchtime "$COLD" ./internal/e2e/
	} | tee "$RUN/lambda.txt"
else
	LAMBDA_NOTE="internal/e2e (the BenchmarkLambda… benchmarks) is not in this checkout."
	log "3/5 skipped: $LAMBDA_NOTE"
fi

log "4/5 query API on $QUERY_CALLS stored records (the dataset is built once into .bench/)"
CALLKIT_BENCH_CALLS="$QUERY_CALLS" timeout 1200 \
	$GO test -count=1 -timeout 20m -run '^$' -bench BenchmarkQuery1M -benchtime "$QUERY_N" ./shared/query/ | tee "$RUN/query1m.txt"

log "5/5 hot path in process"
timeout 600 $GO test -count=1 -timeout 10m -run '^$' -bench . -benchmem -benchtime "$MICRO" \
	./shared/callback/ ./shared/envelope/ ./shared/ingest/ ./shared/persist/ | tee "$RUN/micro.txt"

"$RUN/bin/callkit-bench" report -dir "$RUN" -md "$OUT/results.md" -json "$OUT/results.json" \
	-command "make bench" -started "$STARTED" -loadavg-start "$LOADAVG_START" -lambda-note "$LAMBDA_NOTE"
log "results: $OUT/results.md and $OUT/results.json ($(($(date +%s) - STARTED)) s)"
