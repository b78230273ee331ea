// Package storetest is the conformance suite every store adapter must pass: the
// embedded bbolt store and DynamoDB (against DynamoDB Local) run the same tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
	"github.com/callkit-records/callkit-records/shared/store"
)

// Options are what a test needs from a fresh store.
type Options struct {
	RetentionDays int
	Now           func() time.Time
}

// Factory returns a new, empty store for one test (cleaned up by the factory).
type Factory func(t *testing.T, opts Options) store.Store

const app = 1400000001

// Run runs the whole suite.
func Run(t *testing.T, newStore Factory) {
	t.Run("ApplyMatchesDerive", func(t *testing.T) { testApplyMatchesDerive(t, newStore) })
	t.Run("Idempotent", func(t *testing.T) { testIdempotent(t, newStore) })
	t.Run("NotFoundAndAppIsolation", func(t *testing.T) { testNotFound(t, newStore) })
	t.Run("ConcurrentWriters", func(t *testing.T) { testConcurrent(t, newStore) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, newStore) })
	t.Run("ListByApp", func(t *testing.T) { testListByApp(t, newStore) })
	t.Run("ListByUser", func(t *testing.T) { testListByUser(t, newStore) })
	t.Run("Window", func(t *testing.T) { testWindow(t, newStore) })
}

func rng(t *testing.T) *rand.Rand {
	s := uint64(time.Now().UnixNano())
	t.Logf("seed %d", s)
	return rand.New(rand.NewPCG(s, 7))
}

// Deliver applies deliveries the way the persister does: in batches of up to batchSize
// messages, grouped by call, each call once per batch.
func Deliver(t testing.TB, s store.Writer, r *rand.Rand, deliveries []callback.Callback, batchSize int) {
	t.Helper()
	for i := 0; i < len(deliveries); {
		n := min(1+r.IntN(batchSize), len(deliveries)-i)
		updates := Group(deliveries[i : i+n])
		i += n
		for j, err := range s.Apply(context.Background(), updates) {
			if err != nil {
				t.Fatalf("Apply %s: %v", updates[j].Key.CallID, err)
			}
		}
	}
}

// Group turns callbacks into one Update per call, in first-seen order.
func Group(cbs []callback.Callback) []store.Update {
	idx := map[store.CallKey]int{}
	var out []store.Update
	for _, cb := range cbs {
		k := store.CallKey{App: cb.SDKAppID, CallID: cb.CallID}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, store.Update{Key: k})
		}
		_, body := cb.Render()
		out[i].Callbacks = append(out[i].Callbacks, store.Incoming{Callback: cb, ReceivedAt: time.Now().UnixMilli(), Body: body})
	}
	return out
}

func mustGet(t *testing.T, s store.Reader, k store.CallKey, withEvents bool) (record.Record, []record.Event) {
	t.Helper()
	r, ev, err := s.Get(context.Background(), k, withEvents)
	if err != nil {
		t.Fatalf("Get %s: %v", k.CallID, err)
	}
	return r, ev
}

func checkRecord(t *testing.T, got record.Record, call recordtest.Call, set []callback.Callback) {
	t.Helper()
	want := record.Derive(call.App, call.CallID, set)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s %s: stored record differs from the derived one\nstored:  %+v\nderived: %+v", call.Scenario, call.CallID, got, want)
	}
}

func checkEvents(t *testing.T, evs []record.Event, set []callback.Callback) {
	t.Helper()
	want := map[string]bool{}
	for _, cb := range set {
		want[cb.Key().String()] = true
	}
	got := map[string]bool{}
	for i, e := range evs {
		if got[e.Key] {
			t.Fatalf("timeline has %s twice", e.Key)
		}
		got[e.Key] = true
		if !want[e.Key] {
			t.Fatalf("timeline has an event that was never sent: %s", e.Key)
		}
		if i > 0 && evs[i-1].Ts > e.Ts {
			t.Fatalf("timeline out of order at %d: %d after %d", i, e.Ts, evs[i-1].Ts)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("timeline has %d events, %d distinct callbacks were sent", len(got), len(want))
	}
}

func testApplyMatchesDerive(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	r := rng(t)
	var calls []recordtest.Call
	var deliveries []callback.Callback
	for _, sc := range recordtest.Scenarios {
		for range 3 {
			c := recordtest.GenScenario(r, app, sc, 1795000000+int64(r.IntN(100000)))
			calls = append(calls, c)
			deliveries = append(deliveries, recordtest.Deliveries(r, c.Callbacks)...)
		}
	}
	r.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })
	Deliver(t, s, r, deliveries, 10)
	for _, c := range calls {
		got, evs := mustGet(t, s, store.CallKey{App: app, CallID: c.CallID}, true)
		checkRecord(t, got, c, c.Callbacks)
		checkEvents(t, evs, c.Callbacks)
		plain, evs2 := mustGet(t, s, store.CallKey{App: app, CallID: c.CallID}, false)
		if !reflect.DeepEqual(plain, got) || evs2 != nil {
			t.Fatalf("Get without events differs (events %v)", evs2)
		}
	}
}

