package benchreport

import (
	"strings"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/internal/awscost"
	"github.com/callkit-records/callkit-records/internal/loadtest"
)

const sampleOutput = `goos: linux
pkg: github.com/callkit-records/callkit-records/shared/query
BenchmarkQuery1M/v1-get_record_by_callId-2         	     300	    134764 ns/op	         0.06200 p50-ms	         1.428 p99-ms	   57158 B/op	     148 allocs/op
BenchmarkQuery1M/native-list-100-2                 	     300	   6947498 ns/op	         3.581 p50-ms	        23.75 p99-ms	  909152 B/op	   15227 allocs/op
--- BENCH: BenchmarkQuery1M
    bench_test.go:10: a log line
PASS
ok  	github.com/callkit-records/callkit-records/shared/query	267.391s
pkg: github.com/callkit-records/callkit-records/internal/e2e
BenchmarkLambdaWarm/ingest-2   	200	  5000000 ns/op	4.1 p50-ms	9.9 p99-ms	200 inv/s
BenchmarkLambdaWarm/persist-batch10-2   	200	  5000000 ns/op	20 p50-ms	40 p99-ms	40 inv/s
`

func TestParseBench(t *testing.T) {
	bs, err := ParseBench(strings.NewReader(sampleOutput))
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 4 {
		t.Fatalf("%d results: %+v", len(bs), bs)
	}
	b, ok := Find(bs, "BenchmarkQuery1M/native-list-100")
	if !ok || b.Iterations != 300 || b.Metrics["p99-ms"] != 23.75 || b.Metrics["ns/op"] != 6947498 || b.Package != "github.com/callkit-records/callkit-records/shared/query" {
		t.Fatalf("%+v", b)
	}
	if b, _ := Find(bs, "BenchmarkLambdaWarm/ingest"); b.Package != "github.com/callkit-records/callkit-records/internal/e2e" || b.Metrics["inv/s"] != 200 {
		t.Fatalf("%+v", b)
	}
}

func TestBuildTargetsAndDurations(t *testing.T) {
	bs, _ := ParseBench(strings.NewReader(sampleOutput))
	load := &loadtest.SuiteResult{ThroughputRatio: map[string]loadtest.Ratio{
		"local": {PerPair: []float64{0.4, 0.45}, Median: 0.425}, "webhook": {PerPair: []float64{0.6, 0.7}, Median: 0.65}}}
	cost := awscost.Measured{Callbacks: 1000, BatchSize: 10, WriteRequests: 0.55, WCU: 2.5, IngestMs: 30, PersistBatchMs: 100,
		IngestMemoryMB: 256, PersistMemoryMB: 256, QueryMemoryMB: 256, LogRetentionDays: 30, MessageBytes: 800, SendsPerCallback: 1,
		DurationSource: "in process"}
	r := Build(Inputs{Command: "make bench", Started: time.Unix(1000, 0), Finished: time.Unix(1300, 0), Load: load, Cost: &cost,
		Query1M: bs[:2], Lambda: bs[2:]})
	want := map[string]bool{
		"Local webhook throughput with durable acknowledgement":  false, // 0.425 < 0.5
		"DynamoDB write requests per callback":                   true,
		"Record by callId on 1M stored records (embedded store)": true,  // 1.428 ≤ 2
		"100-record page on 1M stored records (embedded store)":  false, // 23.75 > 20
		"AWS cost per 1M callbacks":                              true,
	}
	for _, tg := range r.Targets {
		w, ok := want[tg.Name]
		if !ok || tg.Met == nil || *tg.Met != w {
			t.Errorf("%s: met %v, want %v (%s)", tg.Name, tg.Met, w, tg.Measured)
		}
	}
	// The emulator's warm invocations replace the in-process durations: 1000/200 and 1000/40 ms.
	if m := r.Cost.Measured; m.IngestMs != 5 || m.PersistBatchMs != 25 || !strings.Contains(m.DurationSource, "emulator") {
		t.Errorf("durations %v %v from %q", m.IngestMs, m.PersistBatchMs, m.DurationSource)
	}
	if r.DurationSec != 300 {
		t.Errorf("duration %v", r.DurationSec)
	}
	md := Markdown(r)
	for _, s := range []string{"## Targets", "| **no** |", "AWS cost per 1M callbacks", "Not measured in this run", "BenchmarkLambdaWarm/ingest"} {
		if s == "Not measured in this run" {
			if strings.Contains(md, s) {
				t.Errorf("report says Lambda was not measured although it was")
			}
			continue
		}
		if !strings.Contains(md, s) {
			t.Errorf("report lacks %q", s)
		}
	}
}
