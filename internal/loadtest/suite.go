package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"
)

// SuiteConfig bounds the webhook and query load runs. Every run is bounded by
// Duration and by PerRun requests, whichever comes first.
type SuiteConfig struct {
	LocalBinary string   // built cmd/callkit-local
	Self        []string // command line of this harness: "bare" and "webhook" are appended
	WorkDir     string   // data directories and server logs go here

	Workers   int           // concurrent webhook requests (closed loop); default 64
	Duration  time.Duration // per throughput run; default 5s
	PerRun    int           // distinct callbacks available to a run; default 60000
	Pairs     int           // A/B pairs (local, bare); default 2
	FixedRate int           // open-loop latency runs, callbacks/s; default 1000
	FixedDur  time.Duration // default 3s
	QueryRate int           // queries/s during the query runs; default 50
	QueryDur  time.Duration // default 8s
	// QueryIngestShare: the webhook load beside the queries, as a share of the local
	// server's measured throughput; default 0.25 (what it sustains with its persister
	// and the queries on the same cores, with room to spare).
	QueryIngestShare float64

	Log func(string)
}

func (c *SuiteConfig) defaults() {
	if c.Workers <= 0 {
		c.Workers = 64
	}
	if c.Duration <= 0 {
		c.Duration = 5 * time.Second
	}
	if c.PerRun <= 0 {
		c.PerRun = 60000
	}
	if c.Pairs <= 0 {
		c.Pairs = 2
	}
	if c.FixedRate <= 0 {
		c.FixedRate = 1000
	}
	if c.FixedDur <= 0 {
		c.FixedDur = 3 * time.Second
	}
	if c.QueryRate <= 0 {
		c.QueryRate = 50
	}
	if c.QueryDur <= 0 {
		c.QueryDur = 8 * time.Second
	}
	if c.QueryIngestShare <= 0 {
		c.QueryIngestShare = 0.25
	}
	if c.Log == nil {
		c.Log = func(string) {}
	}
}

// Run is one attack's figures.
type RunResult struct {
	Server      string             `json:"server"` // "local" (durable ack) or "bare"
	Pair        int                `json:"pair"`
	Rate        int                `json:"rate,omitempty"` // open-loop rate; 0: closed loop
	Workers     int                `json:"workers"`
	Sent        int                `json:"sent"`
	Acked       int                `json:"acked"`
	Failures    map[string]int     `json:"failures,omitempty"`
	ElapsedSec  float64            `json:"elapsedSec"`
	PerSec      float64            `json:"perSec"`
	Latency     Summary            `json:"latency"`
	ByKind      map[string]Summary `json:"byKind,omitempty"`
	CPUSec      float64            `json:"cpuSec"`                // server CPU (user+sys) during the run (local: and its drain)
	CPUMsPer1k  float64            `json:"cpuMsPer1k"`            // server CPU ms per 1,000 successful requests
	DrainSec    float64            `json:"drainSec,omitempty"`    // local: until its persister went idle
	PersistRate float64            `json:"persistRate,omitempty"` // local: acked / (elapsed + drain)
}

// Ratio compares local to bare figures pair by pair.
type Ratio struct {
	PerPair []float64 `json:"perPair"`
	Median  float64   `json:"median"`
}

// SuiteResult is everything the load suite measured.
type SuiteResult struct {
	Config struct {
		Workers          int     `json:"workers"`
		Duration         float64 `json:"durationSec"`
		PerRun           int     `json:"perRun"`
		Pairs            int     `json:"pairs"`
		FixedRate        int     `json:"fixedRate"`
		FixedDur         float64 `json:"fixedDurSec"`
		QueryRate        int     `json:"queryRate"`
		QueryDur         float64 `json:"queryDurSec"`
		QueryIngestShare float64 `json:"queryIngestShare"`
	} `json:"config"`
	Throughput        []RunResult      `json:"throughput"`        // closed loop: local, webhook, bare in turn
	ThroughputRatio   map[string]Ratio `json:"throughputRatio"`   // local and webhook callbacks/s ÷ bare
	P99Ratio          map[string]Ratio `json:"p99Ratio"`          // p99 ÷ bare p99 (closed loop)
	Fixed             []RunResult      `json:"fixed"`             // open loop at FixedRate, in turn
	FixedP99Ratio     map[string]Ratio `json:"fixedP99Ratio"`     // p99 ÷ bare p99 (open loop)
	QueryIngestRate   int              `json:"queryIngestRate"`   // callbacks/s sent during the query runs
	Query             []RunResult      `json:"query"`             // "idle" and "ingest" (under load), alternating
	Ingest            []RunResult      `json:"ingest"`            // the webhook load beside the queries
	QueryP99Ratio     map[string]Ratio `json:"queryP99Ratio"`     // per kind: under ingest ÷ idle
	Durability        Durability       `json:"durability"`        // the local server
	WebhookDurability Durability       `json:"webhookDurability"` // the webhook-only server (its queue)
}

