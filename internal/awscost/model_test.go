package awscost

import (
	"math"
	"strings"
	"testing"
)

func sample() Measured {
	return Measured{
		Callbacks: 1000, BatchSize: 10,
		WriteRequests: 0.5, ReadRequests: 0.1, WCU: 2, RCU: 0.3,
		SendsPerCallback: 1, MessageBytes: 800,
		IngestMs: 9.2, PersistBatchMs: 40.01,
		IngestLogBytes: 250, IngestLogEvents: 1, PersistLogBytes: 150, PersistLogEvents: 1,
		PlatformLogBytes: 370, PlatformLogEvents: 2, AccessLogBytes: 200,
		IngestMemoryMB: 256, PersistMemoryMB: 256, QueryMemoryMB: 256, LogRetentionDays: 30,
	}
}

func line(t *testing.T, b Bill, item string) Line {
	t.Helper()
	for _, l := range b.Lines {
		if l.Item == item {
			return l
		}
	}
	t.Fatalf("no line %q in %+v", item, b.Lines)
	return Line{}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func TestPerMillionCallbacks(t *testing.T) {
	b := PerMillionCallbacks(sample())
	for item, want := range map[string]float64{
		"HTTP API requests (webhook)": 1.00,
		"ingest requests":             0.20,
		// 10 ms billed (9.2 rounded up) × 0.25 GB × 1M = 2500 GB-s
		"ingest duration (arm64)": 2500 * 0.0000133334,
		"persist requests":        0.02,
		// 41 ms billed × 0.25 GB × 100k batches = 1025 GB-s
		"persist duration (arm64)":                  1025 * 0.0000133334,
		"SendMessage":                               0.40,
		"ReceiveMessage (event source mapping)":     0.04, // 10 × 800 B fit one 64 KB chunk
		"DeleteMessageBatch (event source mapping)": 0.04,
		"write request units":                       2 * 0.625,
		"read request units":                        0.3 * 0.125,
	} {
		if got := line(t, b, item).USD; !near(got, want) {
			t.Errorf("%s: $%v, want $%v", item, got, want)
		}
	}
	// Logs: per callback 250+26 + 370+52 + 200+26; per batch 150+26 + 370+52.
	wantGB := (1e6*(276+422+226) + 1e5*(176+422)) / (1 << 30)
	if got := line(t, b, "ingestion").Quantity; !near(got, wantGB) {
		t.Errorf("log GB %v, want %v", got, wantGB)
	}
	sum := 0.0
	for _, l := range b.Lines {
		sum += l.USD
		if l.Basis == "" {
			t.Errorf("%s has no basis", l.Item)
		}
	}
	if !near(b.Total, sum) || b.Total < 3 || b.Total > 4 {
		t.Errorf("total $%v (lines sum to $%v)", b.Total, sum)
	}
}

func TestLargeMessagesCountMoreSQSRequests(t *testing.T) {
	m := sample()
	m.MessageBytes = 70000 // two 64 KB chunks; a batch of 10 is eleven
	b := PerMillionCallbacks(m)
	if got := line(t, b, "SendMessage").Quantity; got != 2e6 {
		t.Errorf("sends %v", got)
	}
	if got := line(t, b, "ReceiveMessage (event source mapping)").Quantity; got != 11*1e5 {
		t.Errorf("receives %v", got)
	}
}

func TestPerMillionQueries(t *testing.T) {
	b := PerMillionQueries(sample(), Query{Name: "page", RCU: 50, Requests: 4, Ms: 20.5, LogBytes: 300, LogEvents: 1})
	if got := line(t, b, "read request units").USD; !near(got, 50*0.125) {
		t.Errorf("RRU $%v", got)
	}
	if got := line(t, b, "query duration (arm64)").Quantity; !near(got, 1e6*0.021*0.25) {
		t.Errorf("GB-s %v", got)
	}
	if !strings.Contains(b.Per, "page") {
		t.Errorf("per %q", b.Per)
	}
}

func TestPricesHaveSources(t *testing.T) {
	for _, p := range Prices() {
		if p.USD <= 0 || !strings.HasPrefix(p.Source, "https://aws.amazon.com/") {
			t.Errorf("%+v", p)
		}
	}
}
