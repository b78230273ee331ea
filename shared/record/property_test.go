package record_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
)

// seed: RECORD_SEED reproduces a failing run; otherwise a new seed every run (logged).
func seed(t *testing.T) uint64 {
	if s := os.Getenv("RECORD_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("RECORD_SEED: %v", err)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

// merge folds deliveries into a State the way the persisters do: in batches, with the
// state stored (encoded) and read back between batches.
func merge(t *testing.T, r *rand.Rand, app uint64, id string, deliveries []callback.Callback) *record.State {
	t.Helper()
	st := record.NewState(app, id)
	for i := 0; i < len(deliveries); {
		n := 1 + r.IntN(10)
		for ; n > 0 && i < len(deliveries); n, i = n-1, i+1 {
			cb := deliveries[i]
			st.Apply(&cb)
		}
		b, err := st.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if st, err = record.UnmarshalState(b); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// TestMergeEqualsDerive is the property of DESIGN invariant 3: for realistic calls of
// every scenario, any arrival order with any duplicates (Tencent's retries included),
// and any subset of the callbacks, the incrementally merged record equals the record
// derived directly from the set; on complete calls it also says what the call was.
func TestMergeEqualsDerive(t *testing.T) {
	s := seed(t)
	t.Logf("seed %d (rerun with RECORD_SEED=%d)", s, s)
	r := rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
	const app = 1400000001
	cases := 4000
	if testing.Short() {
		cases = 500
	}
	perScenario := map[string]int{}
	for i := range cases {
		call := recordtest.Gen(r, app, 1790000000+int64(r.IntN(5_000_000)))
		perScenario[call.Scenario]++
		set := call.Callbacks

		subset := set
		switch i % 3 {
		case 1: // a subset: Tencent gave up on some callbacks, or they are still in flight
			subset = nil
			for _, cb := range set {
				if r.IntN(3) != 0 {
					subset = append(subset, cb)
				}
			}
		case 2: // callbacks that disagree with each other
			subset = recordtest.Perturb(r, call)
		}
		want := record.Derive(app, call.CallID, subset)
		deliveries := recordtest.Deliveries(r, subset)
		got := merge(t, r, app, call.CallID, deliveries).Record()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d %s (seed %d): merged record differs from the derived one\nmerged:  %s\nderived: %s\ncallbacks: %s",
				i, call.Scenario, s, js(got), js(want), js(subset))
		}
		if d := record.Derive(app, call.CallID, deliveries); !reflect.DeepEqual(d, want) {
			t.Fatalf("case %d %s: Derive depends on duplicates or order\nwith dups: %s\nset:       %s", i, call.Scenario, js(d), js(want))
		}
		if i%3 == 0 {
			checkWant(t, call, got)
		}
	}
	for _, sc := range recordtest.Scenarios {
		if perScenario[sc] == 0 {
			t.Errorf("scenario %s never generated", sc)
		}
	}
	t.Logf("%d cases: %v", cases, perScenario)
}

// checkWant holds the rules to what the call actually was.
func checkWant(t *testing.T, call recordtest.Call, got record.Record) {
	t.Helper()
	w := call.Want
	callees := slices.Clone(got.Callees)
	sort.Strings(callees)
	if got.Status != w.Status || got.CallResult != w.Result || got.Caller != w.Caller || !slices.Equal(callees, w.Callees) {
		t.Fatalf("%s: record says status=%s result=%q caller=%q callees=%v; the call was status=%s result=%q caller=%q callees=%v\nrecord: %s\ncallbacks: %s",
			call.Scenario, got.Status, got.CallResult, got.Caller, callees, w.Status, w.Result, w.Caller, w.Callees, js(got), js(call.Callbacks))
	}
	if got.CallType == "group" != slices.Contains([]string{recordtest.Group, recordtest.GroupOngoing, recordtest.GroupCancelled, recordtest.V4Group}, call.Scenario) {
		t.Fatalf("%s: callType %s", call.Scenario, got.CallType)
	}
	if got.StartCallTs != call.Callbacks[0].EventTime {
		t.Fatalf("%s: startCallTs %d, caller started at %d", call.Scenario, got.StartCallTs, call.Callbacks[0].EventTime)
	}
	answered := got.AcceptTs > 0
	if got.Status == record.StatusEnded && answered && (got.DurationSec <= 0 || got.DurationSec != got.EndTs-got.AcceptTs) {
		t.Fatalf("%s: durationSec %d with accept %d end %d", call.Scenario, got.DurationSec, got.AcceptTs, got.EndTs)
	}
	if got.Status != record.StatusEnded && (got.EndTs != 0 || got.CallResult != "") {
		t.Fatalf("%s: unfinished call has endTs %d result %q", call.Scenario, got.EndTs, got.CallResult)
	}
	if got.Status == record.StatusEnded && got.EndTs < got.StartCallTs {
		t.Fatalf("%s: ends (%d) before it starts (%d)", call.Scenario, got.EndTs, got.StartCallTs)
	}
	if got.IndexTs != got.StartCallTs || got.LastEventTs < got.IndexTs {
		t.Fatalf("%s: indexTs %d lastEventTs %d startCallTs %d", call.Scenario, got.IndexTs, got.LastEventTs, got.StartCallTs)
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