const (
	benchApp = 1400000001
	benchKey = "callkit-records-bench-key" // only ever used against the local child server
)

var addrRE = regexp.MustCompile(`(?:listening on|local server on) http://(127\.0\.0\.1:\d+)`)

// RunSuite starts the bare server and a local server on a fresh data directory, runs the
// webhook and query loads, stops both and verifies that every acknowledged callback is
// durable.
func RunSuite(ctx context.Context, cfg SuiteConfig) (res SuiteResult, err error) {
	cfg.defaults()
	c := &res.Config
	c.Workers, c.Duration, c.PerRun, c.Pairs = cfg.Workers, cfg.Duration.Seconds(), cfg.PerRun, cfg.Pairs
	c.FixedRate, c.FixedDur, c.QueryRate, c.QueryDur = cfg.FixedRate, cfg.FixedDur.Seconds(), cfg.QueryRate, cfg.QueryDur.Seconds()
	c.QueryIngestShare = cfg.QueryIngestShare

	dataDir := filepath.Join(cfg.WorkDir, "data")
	if err := os.RemoveAll(dataDir); err != nil {
		return res, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return res, err
	}
	env := append(baseEnv(),
		"CALLKIT_SDKAPPIDS="+strconv.Itoa(benchApp),
		"CALLKIT_SECRET_KEY="+benchKey,
		"CALLKIT_QUERY_RPS=1000000", // the harness measures latency, not the rate limiter
		"CALLKIT_LOG_LEVEL=info",    // as deployed: one JSON line per callback
	)
	bare, err := StartServer(ServerSpec{Name: "bare", Binary: cfg.Self[0],
		Args: append(cfg.Self[1:len(cfg.Self):len(cfg.Self)], "bare", "-addr", "127.0.0.1:0"), Env: baseEnv(),
		Log: filepath.Join(cfg.WorkDir, "bare.log"), AddrRE: addrRE})
	if err != nil {
		return res, err
	}
	defer func() {
		if serr := bare.Stop(10 * time.Second); serr != nil && err == nil {
			err = serr
		}
	}()
	webhookDir := filepath.Join(cfg.WorkDir, "webhook-data")
	if err := os.RemoveAll(webhookDir); err != nil {
		return res, err
	}
	webhook, err := StartServer(ServerSpec{Name: "webhook", Binary: cfg.Self[0],
		Args: append(cfg.Self[1:len(cfg.Self):len(cfg.Self)], "webhook", "-addr", "127.0.0.1:0", "-data", webhookDir), Env: env,
		Log: filepath.Join(cfg.WorkDir, "webhook.log"), AddrRE: addrRE})
	if err != nil {
		return res, err
	}
	webhookStopped := false
	defer func() {
		if !webhookStopped {
			webhook.Kill()
		}
	}()
	local, err := StartServer(ServerSpec{Name: "local", Binary: cfg.LocalBinary,
		Args: []string{"-addr", "127.0.0.1:0", "-data", dataDir}, Env: env,
		Log: filepath.Join(cfg.WorkDir, "local.log"), AddrRE: addrRE})
	if err != nil {
		return res, err
	}
	localStopped := false
	defer func() {
		if !localStopped {
			local.Kill()
		}
	}()
	cfg.Log(fmt.Sprintf("servers: local pid %d on %s (data %s), webhook pid %d on %s, bare pid %d on %s",
		local.PID(), local.Addr, dataDir, webhook.PID(), webhook.Addr, bare.PID(), bare.Addr))

	s := &suite{cfg: cfg, bare: bare, local: local, webhook: webhook, t0: time.Now().Unix(), acked: map[*Process][]Callback{}}
	steps := []func(context.Context, *SuiteResult) error{s.warmUp, s.throughput, s.fixed, s.queries}
	for _, step := range steps {
		if err := step(ctx, &res); err != nil {
			return res, err
		}
	}

	webhookStopped = true
	if err := webhook.Stop(30 * time.Second); err != nil {
		return res, fmt.Errorf("stopping the webhook server: %w", err)
	}
	res.WebhookDurability, err = VerifyDurable(ctx, webhookDir, s.acked[webhook])
	if err != nil {
		return res, err
	}
	if res.WebhookDurability.Missing > 0 {
		return res, fmt.Errorf("webhook server: %d acknowledged callbacks are missing from its queue (e.g. %v)", res.WebhookDurability.Missing, res.WebhookDurability.Examples)
	}
	acked := s.acked[local]

	// Stop the local server cleanly, then look for every acknowledged callback.
	localStopped = true
	if err := local.Stop(30 * time.Second); err != nil {
		return res, fmt.Errorf("stopping the local server: %w", err)
	}
	res.Durability, err = VerifyDurable(ctx, dataDir, acked)
	if err != nil {
		return res, err
	}
	if res.Durability.Missing > 0 {
		return res, fmt.Errorf("%d acknowledged callbacks are missing (e.g. %v)", res.Durability.Missing, res.Durability.Examples)
	}
	cfg.Log(fmt.Sprintf("durability: %d acknowledged, %d in the store, %d still queued, %d dead-lettered, 0 missing",
		res.Durability.Acked, res.Durability.InStore, res.Durability.InQueue, res.Durability.InDLQ))
	return res, nil
}