func testIdempotent(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	r := rng(t)
	c := recordtest.GenScenario(r, app, recordtest.Group, 1795000000)
	Deliver(t, s, r, c.Callbacks, 10)
	k := store.CallKey{App: app, CallID: c.CallID}
	before, evBefore := mustGet(t, s, k, true)
	// The same callbacks again (a redelivery after a crash), in another order and batching.
	Deliver(t, s, r, recordtest.Deliveries(r, c.Callbacks), 3)
	after, evAfter := mustGet(t, s, k, true)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("re-applying changed the record\nbefore: %+v\nafter:  %+v", before, after)
	}
	for i := range evAfter {
		evAfter[i].ReceivedAt, evBefore[i].ReceivedAt = 0, 0 // metadata of the latest copy
	}
	if !reflect.DeepEqual(evBefore, evAfter) {
		t.Fatalf("re-applying changed the timeline: %d → %d events", len(evBefore), len(evAfter))
	}
	// An update with the same callback many times in one batch.
	cb := c.Callbacks[0]
	errs := s.Apply(context.Background(), Group([]callback.Callback{cb, cb, cb, cb, cb, cb}))
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	if got, _ := mustGet(t, s, k, false); !reflect.DeepEqual(got, before) {
		t.Fatal("six retries of one callback in one batch changed the record")
	}
}

func testNotFound(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	r := rng(t)
	c := recordtest.GenScenario(r, app, recordtest.Rejected, 1795000000)
	Deliver(t, s, r, c.Callbacks, 10)
	for _, k := range []store.CallKey{
		{App: app, CallID: "no-such-call"},
		{App: app + 1, CallID: c.CallID}, // another app: never visible
		{App: app, CallID: c.CallID + "x"},
	} {
		for _, withEvents := range []bool{false, true} {
			if _, _, err := s.Get(context.Background(), k, withEvents); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("Get %+v (events %v): err %v, want ErrNotFound", k, withEvents, err)
			}
		}
	}
	// Another app's listing, over a range far too wide to finish within the budget: it
	// must stop at the budget, find nothing, and still resume.
	q := store.Query{App: app + 1, From: 0, To: 1 << 33, Desc: true}
	p, err := s.List(context.Background(), q, nil, 10, 50)
	if err != nil || len(p.Records) != 0 || p.Examined > 50 {
		t.Fatalf("another app lists %d records after %d reads (err %v)", len(p.Records), p.Examined, err)
	}
	if p.Next != nil {
		if p2, err := s.List(context.Background(), q, p.Next, 10, 50); err != nil || len(p2.Records) != 0 {
			t.Fatalf("resuming: %d records, err %v", len(p2.Records), err)
		}
	}
}

