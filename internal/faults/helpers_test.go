package faults_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/internal/faults"
	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/ingest"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/queue"
	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
	"github.com/callkit-records/callkit-records/shared/store"
)

// Private emulators started by testenv are stopped after the tests.
func TestMain(m *testing.M) { testenv.Main(m) }

const (
	app       = 1400000001
	secretKey = "faults-suite-secret-key-0123456789"
	callsT0   = 1795000000 // calls happen in Nov 2026; nothing here depends on "now"
)

func seeded(t testing.TB) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, 6))
}

// call is a generated call with its callbacks exactly as the webhook parses them.
type call struct {
	recordtest.Call
	sent []delivery
}

// delivery is one distinct callback as Tencent sends it, with the event key the
// webhook computes for it.
type delivery struct {
	cb    callback.Callback
	query url.Values
	body  []byte
	key   string
}

// genCalls generates n calls of random scenarios (v1, v4 and mixed) and renders them.
func genCalls(t testing.TB, r *rand.Rand, n int) []call {
	t.Helper()
	out := make([]call, 0, n)
	seen := map[string]bool{}
	for i := range n {
		c := call{Call: recordtest.Gen(r, app, callsT0+int64(i)*37)}
		for _, cb := range c.Callbacks {
			q, body := cb.Render()
			parsed, err := callback.Parse(q, body)
			if err != nil {
				t.Fatalf("generated callback does not parse: %v\n%s", err, body)
			}
			k := parsed.Key().String()
			if seen[k] {
				continue // the generator may repeat a callback; Tencent would send it once
			}
			seen[k] = true
			c.sent = append(c.sent, delivery{cb: parsed, query: q, body: body, key: k})
		}
		out = append(out, c)
	}
	return out
}

func flatten(calls []call) []delivery {
	var out []delivery
	for _, c := range calls {
		out = append(out, c.sent...)
	}
	return out
}

func (c *call) parsed() []callback.Callback {
	out := make([]callback.Callback, len(c.sent))
	for i, d := range c.sent {
		out[i] = d.cb
	}
	return out
}

func (c *call) storeKey() store.CallKey { return store.CallKey{App: app, CallID: c.CallID} }

// captureQueue is a queue.Sender that keeps what it is given.
type captureQueue struct {
	mu   sync.Mutex
	msgs []queue.Message
}

func (c *captureQueue) Send(_ context.Context, m queue.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, queue.Message{Body: append([]byte(nil), m.Body...), EventKey: m.EventKey, CallID: m.CallID})
	return nil
}

// enqueued runs each delivery through the real webhook and returns the queue messages
// it produced, so persist tests consume exactly what production queues.
func enqueued(t testing.TB, ds []delivery) []queue.Message {
	t.Helper()
	cq := &captureQueue{}
	h := ingest.New(ingest.Config{AppAllowed: func(id uint64) bool { return id == app }}, cq, logging.Discard())
	for _, d := range ds {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/callback?"+d.query.Encode(), bytes.NewReader(d.body)))
		if w.Code != http.StatusOK {
			t.Fatalf("webhook refused a generated callback: %d %s", w.Code, w.Body)
		}
	}
	if len(cq.msgs) != len(ds) {
		t.Fatalf("webhook queued %d messages for %d callbacks", len(cq.msgs), len(ds))
	}
	return cq.msgs
}

// checkConverged requires every call's stored record to equal record.Derive of its
// callbacks (and want, when given: a record from an undisturbed run), and its timeline
// to hold each distinct callback exactly once.
func checkConverged(t *testing.T, label string, rd store.Reader, calls []call, want map[string]record.Record) {
	t.Helper()
	bad := 0
	for i := range calls {
		c := &calls[i]
		got, evs, err := rd.Get(context.Background(), c.storeKey(), true)
		if err != nil {
			t.Errorf("%s: Get %s: %v", label, c.CallID, err)
			bad++
			continue
		}
		derived := record.Derive(app, c.CallID, c.parsed())
		if !reflect.DeepEqual(got, derived) {
			t.Errorf("%s: %s (%s): stored record differs from Derive\nstored:  %+v\nderived: %+v", label, c.CallID, c.Scenario, got, derived)
			bad++
		}
		if w, ok := want[c.CallID]; ok && !reflect.DeepEqual(got, w) {
			t.Errorf("%s: %s: record differs from the undisturbed run\ngot:         %+v\nundisturbed: %+v", label, c.CallID, got, w)
			bad++
		}
		if msg := timelineProblem(evs, c.sent); msg != "" {
			t.Errorf("%s: %s: %s", label, c.CallID, msg)
			bad++
		}
		if bad > 5 {
			t.Fatalf("%s: stopping after %d differences", label, bad)
		}
	}
}

// timelineProblem describes how a timeline differs from "each sent callback exactly
// once", or returns "".
func timelineProblem(evs []record.Event, sent []delivery) string {
	want := map[string]bool{}
	for _, d := range sent {
		want[d.key] = true
	}
	seen := map[string]bool{}
	for _, e := range evs {
		switch {
		case seen[e.Key]:
			return "timeline holds " + e.Key + " twice"
		case !want[e.Key]:
			return "timeline holds " + e.Key + ", which was never sent"
		}
		seen[e.Key] = true
	}
	for k := range want {
		if !seen[k] {
			return "timeline lacks " + k
		}
	}
	return ""
}

// gate lets a test hold new requests and wait for the ones in flight (to quiesce before
// a fault), then let traffic through again.
type gate struct {
	mu sync.RWMutex
	h  http.Handler
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	g.h.ServeHTTP(w, r)
}

// tencent delivers every callback Tencent-style to urlOf(d), first attempts spread evenly
// over spread, and returns each delivery's attempts (same order as ds).
func tencent(ctx context.Context, c *http.Client, ds []delivery, urlOf func(delivery) string, spread time.Duration, schedule []time.Duration) [][]faults.Attempt {
	out := make([][]faults.Attempt, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() {
			if n := len(ds); n > 1 {
				t := time.NewTimer(spread * time.Duration(i) / time.Duration(n))
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			out[i] = faults.Deliver(ctx, c, urlOf(d), d.body, schedule)
		})
	}
	wg.Wait()
	return out
}

// outcome summarises a Tencent-style run around one outage [down, up].
type outcome struct {
	acked, exhausted, attempts int
	duringOutage               int // attempts that started and ended while the queue was down
	ackedDuringOutage          int
	wrongRefusal               int // attempts refused while down with anything but 503 / ErrorCode 1
}

func summarise(all [][]faults.Attempt, down, up time.Time, refusedWith func(faults.Attempt) bool) outcome {
	var o outcome
	for _, as := range all {
		o.attempts += len(as)
		if len(as) > 0 && as[len(as)-1].Acked() {
			o.acked++
		} else {
			o.exhausted++
		}
		for _, a := range as {
			if !a.Within(down, up) {
				continue
			}
			o.duringOutage++
			if a.Acked() {
				o.ackedDuringOutage++
			} else if !refusedWith(a) {
				o.wrongRefusal++
			}
		}
	}
	return o
}

// unavailable503 is the refusal DESIGN §4 prescribes while the queue is down.
func unavailable503(a faults.Attempt) bool {
	return a.Status == http.StatusServiceUnavailable && a.Code == 1
}

func newClient() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