type suite struct {
	cfg     SuiteConfig
	bare    *Process
	local   *Process
	webhook *Process
	t0      int64
	seed    uint64
	acked   map[*Process][]Callback // acknowledged by each durable server
	// calls that exist in the local server's store, for by-id queries
	callIDs []string
}

const span = 3600 // calls start within the hour before t0

func (s *suite) pool(n int) []Callback {
	s.seed++
	return Callbacks(s.seed, benchApp, n, s.t0, span)
}

func (s *suite) url(p *Process) string { return "http://" + p.Addr }

// ackOK accepts exactly the acknowledgement.
func ackOK(_ *Request, _ int, body []byte) bool { return bytes.Equal(body, AckBody) }

// measure runs one load against p and records its CPU use. It first waits for the local
// server's persister to be idle, so that no run pays for the previous one; after a
// webhook run on the local server it waits for the persister again and counts that
// drain (time and CPU) as part of the run.
func (s *suite) measure(ctx context.Context, p *Process, label string, l Load, pair int) (RunResult, Outcome, error) {
	if _, err := s.local.WaitIdle(ctx, 60*time.Second); err != nil {
		return RunResult{}, Outcome{}, err
	}
	cpu0, err := p.CPUTime()
	if err != nil {
		return RunResult{}, Outcome{}, err
	}
	out, err := Run(ctx, l)
	if err != nil {
		return RunResult{}, out, err
	}
	var drain time.Duration
	if p == s.local && l.Requests[0].Kind == "callback" { // its persister's work belongs to the run
		if drain, err = s.local.WaitIdle(ctx, 120*time.Second); err != nil {
			return RunResult{}, out, err
		}
	}
	cpu1, err := p.CPUTime()
	if err != nil {
		return RunResult{}, out, err
	}
	r := RunResult{Server: label, Pair: pair, Rate: l.Rate, Workers: l.Workers, Sent: out.Sent, Acked: len(out.Succeeded),
		ElapsedSec: round3(out.Elapsed.Seconds()), PerSec: round1(out.Throughput()), Latency: Summarize(out.All()),
		CPUSec: round3((cpu1 - cpu0).Seconds())}
	if len(out.Failures) > 0 {
		r.Failures = out.Failures
	}
	if len(out.Latency) > 1 {
		r.ByKind = map[string]Summary{}
		for k, l := range out.Latency {
			r.ByKind[k] = Summarize(l)
		}
	}
	if r.Acked > 0 {
		r.CPUMsPer1k = round1(1e6 * r.CPUSec / float64(r.Acked))
	}
	if p == s.local && l.Requests[0].Kind == "callback" {
		r.DrainSec = round3(drain.Seconds())
		r.PersistRate = round1(float64(r.Acked) / (out.Elapsed + drain).Seconds())
	}
	s.cfg.Log(fmt.Sprintf("  %-6s pair %d: %6d/%6d ok in %5.2fs = %8.1f/s  p50 %6.2f ms  p99 %6.2f ms  cpu %5.1f ms/1k%s",
		r.Server, pair, r.Acked, r.Sent, r.ElapsedSec, r.PerSec, r.Latency.P50Ms, r.Latency.P99Ms, r.CPUMsPer1k, failures(r.Failures)))
	return r, out, nil
}