func testConcurrent(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	r := rng(t)
	// Two calls, eight writers each delivering all callbacks in its own order and
	// batching — the record must converge to the same one.
	var calls []recordtest.Call
	for range 2 {
		calls = append(calls, recordtest.GenScenario(r, app, recordtest.Group, 1795000000+int64(r.IntN(1000))))
	}
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for w := range 8 {
		wr := rand.New(rand.NewPCG(uint64(w), r.Uint64()))
		var d []callback.Callback
		for _, c := range calls {
			d = append(d, recordtest.Deliveries(wr, c.Callbacks)...)
		}
		wr.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < len(d); {
				n := min(1+wr.IntN(10), len(d)-i)
				pending := Group(d[i : i+n])
				// A call that keeps losing the version race fails with ErrConflict, which the
				// persister reports for redelivery: redeliver it, as the queue would.
				for attempt := 0; len(pending) > 0; attempt++ {
					var again []store.Update
					for j, err := range s.Apply(context.Background(), pending) {
						switch {
						case err == nil:
						case errors.Is(err, store.ErrConflict) && attempt < 20:
							u := pending[j]
							u.Redelivered = true
							again = append(again, u)
						default:
							errc <- err
							return
						}
					}
					pending = again
				}
				i += n
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("concurrent Apply: %v", err)
	}
	for _, c := range calls {
		got, evs := mustGet(t, s, store.CallKey{App: app, CallID: c.CallID}, true)
		checkRecord(t, got, c, c.Callbacks)
		checkEvents(t, evs, c.Callbacks)
		// The user index converged too: every participant finds the call at its IndexTs.
		for _, p := range got.Participants {
			q := store.Query{App: app, UserID: p.UserID, From: got.IndexTs, To: got.IndexTs}
			page, err := s.List(context.Background(), q, nil, 10, 100)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, r := range page.Records {
				found = found || r.CallID == c.CallID
			}
			if !found {
				t.Fatalf("user %s does not find call %s at %d after concurrent writes", p.UserID, c.CallID, got.IndexTs)
			}
		}
	}
}

func testRetention(t *testing.T, newStore Factory) {
	var mu sync.Mutex
	now := time.Unix(1795000000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newStore(t, Options{RetentionDays: 2, Now: clock})
	r := rng(t)
	c := recordtest.GenScenario(r, app, recordtest.AnsweredCallerHangsUp, 1795000000-100)
	Deliver(t, s, r, c.Callbacks, 10)
	k := store.CallKey{App: app, CallID: c.CallID}
	mustGet(t, s, k, true)
	q := store.Query{App: app, From: 1795000000 - 10000, To: 1795000000 + 10000, Desc: true}
	if p, err := s.List(context.Background(), q, nil, 10, 100); err != nil || len(p.Records) != 1 {
		t.Fatalf("before expiry: %d records (err %v)", len(p.Records), err)
	}

	mu.Lock()
	now = now.Add(3 * 24 * time.Hour)
	mu.Unlock()
	if _, _, err := s.Get(context.Background(), k, false); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired record: err %v, want ErrNotFound", err)
	}
	if p, err := s.List(context.Background(), q, nil, 10, 100); err != nil || len(p.Records) != 0 {
		t.Fatalf("expired record listed: %d (err %v)", len(p.Records), err)
	}
	// A late callback after expiry starts the record afresh.
	late := c.Callbacks[len(c.Callbacks)-1]
	Deliver(t, s, r, []callback.Callback{late}, 1)
	got, _ := mustGet(t, s, k, false)
	checkRecord(t, got, c, []callback.Callback{late})
}

// spread generates n calls over days days starting at t0.
func spread(r *rand.Rand, n int, t0 int64, days int) []recordtest.Call {
	var calls []recordtest.Call
	for range n {
		calls = append(calls, recordtest.Gen(r, app, t0+int64(r.IntN(days*store.DaySeconds))))
	}
	return calls
}

func load(t *testing.T, s store.Writer, r *rand.Rand, calls []recordtest.Call) map[string]record.Record {
	var d []callback.Callback
	out := map[string]record.Record{}
	for _, c := range calls {
		d = append(d, c.Callbacks...)
		out[c.CallID] = record.Derive(app, c.CallID, c.Callbacks)
	}
	r.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
	Deliver(t, s, r, d, 25)
	return out
}

// expected returns the records of want matching q, in q's order.
func expected(want map[string]record.Record, q store.Query) []record.Record {
	var out []record.Record
	for _, rec := range want {
		if rec.IndexTs < q.From || rec.IndexTs > q.To || !q.Filter.Match(&rec) {
			continue
		}
		if q.UserID != "" {
			role := rec.RoleOf(q.UserID)
			if !rec.HasUser(q.UserID) || (q.Filter.Role != "" && role != q.Filter.Role) {
				continue
			}
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		less := a.IndexTs < b.IndexTs || (a.IndexTs == b.IndexTs && a.CallID < b.CallID)
		if q.Desc {
			return !less
		}
		return less
	})
	return out
}

// walkAll pages through q with a small limit (and optionally a small budget) and
// returns everything, checking that no page repeats an earlier record.
func walkAll(t *testing.T, s store.Reader, q store.Query, limit, budget int) []record.Record {
	t.Helper()
	var all []record.Record
	seen := map[string]bool{}
	var after *store.Position
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("paging does not terminate")
		}
		p, err := s.List(context.Background(), q, after, limit, budget)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(p.Records) > limit || p.Examined > budget {
			t.Fatalf("page of %d records after examining %d (limit %d, budget %d)", len(p.Records), p.Examined, limit, budget)
		}
		for _, rec := range p.Records {
			if seen[rec.CallID] {
				t.Fatalf("record %s listed twice", rec.CallID)
			}
			seen[rec.CallID] = true
			all = append(all, rec)
		}
		if p.Next == nil {
			return all
		}
		if len(p.Records) < limit && p.Examined < budget {
			t.Fatalf("short page (%d/%d) with a cursor but budget left (%d/%d)", len(p.Records), limit, p.Examined, budget)
		}
		after = p.Next
	}
}

