package benchreport

import (
	"fmt"
	"sort"
	"strings"

	"github.com/callkit-records/callkit-records/internal/loadtest"
)

// Markdown renders the report as bench/results.md.
func Markdown(r Report) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }

	p("# `make bench` results")
	p("")
	p("Produced by `%s` on %s in %.0f s (written by `scripts/bench.sh`; every figure below comes from this one run).", r.Command, r.Date, r.DurationSec)
	p("")
	p("Machine: %s, %d cores, %d MB, %s, kernel %s, %s. Load average (1/5/15 min) at the start %s, at the end %s — "+
		"other work on the machine shows up as noise, which is why every comparison alternates its runs and is quoted as a ratio.",
		r.Machine.CPU, r.Machine.Cores, r.Machine.MemoryMB, r.Machine.OS, r.Machine.Kernel, r.Machine.Go, r.LoadAvgStart, r.Machine.LoadAvg)
	p("")

	p("## Targets")
	p("")
	p("| target | goal | measured | met |")
	p("|---|---|---|---|")
	for _, t := range r.Targets {
		m := "—"
		if t.Met != nil {
			m = map[bool]string{true: "yes", false: "**no**"}[*t.Met]
		}
		measured := t.Measured
		if t.Note != "" {
			measured += " — " + t.Note
		}
		p("| %s | %s | %s | %s |", t.Name, t.Goal, measured, m)
	}
	p("")

	if w := r.Webhook; w != nil {
		webhookSection(p, w)
	}
	if len(r.Query1M) > 0 {
		p("## Query API on 1M stored records (embedded store, in process)")
		p("")
		p("`go test -run '^$' -bench BenchmarkQuery1M ./shared/query/` — 1M calls over a year (`internal/benchdata`: two callbacks per call, built once into `.bench/`), " +
			"random ids, windows and users; each request is UserSig verification, the query and the JSON answer, in process (no HTTP). " +
			"The v1 filter also counts every match of its 7-day window for `totalNum` (about 19,000 index entries at this density). p99 is over n requests.")
		p("")
		p("| query | n | p50 ms | p99 ms | allocs/op |")
		p("|---|---|---|---|---|")
		for _, q := range r.Query1M {
			p("| %s | %d | %.2f | %.2f | %.0f |", strings.TrimPrefix(q.Name, "BenchmarkQuery1M/"), q.Iterations, q.Metrics["p50-ms"], q.Metrics["p99-ms"], q.Metrics["allocs/op"])
		}
		p("")
	}

	p("## Lambda functions under the emulator")
	p("")
	if len(r.Lambda) == 0 {
		p("Not measured in this run: %s", r.LambdaNote)
	} else {
		p("`go test -run '^$' -bench Lambda ./internal/e2e/` — the real arm64-built bootstraps (host architecture here) under `internal/lambdaemu`, with DynamoDB Local and moto. " +
			"Warm invocations are serial (one execution environment); `x-inproc` is the ratio to the same handler called in process in the same run.")
		p("")
		benchTable(p, r.Lambda)
	}
	p("")

	if c := r.Cost; c != nil {
		costSection(p, c)
	}

	if len(r.Micro) > 0 {
		p("## Hot path, in process")
		p("")
		p("`go test -run '^$' -bench . -benchmem` in shared/callback, shared/envelope, shared/ingest and shared/persist.")
		p("")
		benchTable(p, r.Micro)
		p("")
	}
	return b.String()
}