func failures(f map[string]int) string {
	if len(f) == 0 {
		return ""
	}
	b, _ := json.Marshal(f)
	return "  failures " + string(b)
}

// ackedOf maps an outcome back to the callbacks it acknowledged.
func ackedOf(out Outcome, cbs []Callback) []Callback {
	a := make([]Callback, 0, len(out.Succeeded))
	for _, i := range out.Succeeded {
		a = append(a, cbs[i])
	}
	return a
}

// keep records what a durable server acknowledged, for the durability check.
func (s *suite) keep(p *Process, out Outcome, cbs []Callback) {
	if p != s.bare {
		s.acked[p] = append(s.acked[p], ackedOf(out, cbs)...)
	}
}

// warmUp sends a short burst to each server (connections, page cache, file growth).
func (s *suite) warmUp(ctx context.Context, _ *SuiteResult) error {
	s.cfg.Log("warm-up")
	cbs := s.pool(4000)
	reqs := WebhookRequests(cbs, "/callback")
	for _, p := range []*Process{s.local, s.webhook, s.bare} {
		out, err := Run(ctx, Load{Name: "warm-up", BaseURL: s.url(p), Requests: reqs, Workers: s.cfg.Workers, Duration: time.Second, OK: ackOK})
		s.keep(p, out, cbs)
		if err != nil {
			return err
		}
	}
	return nil
}

// compare runs the same requests against local, webhook and bare in turn, Pairs times,
// and returns the runs and the ratios to bare of callbacks/s and p99.
func (s *suite) compare(ctx context.Context, n, rate int, d time.Duration) (runs []RunResult, thr, p99 map[string]Ratio, err error) {
	thr, p99 = map[string]Ratio{}, map[string]Ratio{}
	for pair := range s.cfg.Pairs {
		cbs := s.pool(n) // the same requests for every server of the round
		reqs := WebhookRequests(cbs, "/callback")
		got := map[string]RunResult{}
		for _, p := range []*Process{s.local, s.webhook, s.bare} {
			r, out, err := s.measure(ctx, p, p.Name, Load{Name: p.Name, BaseURL: s.url(p), Requests: reqs, Workers: s.cfg.Workers, Rate: rate, Duration: d, OK: ackOK}, pair)
			s.keep(p, out, cbs)
			if p == s.local {
				s.remember(out, cbs)
			}
			if err != nil {
				return runs, thr, p99, err
			}
			got[p.Name] = r
			runs = append(runs, r)
		}
		base := got["bare"]
		for _, name := range []string{"local", "webhook"} {
			t, l := thr[name], p99[name]
			t.PerPair = append(t.PerPair, round3(got[name].PerSec/base.PerSec))
			l.PerPair = append(l.PerPair, round3(got[name].Latency.P99Ms/base.Latency.P99Ms))
			thr[name], p99[name] = t, l
		}
	}
	for _, m := range []map[string]Ratio{thr, p99} {
		for k, r := range m {
			r.Median = round3(Median(r.PerPair))
			m[k] = r
		}
	}
	return runs, thr, p99, nil
}

// throughput: closed loop, as fast as Workers concurrent requests allow.
func (s *suite) throughput(ctx context.Context, res *SuiteResult) error {
	s.cfg.Log(fmt.Sprintf("throughput: %d concurrent requests, %s or %d callbacks per run; local (durable ack + persister), webhook (durable ack only), bare; in turn × %d",
		s.cfg.Workers, s.cfg.Duration, s.cfg.PerRun, s.cfg.Pairs))
	var err error
	res.Throughput, res.ThroughputRatio, res.P99Ratio, err = s.compare(ctx, s.cfg.PerRun, 0, s.cfg.Duration)
	if err != nil {
		return err
	}
	s.cfg.Log(fmt.Sprintf("callbacks/s ÷ bare: local %v (median %.3f), webhook %v (median %.3f)",
		res.ThroughputRatio["local"].PerPair, res.ThroughputRatio["local"].Median, res.ThroughputRatio["webhook"].PerPair, res.ThroughputRatio["webhook"].Median))
	return nil
}

// fixed: open loop at FixedRate, for latency at a steady, realistic load.
func (s *suite) fixed(ctx context.Context, res *SuiteResult) error {
	s.cfg.Log(fmt.Sprintf("latency at %d callbacks/s (open loop), %s per run, in turn × %d", s.cfg.FixedRate, s.cfg.FixedDur, s.cfg.Pairs))
	var err error
	res.Fixed, _, res.FixedP99Ratio, err = s.compare(ctx, s.cfg.FixedRate*int(s.cfg.FixedDur.Seconds()+1)+100, s.cfg.FixedRate, s.cfg.FixedDur)
	return err
}

