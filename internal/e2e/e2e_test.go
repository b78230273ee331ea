// Package e2e runs the real Lambda bootstraps end to end: callbacks through the webhook
// URL (API Gateway → ingest → SQS), the event source mapping into persist (→ DynamoDB),
// and records back through the query URL (API Gateway → query), all from template.yaml
// on DynamoDB Local and moto (internal/stack).
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/internal/stack"
	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/query"
	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
)

// seed returns CALLKIT_E2E_SEED or a fresh seed; it is logged so a failure can be replayed.
func seed(t testing.TB) uint64 {
	t.Helper()
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("CALLKIT_E2E_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CALLKIT_E2E_SEED=%q: %v", v, err)
		}
		s = n
	}
	t.Logf("seed %d (CALLKIT_E2E_SEED=%d replays this run)", s, s)
	return s
}

// expected is a generated call with the set of distinct callbacks it was given and the
// record the domain derives from that set.
type expected struct {
	call   recordtest.Call
	set    []callback.Callback
	keys   []string // distinct event keys, sorted
	record record.Record
}

func expect(app uint64, call recordtest.Call, set []callback.Callback) *expected {
	e := &expected{call: call, set: set, record: record.Derive(app, call.CallID, set)}
	seen := map[string]bool{}
	for i := range set {
		k := set[i].Key().String()
		if !seen[k] {
			seen[k] = true
			e.keys = append(e.keys, k)
		}
	}
	sort.Strings(e.keys)
	return e
}

// genCalls makes perScenario calls of every scenario recordtest knows (1:1 and group,
// every outcome, v1 and v4 callbacks, both generations at once), starting within an
// hour of t0; one in three gets plausible conflicting extra callbacks.
func genCalls(r *rand.Rand, app uint64, t0 int64, perScenario int) []*expected {
	var out []*expected
	for _, sc := range recordtest.Scenarios {
		for range perScenario {
			call := recordtest.GenScenario(r, app, sc, t0+r.Int64N(3600))
			set := call.Callbacks
			if r.IntN(3) == 0 {
				set = recordtest.Perturb(r, call)
			}
			out = append(out, expect(app, call, set))
		}
	}
	return out
}

