package loadtest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/localserver"
	"github.com/callkit-records/callkit-records/shared/logging"
)

// TestMain lets the test binary act as the bare server for TestStartServer.
func TestMain(m *testing.M) {
	if os.Getenv("LOADTEST_HELPER") == "bare" {
		ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer cancel()
		ctx, cancelT := context.WithTimeout(ctx, time.Minute) // never outlive the test
		defer cancelT()
		if err := ServeBare(ctx, "127.0.0.1:0", os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestCallbacksAreDistinctValidAndDeterministic(t *testing.T) {
	cbs := Callbacks(7, benchApp, 500, 1795000000, 600)
	if len(cbs) < 500 {
		t.Fatalf("%d callbacks, want ≥ 500", len(cbs))
	}
	keys, calls := map[string]bool{}, map[string]bool{}
	for _, c := range cbs {
		q, err := url.ParseQuery(c.Query)
		if err != nil {
			t.Fatal(err)
		}
		cb, err := callback.Parse(q, c.Body)
		if err != nil {
			t.Fatalf("%s %s: %v", c.Query, c.Body, err)
		}
		if cb.Key().String() != c.Key || cb.CallID != c.CallID || cb.V4 != nil {
			t.Fatalf("key/call mismatch: %s vs %s", cb.Key(), c.Key)
		}
		if keys[c.Key] {
			t.Fatalf("duplicate callback %s", c.Key)
		}
		keys[c.Key], calls[c.CallID] = true, true
	}
	if len(calls) < 50 {
		t.Errorf("only %d calls in %d callbacks", len(calls), len(cbs))
	}
	again := Callbacks(7, benchApp, 500, 1795000000, 600)
	if len(again) != len(cbs) || again[123].Key != cbs[123].Key || string(again[321].Body) != string(cbs[321].Body) {
		t.Error("the same seed gave other callbacks")
	}
	if other := Callbacks(8, benchApp, 500, 1795000000, 600); other[0].Key == cbs[0].Key {
		t.Error("another seed gave the same callbacks")
	}
}

func TestSummarize(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 200; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	s := Summarize(lat)
	if s.N != 200 || s.P50Ms != 100 || s.P90Ms != 180 || s.P99Ms != 198 || s.MaxMs != 200 || s.MeanMs != 100.5 {
		t.Errorf("summary %+v", s)
	}
	if (Summarize(nil) != Summary{}) {
		t.Error("empty input must give an empty summary")
	}
	if m := Median([]float64{3, 1, 2, 10}); m != 2.5 {
		t.Errorf("median %v", m)
	}
}

// TestRunMapsResultsToRequests: the outcome names exactly the requests that succeeded,
// although vegeta's results only carry a sequence number.
func TestRunMapsResultsToRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n, _ := strconv.Atoi(strings.TrimPrefix(string(b), "n="))
		if n%3 == 0 {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(AckBody)
	}))
	defer srv.Close()
	var reqs []Request
	for i := range 300 {
		reqs = append(reqs, Request{Method: http.MethodPost, Path: "/x", Body: []byte("n=" + strconv.Itoa(i)), Kind: "k"})
	}
	out, err := Run(context.Background(), Load{BaseURL: srv.URL, Requests: reqs, Workers: 8, Duration: 30 * time.Second, OK: ackOK})
	if err != nil {
		t.Fatal(err)
	}
	if out.Sent != 300 || len(out.Succeeded) != 200 || out.Failures["HTTP 503 no\n"] != 100 {
		t.Fatalf("sent %d, succeeded %d, failures %v", out.Sent, len(out.Succeeded), out.Failures)
	}
	for _, i := range out.Succeeded {
		if i%3 == 0 {
			t.Fatalf("request %d failed but is counted as a success", i)
		}
	}
	if len(out.Latency["k"]) != 200 || out.Throughput() <= 0 {
		t.Errorf("%d latencies, throughput %v", len(out.Latency["k"]), out.Throughput())
	}
}

// TestRunIsBoundedInTime: an open-loop attack stops at its duration even with requests left.
func TestRunIsBoundedInTime(t *testing.T) {
	srv := httptest.NewServer(BareHandler())
	defer srv.Close()
	reqs := WebhookRequests(Callbacks(1, benchApp, 1000, 1795000000, 600), "/callback")
	out, err := Run(context.Background(), Load{BaseURL: srv.URL, Requests: reqs, Workers: 4, Rate: 100, Duration: 300 * time.Millisecond, OK: ackOK})
	if err != nil {
		t.Fatal(err)
	}
	// 1,000 requests at 100/s would take 10 s: far fewer went out before the bound.
	if out.Sent == 0 || out.Sent >= 100 || len(out.Succeeded) != out.Sent {
		t.Fatalf("sent %d (succeeded %d) in a 300 ms attack at 100/s", out.Sent, len(out.Succeeded))
	}
}

// TestVerifyDurable sends callbacks to a real local server, stops it and finds every
// acknowledged one; a callback that was never sent is reported missing.
func TestVerifyDurable(t *testing.T) {
	dir := t.TempDir()
	srv, err := localserver.Start(localserver.Options{Addr: "127.0.0.1:0", DataDir: dir, Config: benchConfig, Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	cbs := Callbacks(3, benchApp, 300, time.Now().Unix(), 600)
	sent, never := cbs[:len(cbs)-1], cbs[len(cbs)-1]
	out, err := Run(context.Background(), Load{BaseURL: "http://" + srv.Addr(), Requests: WebhookRequests(sent, "/callback"), Workers: 16, Duration: 30 * time.Second, OK: ackOK})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Succeeded) != len(sent) {
		t.Fatalf("%d of %d acknowledged: %v", len(out.Succeeded), len(sent), out.Failures)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	d, err := VerifyDurable(context.Background(), dir, append(ackedOf(out, cbs), never))
	if err != nil {
		t.Fatal(err)
	}
	if d.Acked != len(sent)+1 || d.InStore+d.InQueue+d.InDLQ != len(sent) || d.Missing != 1 || d.Examples[0] != never.Key {
		t.Fatalf("durability %+v", d)
	}
}

// TestStartServer starts a child server by PID, reads its address, loads it, measures
// its CPU and stops it with SIGTERM.
func TestStartServer(t *testing.T) {
	p, err := StartServer(ServerSpec{Name: "bare", Binary: os.Args[0], Env: append(os.Environ(), "LOADTEST_HELPER=bare"),
		Log: t.TempDir() + "/bare.log", AddrRE: regexp.MustCompile(`listening on http://(127\.0\.0\.1:\d+)`)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	if !strings.HasPrefix(p.Addr, "127.0.0.1:") || p.PID() == os.Getpid() {
		t.Fatalf("addr %q pid %d", p.Addr, p.PID())
	}
	reqs := WebhookRequests(Callbacks(2, benchApp, 200, 1795000000, 600), "/callback")
	out, err := Run(context.Background(), Load{BaseURL: "http://" + p.Addr, Requests: reqs, Workers: 4, Duration: 10 * time.Second, OK: ackOK})
	if err != nil || len(out.Succeeded) != len(reqs) {
		t.Fatalf("%d of %d: %v %v", len(out.Succeeded), len(reqs), out.Failures, err)
	}
	if _, err := p.CPUTime(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitIdle(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
}