// remember keeps a sample of acknowledged call ids for by-id queries.
func (s *suite) remember(out Outcome, cbs []Callback) {
	seen := map[string]bool{}
	for _, i := range out.Succeeded {
		if id := cbs[i].CallID; !seen[id] && len(s.callIDs) < 5000 {
			seen[id] = true
			s.callIDs = append(s.callIDs, id)
		}
	}
}

// Query kinds.
const (
	KindV1ByID      = "v1-by-callId"
	KindNativeByID  = "native-by-id+events"
	KindV1Page      = "v1-filter-page-100"
	KindNativePage  = "native-list-page-100"
	queryPageLength = 100
)

// queryRequests builds n queries cycling through the four kinds.
func (s *suite) queryRequests(n int) ([]Request, error) {
	if len(s.callIDs) == 0 {
		return nil, errors.New("no acknowledged calls to query")
	}
	sig, err := tencentyun.GenUserSig(benchApp, benchKey, "administrator", 86400)
	if err != nil {
		return nil, err
	}
	auth := fmt.Sprintf("sdkappid=%d&identifier=administrator&usersig=%s&random=12345&contenttype=json", benchApp, sig)
	from, to := s.t0-span-60, s.t0+86400
	r := rand.New(rand.NewPCG(s.seed, 7))
	out := make([]Request, n)
	for i := range out {
		id := s.callIDs[r.IntN(len(s.callIDs))]
		switch i % 4 {
		case 0:
			out[i] = Request{Method: http.MethodPost, Path: "/v1/records/get_record_by_callId?" + auth, Body: []byte(`{"callId":"` + id + `"}`), Kind: KindV1ByID}
		case 1:
			out[i] = Request{Method: http.MethodGet, Path: "/v1/calls/" + id + "?include=events&" + auth, Kind: KindNativeByID}
		case 2:
			body := fmt.Sprintf(`{"startTimestamp":%d,"endTimestamp":%d,"numberPerPage":%d,"page":%d}`, from, to, queryPageLength, 1+r.IntN(5))
			out[i] = Request{Method: http.MethodPost, Path: "/v1/records/get_records_by_filter?" + auth, Body: []byte(body), Kind: KindV1Page}
		case 3:
			out[i] = Request{Method: http.MethodGet, Path: fmt.Sprintf("/v1/calls?limit=%d&from=%d&to=%d&%s", queryPageLength, from, to+r.Int64N(3600), auth), Kind: KindNativePage}
		}
	}
	return out, nil
}

// queryOK accepts an answer only if it holds the record (with its timeline when asked),
// or a full page (the last page of a listing may be shorter).
func queryOK(r *Request, _ int, body []byte) bool {
	var m struct {
		ErrorCode *int `json:"errorCode"`
		Data      struct {
			CallID   string `json:"callId"`
			TotalNum int    `json:"totalNum"`
			Page     int    `json:"page"`
			List     []struct {
				CallID string `json:"callId"`
			} `json:"callRecordList"`
		} `json:"data"`
		CallID string `json:"callId"`
		Events []struct {
			Key string `json:"key"`
		} `json:"events"`
		Calls []struct {
			CallID string `json:"callId"`
		} `json:"calls"`
		NextCursor string `json:"nextCursor"`
	}
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	switch r.Kind {
	case KindV1ByID:
		return m.ErrorCode != nil && *m.ErrorCode == 0 && m.Data.CallID != ""
	case KindNativeByID:
		return m.CallID != "" && len(m.Events) > 0
	case KindV1Page: // a full page, or the last one of the window
		want := min(queryPageLength, m.Data.TotalNum-(m.Data.Page-1)*queryPageLength)
		return m.ErrorCode != nil && *m.ErrorCode == 0 && want > 0 && len(m.Data.List) == want
	case KindNativePage:
		return len(m.Calls) == queryPageLength || (len(m.Calls) > 0 && m.NextCursor == "")
	}
	return false
}

