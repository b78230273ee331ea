package benchreport

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/callkit-records/callkit-records/internal/awscost"
	"github.com/callkit-records/callkit-records/internal/loadtest"
)

// Inputs are the collected results of one `make bench`.
type Inputs struct {
	Command      string
	Started      time.Time
	Finished     time.Time
	LoadAvgStart string
	Load         *loadtest.SuiteResult // nil: the load suite did not run
	Cost         *awscost.Measured     // nil: the cost measurement did not run
	Query1M      []Bench               // BenchmarkQuery1M (embedded store, 1M records)
	Lambda       []Bench               // internal/e2e BenchmarkLambda…
	LambdaNote   string                // why Lambda is empty, when it is
	Micro        []Bench               // in-process benchmarks of the hot path
}

// Target is one project target and what this run measured for it.
type Target struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Met      *bool  `json:"met,omitempty"` // nil: not measured in this run
	Note     string `json:"note,omitempty"`
}

// Cost is the AWS cost section.
type Cost struct {
	Region              string           `json:"region"`
	PricesAsOf          string           `json:"pricesAsOf"`
	Prices              []awscost.Price  `json:"prices"`
	Measured            awscost.Measured `json:"measured"`
	PerMillionCallbacks awscost.Bill     `json:"perMillionCallbacks"`
	PerMillionQueries   []awscost.Bill   `json:"perMillionQueries"`
	Assumptions         []string         `json:"assumptions"`
}

// Report is results.json.
type Report struct {
	Command      string                `json:"command"`
	Date         string                `json:"date"`
	DurationSec  float64               `json:"durationSec"`
	Machine      Machine               `json:"machine"`
	LoadAvgStart string                `json:"loadAvgStart"`
	Targets      []Target              `json:"targets"`
	Webhook      *loadtest.SuiteResult `json:"webhook,omitempty"`
	Cost         *Cost                 `json:"cost,omitempty"`
	Query1M      []Bench               `json:"query1M"`
	Lambda       []Bench               `json:"lambda"`
	LambdaNote   string                `json:"lambdaNote,omitempty"`
	Micro        []Bench               `json:"micro"`
}

// Build computes the report.
func Build(in Inputs) Report {
	r := Report{Command: in.Command, Date: in.Finished.UTC().Format(time.RFC3339), DurationSec: in.Finished.Sub(in.Started).Round(time.Second).Seconds(),
		Machine: ThisMachine(), LoadAvgStart: in.LoadAvgStart, Webhook: in.Load, Query1M: in.Query1M, Lambda: in.Lambda, LambdaNote: in.LambdaNote, Micro: in.Micro}
	if in.Cost != nil {
		r.Cost = buildCost(*in.Cost, in.Lambda)
	}
	r.Targets = targets(in, r.Cost)
	return r
}

func met(ok bool) *bool { return &ok }