// deliveries is what Tencent sends for the calls: every callback at least once, some
// retried up to 6 times, all calls interleaved in random order.
func deliveries(r *rand.Rand, calls []*expected) []callback.Callback {
	var out []callback.Callback
	for _, e := range calls {
		out = append(out, recordtest.Deliveries(r, e.set)...)
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEndToEnd drives realistic calls through the webhook URL of the real bootstraps and
// checks every record through the query URL against what the record package derives
// from the same callbacks.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	// Several environments, as Lambda scales out under Tencent's callback rate; concurrent
	// persist batches also race on the same calls (optimistic versions in DynamoDB).
	s := stack.Start(t, stack.Options{Concurrency: map[string]int{"ingest": 4, "persist": 3}})
	t.Logf("stack up in %v", time.Since(begin).Round(time.Millisecond))
	c := newClient(s)
	r := rand.New(rand.NewPCG(seed(t), 5))
	const t0 = 1795000000
	calls := genCalls(r, s.App, t0, 1)
	sent := deliveries(r, calls)
	distinct := 0
	for _, e := range calls {
		distinct += len(e.keys)
	}
	if len(sent) <= distinct {
		t.Fatalf("%d deliveries for %d distinct callbacks: the run would not test duplicates", len(sent), distinct)
	}
	t.Logf("%d calls, %d distinct callbacks, %d deliveries", len(calls), distinct, len(sent))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// In waves: moto's SQS does O(queue depth) work per request (a receive takes ~0.5 s
	// at a depth of 400, ~2 s at 1300), so a burst of everything would measure moto, not
	// the stack. Within and across waves the order is still random and calls interleave.
	begin = time.Now()
	const wave = 60
	for lo := 0; lo < len(sent); lo += wave {
		if err := c.deliver(ctx, sent[lo:min(lo+wave, len(sent))], 4); err != nil {
			t.Fatalf("webhook: %v", err)
		}
		if err := s.WaitDrained(ctx); err != nil {
			t.Fatal(err)
		}
	}
	batches := 0
	for _, fn := range s.Environments("persist") {
		batches += fn.Stats().Invocations
	}
	t.Logf("%d callbacks acknowledged and persisted in %v (%d persist batches)",
		len(sent), time.Since(begin).Round(time.Millisecond), batches)
	if v, f, _, err := s.QueueDepth(ctx, s.DLQ); err != nil || v+f != 0 {
		t.Fatalf("DLQ holds %d+%d messages (err %v); every callback should have been persisted", v, f, err)
	}

	t.Run("v1 get_record_by_callId", func(t *testing.T) {
		for _, e := range calls {
			res, err := c.v1(ctx, "/v1/records/get_record_by_callId", map[string]string{"callId": e.call.CallID})
			if err != nil {
				t.Fatalf("%s (%s): %v", e.call.CallID, e.call.Scenario, err)
			}
			var got query.V1Record
			if err := json.Unmarshal(res.Data, &got); err != nil {
				t.Fatal(err)
			}
			if g, w := jsonOf(t, got), jsonOf(t, query.V1(&e.record)); g != w {
				t.Errorf("%s (%s):\n got %s\nwant %s", e.call.CallID, e.call.Scenario, g, w)
			}
		}
	})

	t.Run("native call with events", func(t *testing.T) {
		for _, e := range calls {
			var got query.CallResponse
			if err := c.native(ctx, "/v1/calls/"+url.PathEscape(e.call.CallID), url.Values{"include": {"events"}}, &got); err != nil {
				t.Fatal(err)
			}
			if g, w := jsonOf(t, got.Record), jsonOf(t, e.record); g != w {
				t.Errorf("%s (%s):\n got %s\nwant %s", e.call.CallID, e.call.Scenario, g, w)
			}
			keys := make([]string, 0, len(got.Events))
			for i, ev := range got.Events {
				keys = append(keys, ev.Key)
				if i > 0 && ev.Ts < got.Events[i-1].Ts {
					t.Errorf("%s: timeline not in time order at %d", e.call.CallID, i)
				}
			}
			sort.Strings(keys)
			if !slices.Equal(keys, e.keys) {
				t.Errorf("%s (%s): timeline has %d entries %v, want one per distinct callback (%d) %v",
					e.call.CallID, e.call.Scenario, len(keys), keys, len(e.keys), e.keys)
			}
		}
	})

	t.Run("v4 get_record_by_callid", func(t *testing.T) {
		for _, e := range calls {
			res, err := c.v4(ctx, "/v4/call_record_http_srv/get_record_by_callid", map[string]string{"CallId": e.call.CallID})
			if err != nil {
				t.Fatalf("%s (%s): %v", e.call.CallID, e.call.Scenario, err)
			}
			var got struct {
				CallRecord query.V4Record `json:"CallRecord"`
			}
			if err := json.Unmarshal(res.Response, &got); err != nil {
				t.Fatal(err)
			}
			if g, w := jsonOf(t, got.CallRecord), jsonOf(t, query.V4(&e.record)); g != w {
				t.Errorf("%s (%s):\n got %s\nwant %s", e.call.CallID, e.call.Scenario, g, w)
			}
		}
	})

	// The window that holds every call's indexTs (startCallTs, else its first event).
	lo, hi := calls[0].record.IndexTs, calls[0].record.IndexTs
	for _, e := range calls {
		lo, hi = min(lo, e.record.IndexTs), max(hi, e.record.IndexTs)
	}

	t.Run("v1 get_records_by_filter totals", func(t *testing.T) {
		want := map[string]int{"": len(calls)} // "" = no filter; "result=x", "callType=y"
		for _, e := range calls {
			if e.record.CallResult != "" {
				want["callResult="+e.record.CallResult]++
			}
			want["callType="+e.record.CallType]++
		}
		if want["callType=single"]+want["callType=group"] != len(calls) {
			t.Errorf("call types %v do not add up to %d calls", want, len(calls))
		}
		for f, n := range want {
			body := map[string]any{"startTimestamp": lo, "endTimestamp": hi, "numberPerPage": 1000}
			if k, v, ok := strings.Cut(f, "="); ok {
				body[k] = v
			}
			res, err := c.v1(ctx, "/v1/records/get_records_by_filter", body)
			if err != nil {
				t.Fatalf("%q: %v", f, err)
			}
			var page struct {
				TotalNum       int              `json:"totalNum"`
				Page           int              `json:"page"`
				CallRecordList []query.V1Record `json:"callRecordList"`
			}
			if err := json.Unmarshal(res.Data, &page); err != nil {
				t.Fatal(err)
			}
			if page.TotalNum != n || len(page.CallRecordList) != n {
				t.Errorf("filter %q: totalNum %d with %d records, want %d", f, page.TotalNum, len(page.CallRecordList), n)
			}
			for i := 1; i < len(page.CallRecordList); i++ {
				if a, b := page.CallRecordList[i-1], page.CallRecordList[i]; indexOf(calls, a.CallID) > indexOf(calls, b.CallID) {
					t.Errorf("filter %q: %s listed before the older %s (oldest first expected)", f, a.CallID, b.CallID)
				}
			}
		}
	})

	t.Run("native user history", func(t *testing.T) {
		byUser := map[string][]string{}
		index := map[string]int64{}
		for _, e := range calls {
			index[e.call.CallID] = e.record.IndexTs
			for _, p := range e.record.Participants {
				byUser[p.UserID] = append(byUser[p.UserID], e.call.CallID)
			}
		}
		if len(byUser) < 5 {
			t.Fatalf("only %d users took part; the generator should give more", len(byUser))
		}
		for user, want := range byUser {
			var got []string
			cursor := ""
			for page := 0; ; page++ {
				params := url.Values{"from": {fmt.Sprint(lo)}, "to": {fmt.Sprint(hi)}, "limit": {"200"}}
				if cursor != "" {
					params.Set("cursor", cursor)
				}
				var res query.ListResponse
				if err := c.native(ctx, "/v1/users/"+url.PathEscape(user)+"/calls", params, &res); err != nil {
					t.Fatal(err)
				}
				for _, rec := range res.Calls {
					if n := len(got); n > 0 && index[got[n-1]] < rec.IndexTs {
						t.Errorf("%s: %s listed after an older call (newest first expected)", user, rec.CallID)
					}
					if !rec.HasUser(user) {
						t.Errorf("%s: listed call %s does not involve the user", user, rec.CallID)
					}
					got = append(got, rec.CallID)
				}
				if cursor = res.NextCursor; cursor == "" || page > 20 {
					break
				}
			}
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: calls %v, want %v", user, got, want)
			}
		}
	})
}

// indexOf returns the listing time (indexTs) of a call.
func indexOf(calls []*expected, callID string) int64 {
	for _, e := range calls {
		if e.call.CallID == callID {
			return e.record.IndexTs
		}
	}
	return -1
}