func sameOrder(t *testing.T, what string, got, want []record.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("%s: record %d is %s (%d), want %s (%d)", what, i, got[i].CallID, got[i].IndexTs, want[i].CallID, want[i].IndexTs)
		}
	}
}

func testListByApp(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	r := rng(t)
	const t0 = 1795000000
	want := load(t, s, r, spread(r, 150, t0, 5))
	// Another app's calls in the same range must never show.
	other := recordtest.Gen(r, app+1, t0+1000)
	Deliver(t, s, r, other.Callbacks, 10)

	for _, tc := range []struct {
		name          string
		q             store.Query
		limit, budget int
	}{
		{"all newest first", store.Query{App: app, From: t0, To: t0 + 5*store.DaySeconds, Desc: true}, 17, 1000},
		{"all oldest first", store.Query{App: app, From: t0, To: t0 + 5*store.DaySeconds}, 23, 1000},
		{"inner range", store.Query{App: app, From: t0 + 36000, To: t0 + 3*store.DaySeconds + 100, Desc: true}, 10, 1000},
		{"result filter, small budget", store.Query{App: app, From: t0, To: t0 + 5*store.DaySeconds, Desc: true, Filter: store.Filter{Result: "reject"}}, 5, 7},
		{"type and media filter", store.Query{App: app, From: t0, To: t0 + 5*store.DaySeconds, Filter: store.Filter{CallType: "group", MediaType: "video"}}, 4, 50},
		{"status filter", store.Query{App: app, From: t0, To: t0 + 5*store.DaySeconds, Desc: true, Filter: store.Filter{Status: "ongoing"}}, 100, 1000},
		{"empty range", store.Query{App: app, From: t0 - 1000, To: t0 - 1, Desc: true}, 10, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sameOrder(t, tc.name, walkAll(t, s, tc.q, tc.limit, tc.budget), expected(want, tc.q))
		})
	}
}

func testListByUser(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	r := rng(t)
	const t0 = 1795000000
	want := load(t, s, r, spread(r, 120, t0, 3))
	users := map[string]bool{}
	for _, rec := range want {
		for _, p := range rec.Participants {
			users[p.UserID] = true
		}
	}
	n := 0
	for u := range users {
		if n++; n > 4 {
			break
		}
		for _, role := range []string{"", "caller", "callee"} {
			q := store.Query{App: app, UserID: u, From: t0, To: t0 + 3*store.DaySeconds, Desc: n%2 == 0, Filter: store.Filter{Role: role}}
			sameOrder(t, fmt.Sprintf("user %s role %q", u, role), walkAll(t, s, q, 7, 500), expected(want, q))
		}
		q := store.Query{App: app, UserID: u, From: t0, To: t0 + 3*store.DaySeconds, Desc: true, Filter: store.Filter{Result: "normal_end"}}
		sameOrder(t, "user "+u+" normal_end", walkAll(t, s, q, 3, 4), expected(want, q))
	}
	if p, err := s.List(context.Background(), store.Query{App: app, UserID: "nobody", From: t0, To: t0 + 3*store.DaySeconds}, nil, 10, 100); err != nil || len(p.Records) != 0 || p.Next != nil {
		t.Fatalf("unknown user: %d records, next %v, err %v", len(p.Records), p.Next, err)
	}
}

func testWindow(t *testing.T, newStore Factory) {
	s := newStore(t, Options{})
	r := rng(t)
	const t0 = 1795000000
	want := load(t, s, r, spread(r, 80, t0, 2))
	q := store.Query{App: app, From: t0, To: t0 + 2*store.DaySeconds, Desc: true, Filter: store.Filter{CallType: "single"}}
	all := expected(want, q)
	for _, w := range []struct{ off, lim int }{{0, 10}, {10, 10}, {len(all) - 3, 10}, {len(all) + 5, 10}, {0, 1000}} {
		got, total, err := s.Window(context.Background(), q, w.off, w.lim, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if total != len(all) {
			t.Fatalf("total %d, want %d", total, len(all))
		}
		lo, hi := min(w.off, len(all)), min(w.off+w.lim, len(all))
		sameOrder(t, fmt.Sprintf("window %d+%d", w.off, w.lim), got, all[lo:hi])
	}
	if _, _, err := s.Window(context.Background(), q, 0, 10, 5); !errors.Is(err, store.ErrBudget) {
		t.Fatalf("window over budget: err %v, want ErrBudget", err)
	}
}