func targets(in Inputs, cost *Cost) []Target {
	var ts []Target
	t := Target{Name: "Local webhook throughput with durable acknowledgement", Goal: "≥ 0.5 × a bare net/http handler returning the same JSON, side by side"}
	if l := in.Load; l != nil {
		lr, wr := l.ThroughputRatio["local"], l.ThroughputRatio["webhook"]
		t.Measured = fmt.Sprintf("%.2f × (median of %v)", lr.Median, lr.PerPair)
		t.Met = met(lr.Median >= 0.5)
		t.Note = fmt.Sprintf("the local server persists at the same time on the same cores; the webhook alone over the same durable queue: %.2f × (%v)", wr.Median, wr.PerPair)
	} else {
		t.Measured = "not run"
	}
	ts = append(ts, t)

	t = Target{Name: "DynamoDB write requests per callback", Goal: "≤ 1.2, SQS batches of 10"}
	if cost != nil {
		t.Measured = fmt.Sprintf("%.3f (%.3f WCU; %.3f read requests, %.3f RCU)", cost.Measured.WriteRequests, cost.Measured.WCU, cost.Measured.ReadRequests, cost.Measured.RCU)
		t.Met = met(cost.Measured.WriteRequests <= 1.2)
	} else {
		t.Measured = "not run"
	}
	ts = append(ts, t)

	byID := []string{"BenchmarkQuery1M/v1-get_record_by_callId", "BenchmarkQuery1M/native-call"}
	pages := []string{"BenchmarkQuery1M/v1-filter-page-100", "BenchmarkQuery1M/v1-filter-page-100-by-result", "BenchmarkQuery1M/native-list-100",
		"BenchmarkQuery1M/native-list-100-by-result", "BenchmarkQuery1M/native-user-history"}
	for _, q := range []struct {
		name, goal string
		benches    []string
		limit      float64
	}{
		{"Record by callId on 1M stored records (embedded store)", "p99 ≤ 2 ms", byID, 2},
		{"100-record page on 1M stored records (embedded store)", "p99 ≤ 20 ms", pages, 20},
	} {
		t := Target{Name: q.name, Goal: q.goal}
		var parts []string
		worst := -1.0
		for _, name := range q.benches {
			if b, ok := Find(in.Query1M, name); ok {
				p99 := b.Metrics["p99-ms"]
				parts = append(parts, fmt.Sprintf("%s %.2f ms", strings.TrimPrefix(name, "BenchmarkQuery1M/"), p99))
				worst = max(worst, p99)
			}
		}
		if worst < 0 {
			t.Measured = "not run"
		} else {
			t.Measured = strings.Join(parts, "; ")
			t.Met = met(worst <= q.limit)
			t.Note = "in process (UserSig check, query, JSON), no HTTP"
		}
		ts = append(ts, t)
	}

	t = Target{Name: "AWS cost per 1M callbacks", Goal: "published"}
	if cost != nil {
		t.Measured = fmt.Sprintf("$%.2f (%s list prices of %s)", cost.PerMillionCallbacks.Total, cost.Region, cost.PricesAsOf)
		t.Met = met(true)
	} else {
		t.Measured = "not run"
	}
	return append(ts, t)
}

// lambdaMeanMs is the mean warm invocation time of a Lambda benchmark (1000 / inv/s).
func lambdaMeanMs(bs []Bench, name string) (float64, bool) {
	b, ok := Find(bs, name)
	if !ok || b.Metrics["inv/s"] <= 0 {
		return 0, false
	}
	return 1000 / b.Metrics["inv/s"], true
}

func buildCost(m awscost.Measured, lambda []Bench) *Cost {
	ingest, ok1 := lambdaMeanMs(lambda, "BenchmarkLambdaWarm/ingest")
	persist, ok2 := lambdaMeanMs(lambda, "BenchmarkLambdaWarm/persist-batch10")
	if ok1 && ok2 {
		m.IngestMs, m.PersistBatchMs = ingest, persist
		m.DurationSource = "real bootstraps under the Lambda emulator, mean warm invoke (internal/e2e)"
	}
	c := &Cost{Region: awscost.Region, PricesAsOf: awscost.PricesAsOf, Prices: awscost.Prices(), Measured: m,
		PerMillionCallbacks: awscost.PerMillionCallbacks(m)}
	for _, q := range m.Queries {
		c.PerMillionQueries = append(c.PerMillionQueries, awscost.PerMillionQueries(m, q))
	}
	c.Assumptions = []string{
		fmt.Sprintf("Traffic: %d distinct v1 callbacks of realistic calls (every v1 scenario; calls starting within 10 minutes, so batches mix many calls), no Tencent retries; a retry costs what a callback costs.", m.Callbacks),
		fmt.Sprintf("Persist receives full batches of %d (sustained traffic). At low traffic the 1 s batching window sends smaller batches: more persist invocations and SQS receives, the same DynamoDB units.", m.BatchSize),
		"Lambda durations: " + m.DurationSource + "; AWS service latencies differ from the emulators' — each extra 10 ms of ingest time adds about $0.03 per 1M callbacks at 256 MB.",
		"DynamoDB capacity as DynamoDB Local reports it (ReturnConsumedCapacity TOTAL, which includes index writes); on-demand mode, Standard table class; storage, PITR and backups are not per-callback costs and are left out.",
		"SQS: the event source mapping's idle long polls (a few per minute per poller, whatever the traffic) and the DLQ are left out; SSE uses SQS-managed keys (no KMS charge).",
		"CloudWatch Logs: the handlers' JSON lines as measured at level info, Lambda's JSON platform.start and platform.report lines (representative values), one API Gateway access log line in the template's format, +26 bytes per log event; stored compressed ~6:1 for the template's retention.",
		"Not included: free tiers, data transfer (callbacks come in, acknowledgements are 40 bytes), Secrets Manager (read once per query cold start), CloudWatch alarms and metrics (fixed monthly), X-Ray (off).",
	}
	return c
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