func webhookSection(p func(string, ...any), w *loadtest.SuiteResult) {
	c := w.Config
	p("## Webhook under load (local server vs a bare net/http handler)")
	p("")
	p("`callkit-bench load` (vegeta v12.13.0 as a library) drives three servers, each a child process on 127.0.0.1 started by PID: " +
		"**local** — `cmd/callkit-local` on a fresh data directory (webhook, durable queue with fsynced group commit, persister and query API in one process); " +
		"**webhook** — the same ingest handler over the same embedded queue, without the persister; " +
		"**bare** — a net/http handler that reads the body and answers the same acknowledgement. " +
		"Every run posts distinct, realistic v1 callbacks (every scenario, different calls, users and events; the same requests for the three servers of a round) " +
		"and counts a request only if it gets exactly `{\"ErrorCode\":0,\"ErrorMessage\":\"Success\"}`. Runs take turns (local, webhook, bare, local, …).")
	p("")
	p("### Throughput: %d concurrent requests, each run %.0f s or %d callbacks", c.Workers, c.Duration, c.PerRun)
	p("")
	runTable(p, w.Throughput, true)
	p("")
	for _, name := range []string{"local", "webhook"} {
		p("- %s ÷ bare callbacks/s: %v, median **%.2f**; p99 ÷ bare p99: %v, median %.2f", name,
			w.ThroughputRatio[name].PerPair, w.ThroughputRatio[name].Median, w.P99Ratio[name].PerPair, w.P99Ratio[name].Median)
	}
	p("- CPU ms/1k is the server process's user+system CPU per 1,000 acknowledged callbacks (for local including the drain: webhook and persister); drain is how long the local server's persister kept working after the run, and persisted/s = acknowledged ÷ (run + drain).")
	p("")
	p("### Latency at a steady %d callbacks/s (open loop), %.0f s per run", c.FixedRate, c.FixedDur)
	p("")
	runTable(p, w.Fixed, false)
	p("")
	for _, name := range []string{"local", "webhook"} {
		p("- %s p99 ÷ bare p99: %v, median %.2f", name, w.FixedP99Ratio[name].PerPair, w.FixedP99Ratio[name].Median)
	}
	p("")
	p("### Query latency on the local server, idle and under webhook load")
	p("")
	p("%d queries/s for %.0f s (a quarter each: v1 get_record_by_callId, native by id with the timeline, v1 filter page of 100, native list page of 100; "+
		"the by-id queries pick calls acknowledged earlier, a page counts only if it is full or the last one), "+
		"alternately with the server idle and while %d callbacks/s are posted (%.0f%% of the local server's measured throughput).", c.QueryRate, c.QueryDur, w.QueryIngestRate, 100*c.QueryIngestShare)
	p("")
	p("| run | pair | query | n | p50 ms | p99 ms |")
	p("|---|---|---|---|---|---|")
	for _, q := range w.Query {
		for _, k := range sortedKeys(q.ByKind) {
			s := q.ByKind[k]
			p("| %s | %d | %s | %d | %.2f | %.2f |", map[string]string{"idle": "idle", "ingest": "under ingest"}[q.Server], q.Pair, k, s.N, s.P50Ms, s.P99Ms)
		}
	}
	p("")
	for _, k := range sortedKeys(w.QueryP99Ratio) {
		p("- %s p99 under ingest ÷ idle: %v, median %.2f", k, w.QueryP99Ratio[k].PerPair, w.QueryP99Ratio[k].Median)
	}
	for _, in := range w.Ingest {
		p("- webhook load beside the queries, pair %d: %d/%d acknowledged at %.0f/s, p99 %.2f ms", in.Pair, in.Acked, in.Sent, in.PerSec, in.Latency.P99Ms)
	}
	p("")
	d := w.Durability
	p("### Durability check")
	p("")
	p("After the runs the harness stops the servers with SIGTERM, opens their files and looks up every acknowledged callback by its event key: "+
		"local server %d acknowledged → %d in their call's timeline, %d still queued, %d dead-lettered, **%d missing**; webhook-only server %d acknowledged → %d queued, **%d missing**.",
		d.Acked, d.InStore, d.InQueue, d.InDLQ, d.Missing, w.WebhookDurability.Acked, w.WebhookDurability.InQueue, w.WebhookDurability.Missing)
	p("")
}

