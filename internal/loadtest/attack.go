package loadtest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Load is one attack, bounded both in count (len(Requests); each is sent at most once)
// and in time (Duration).
type Load struct {
	Name     string
	BaseURL  string // http://127.0.0.1:port
	Requests []Request
	Workers  int           // concurrent requests in flight (closed loop when Rate is 0)
	Rate     int           // requests per second (open loop); 0: as fast as Workers allow
	Duration time.Duration // bound on the attack's length
	Timeout  time.Duration // per request; default 10s
	// OK decides whether an answer counts as a success; nil: HTTP 200.
	OK func(r *Request, status int, body []byte) bool
}

// Outcome is what an attack measured.
type Outcome struct {
	Name      string
	Sent      int                        // requests issued
	Succeeded []int                      // indexes into Load.Requests of the successful requests
	Failures  map[string]int             // reason → count
	Elapsed   time.Duration              // first request sent → last answer received
	Latency   map[string][]time.Duration // per Request.Kind, successful requests, sorted
}

// Throughput is successful requests per second of the attack.
func (o Outcome) Throughput() float64 {
	if o.Elapsed <= 0 {
		return 0
	}
	return float64(len(o.Succeeded)) / o.Elapsed.Seconds()
}

// All returns every kind's latencies together, sorted.
func (o Outcome) All() []time.Duration {
	var all []time.Duration
	for _, l := range o.Latency {
		all = append(all, l...)
	}
	slices.Sort(all)
	return all
}

// Run performs the attack. It returns an error only when the attack could not run at
// all; failed requests are counted in the outcome.
func Run(ctx context.Context, l Load) (Outcome, error) {
	if len(l.Requests) == 0 || l.Workers <= 0 || l.Duration <= 0 {
		return Outcome{}, errors.New("loadtest: a load needs requests, workers and a duration")
	}
	if l.Timeout <= 0 {
		l.Timeout = 10 * time.Second
	}
	targets := make([]vegeta.Target, len(l.Requests))
	for i, r := range l.Requests {
		targets[i] = vegeta.Target{Method: r.Method, URL: l.BaseURL + r.Path, Body: r.Body, Header: targetHeader(i)}
	}
	var next atomic.Int64
	targeter := func(t *vegeta.Target) error {
		i := int(next.Add(1) - 1)
		if i >= len(targets) {
			return vegeta.ErrNoTargets
		}
		*t = targets[i]
		return nil
	}

	// vegeta numbers its hits (X-Vegeta-Seq) but results do not say which target a hit
	// used; the transport sees both headers and keeps the mapping. Each slot is written
	// once by the hit's goroutine before its result is sent on the results channel.
	seqTarget := make([]int32, len(targets)+4*l.Workers+1)
	for i := range seqTarget {
		seqTarget[i] = -1
	}
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4 * l.Workers,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Timeout: l.Timeout, Transport: &mapping{next: transport, seqTarget: seqTarget}}

	opts := []func(*vegeta.Attacker){vegeta.Client(client), vegeta.Workers(uint64(l.Workers)), vegeta.Redirects(vegeta.NoFollow)}
	pacer := vegeta.Pacer(vegeta.ConstantPacer{}) // zero value: no pacing, workers bound the load
	if l.Rate > 0 {
		pacer = vegeta.ConstantPacer{Freq: l.Rate, Per: time.Second}
		opts = append(opts, vegeta.MaxWorkers(uint64(4*l.Workers)))
	} else {
		opts = append(opts, vegeta.MaxWorkers(uint64(l.Workers)))
	}
	atk := vegeta.NewAttacker(opts...)
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()

	out := Outcome{Name: l.Name, Failures: map[string]int{}, Latency: map[string][]time.Duration{}}
	var first, last time.Time
	for res := range atk.Attack(targeter, pacer, l.Duration, l.Name) {
		if res.Error == vegeta.ErrNoTargets.Error() {
			continue // the count bound was reached; not a request
		}
		out.Sent++
		if first.IsZero() || res.Timestamp.Before(first) {
			first = res.Timestamp
		}
		if end := res.Timestamp.Add(res.Latency); end.After(last) {
			last = end
		}
		idx := -1
		if res.Seq < uint64(len(seqTarget)) {
			idx = int(seqTarget[res.Seq])
		}
		if idx < 0 {
			out.Failures["request not sent: "+res.Error]++
			continue
		}
		req := &l.Requests[idx]
		ok := res.Error == "" && res.Code == http.StatusOK
		if ok && l.OK != nil {
			ok = l.OK(req, int(res.Code), res.Body)
		}
		if !ok {
			reason := res.Error // a transport error (no answer)
			if res.Code != 0 {
				reason = "HTTP " + strconv.Itoa(int(res.Code)) + " " + truncate(string(res.Body), 120)
			}
			out.Failures[reason]++
			continue
		}
		out.Succeeded = append(out.Succeeded, idx)
		out.Latency[req.Kind] = append(out.Latency[req.Kind], res.Latency)
	}
	out.Elapsed = last.Sub(first)
	for _, l := range out.Latency {
		slices.Sort(l)
	}
	return out, ctx.Err()
}

// mapping records which target each vegeta hit used.
type mapping struct {
	next      http.RoundTripper
	seqTarget []int32
}

func (m *mapping) RoundTrip(r *http.Request) (*http.Response, error) {
	seq, err1 := strconv.ParseUint(r.Header.Get("X-Vegeta-Seq"), 10, 64)
	idx, err2 := strconv.Atoi(r.Header.Get(TargetHeader))
	if err1 == nil && err2 == nil && seq < uint64(len(m.seqTarget)) {
		m.seqTarget[seq] = int32(idx)
	}
	return m.next.RoundTrip(r)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