// queries: query latency with the server idle and under webhook load, alternating.
func (s *suite) queries(ctx context.Context, res *SuiteResult) error {
	rate := 100
	if m := medianOf(res.Throughput, "local"); m > 0 {
		rate = max(100, int(m*s.cfg.QueryIngestShare))
	}
	res.QueryIngestRate = rate
	s.cfg.Log(fmt.Sprintf("queries: %d/s for %s, idle vs under %d callbacks/s of webhook load (%.0f%% of the local server's measured throughput), × %d",
		s.cfg.QueryRate, s.cfg.QueryDur, rate, 100*s.cfg.QueryIngestShare, s.cfg.Pairs))
	nq := s.cfg.QueryRate*int(s.cfg.QueryDur.Seconds()+1) + 100
	res.QueryP99Ratio = map[string]Ratio{}
	for pair := range s.cfg.Pairs {
		var p99 [2]map[string]Summary
		for i, underLoad := range []bool{false, true} {
			qreqs, err := s.queryRequests(nq)
			if err != nil {
				return err
			}
			ql := Load{Name: "query", BaseURL: s.url(s.local), Requests: qreqs, Workers: 16, Rate: s.cfg.QueryRate, Duration: s.cfg.QueryDur, OK: queryOK}
			if !underLoad {
				r, _, err := s.measure(ctx, s.local, "idle", ql, pair)
				if err != nil {
					return err
				}
				res.Query = append(res.Query, r)
				p99[i] = r.ByKind
				continue
			}
			cbs := s.pool(rate*int(s.cfg.QueryDur.Seconds()+1) + 100)
			il := Load{Name: "ingest", BaseURL: s.url(s.local), Requests: WebhookRequests(cbs, "/callback"), Workers: s.cfg.Workers, Rate: rate, Duration: s.cfg.QueryDur, OK: ackOK}
			if _, err := s.local.WaitIdle(ctx, 60*time.Second); err != nil {
				return err
			}
			var iout Outcome
			var ierr error
			done := make(chan struct{})
			go func() {
				defer close(done)
				iout, ierr = Run(ctx, il)
			}()
			qout, qerr := Run(ctx, ql)
			<-done
			s.keep(s.local, iout, cbs)
			if err := errors.Join(ierr, qerr); err != nil {
				return err
			}
			qr := RunResult{Server: "ingest", Pair: pair, Rate: ql.Rate, Workers: ql.Workers, Sent: qout.Sent, Acked: len(qout.Succeeded),
				ElapsedSec: round3(qout.Elapsed.Seconds()), PerSec: round1(qout.Throughput()), Latency: Summarize(qout.All()), ByKind: map[string]Summary{}}
			for k, l := range qout.Latency {
				qr.ByKind[k] = Summarize(l)
			}
			if len(qout.Failures) > 0 {
				qr.Failures = qout.Failures
			}
			ir := RunResult{Server: "local", Pair: pair, Rate: rate, Workers: il.Workers, Sent: iout.Sent, Acked: len(iout.Succeeded),
				ElapsedSec: round3(iout.Elapsed.Seconds()), PerSec: round1(iout.Throughput()), Latency: Summarize(iout.All())}
			if len(iout.Failures) > 0 {
				ir.Failures = iout.Failures
			}
			res.Query = append(res.Query, qr)
			res.Ingest = append(res.Ingest, ir)
			p99[i] = qr.ByKind
			s.cfg.Log(fmt.Sprintf("  queries under ingest, pair %d: %d/%d ok, p99 %.2f ms; ingest %d/%d ok at %.0f/s, p99 %.2f ms%s%s",
				pair, qr.Acked, qr.Sent, qr.Latency.P99Ms, ir.Acked, ir.Sent, ir.PerSec, ir.Latency.P99Ms, failures(qr.Failures), failures(ir.Failures)))
		}
		for k, idle := range p99[0] {
			if busy, ok := p99[1][k]; ok && idle.P99Ms > 0 {
				r := res.QueryP99Ratio[k]
				r.PerPair = append(r.PerPair, round3(busy.P99Ms/idle.P99Ms))
				res.QueryP99Ratio[k] = r
			}
		}
	}
	for k, r := range res.QueryP99Ratio {
		r.Median = round3(Median(r.PerPair))
		res.QueryP99Ratio[k] = r
	}
	return nil
}

func medianOf(runs []RunResult, server string) float64 {
	var v []float64
	for _, r := range runs {
		if r.Server == server {
			v = append(v, r.PerSec)
		}
	}
	return Median(v)
}

// baseEnv is what the child servers inherit: enough to run, nothing else (no AWS
// settings, no CALLKIT_* of the caller's shell).
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GOMAXPROCS", "GOGC", "GOMEMLIMIT"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