func runTable(p func(string, ...any), runs []loadtest.RunResult, drain bool) {
	if drain {
		p("| server | pair | acked/sent | s | callbacks/s | p50 ms | p99 ms | CPU ms/1k | drain s | persisted/s |")
		p("|---|---|---|---|---|---|---|---|---|---|")
	} else {
		p("| server | pair | acked/sent | s | callbacks/s | p50 ms | p99 ms | CPU ms/1k |")
		p("|---|---|---|---|---|---|---|---|")
	}
	for _, r := range runs {
		row := fmt.Sprintf("| %s | %d | %d/%d | %.2f | %.0f | %.2f | %.2f | %.0f |", r.Server, r.Pair, r.Acked, r.Sent, r.ElapsedSec, r.PerSec, r.Latency.P50Ms, r.Latency.P99Ms, r.CPUMsPer1k)
		if drain {
			if r.Server == "local" {
				row += fmt.Sprintf(" %.2f | %.0f |", r.DrainSec, r.PersistRate)
			} else {
				row += " — | — |"
			}
		}
		if len(r.Failures) > 0 {
			row += fmt.Sprintf(" failures: %v", r.Failures)
		}
		p("%s", row)
	}
}

func benchTable(p func(string, ...any), bs []Bench) {
	p("| benchmark | n | figures |")
	p("|---|---|---|")
	for _, b := range bs {
		units := make([]string, 0, len(b.Metrics))
		for u := range b.Metrics {
			units = append(units, u)
		}
		sort.Strings(units)
		var f []string
		for _, u := range units {
			f = append(f, fmt.Sprintf("%s %s", num(b.Metrics[u]), u))
		}
		p("| %s | %d | %s |", b.Name, b.Iterations, strings.Join(f, ", "))
	}
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func costSection(p func(string, ...any), c *Cost) {
	m := c.Measured
	p("## DynamoDB requests and capacity")
	p("")
	p("`go test -run '^$' -bench BenchmarkAWSCost -benchtime 1x ./internal/awscost/` — the real webhook handler (SQS: moto) and the real persist handler "+
		"(SQS events of %d, DynamoDB Local metered by `internal/ddbmeter`), %d distinct callbacks.", m.BatchSize, m.Callbacks)
	p("")
	p("Per 1,000 callbacks: **%.0f write requests, %.0f WCU, %.0f read requests, %.0f RCU**.", 1000*m.WriteRequests, 1000*m.WCU, 1000*m.ReadRequests, 1000*m.RCU)
	p("")
	p("| operation | requests per 1,000 callbacks | WCU | RCU |")
	p("|---|---|---|---|")
	for _, k := range sortedKeys(m.ByOperation) {
		o := m.ByOperation[k]
		p("| %s | %.0f | %.1f | %.1f |", k, o.Requests, o.WCU, o.RCU)
	}
	p("")
	p("Per query (DynamoDB Local, %d calls over two weeks, about %d in a 7-day window):", m.QueryDataCalls, m.QueryDataWindowCalls)
	p("")
	p("| query | records | DynamoDB requests | RCU | handler ms | $ per 1M |")
	p("|---|---|---|---|---|---|")
	for i, q := range m.Queries {
		p("| %s | %d | %d | %.2f | %.1f | %.2f |", q.Name, q.Records, q.Requests, q.RCU, q.Ms, c.PerMillionQueries[i].Total)
	}
	p("")
	p("## AWS cost per 1M callbacks")
	p("")
	p("%s list prices as of %s; quantities from the measurements above; Lambda durations: %s (ingest %.1f ms per callback, persist %.1f ms per batch of %d).",
		c.Region, c.PricesAsOf, m.DurationSource, m.IngestMs, m.PersistBatchMs, m.BatchSize)
	p("")
	p("| service | item | quantity | unit | USD | from |")
	p("|---|---|---|---|---|---|")
	for _, l := range c.PerMillionCallbacks.Lines {
		p("| %s | %s | %s | %s | %.4f | %s |", l.Service, l.Item, num(l.Quantity), l.Unit, l.USD, l.Basis)
	}
	p("| **total** | | | | **%.2f** | |", c.PerMillionCallbacks.Total)
	p("")
	p("Assumptions:")
	p("")
	for _, a := range c.Assumptions {
		p("- %s", a)
	}
	p("")
	p("Prices:")
	p("")
	for _, pr := range c.Prices {
		p("- %s: $%.10g per %s — %s", pr.Name, pr.USD, pr.Unit, pr.Source)
	}
	p("")
}
