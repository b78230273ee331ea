package dynamostore_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/callkit-records/callkit-records/internal/ddbmeter"
	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/callback"
	"github.com/callkit-records/callkit-records/shared/record"
	"github.com/callkit-records/callkit-records/shared/record/recordtest"
	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/store/dynamostore"
	"github.com/callkit-records/callkit-records/shared/store/storetest"
)

// TestWriteRequestsPerCallback measures DynamoDB requests per callback for a realistic
// mix — many concurrent calls of every scenario, interleaved by time, with Tencent's
// retries — applied in SQS batches of 10, counted by an SDK middleware. The design target
// is ≤ 1.2 write requests per callback; the figures go to the test log.
func TestWriteRequestsPerCallback(t *testing.T) {
	m := ddbmeter.New()
	c := testenv.NewDynamoDBClient(testenv.DynamoDBEndpoint(t), testenv.WithDynamoDBOption(m.Option))
	name := testenv.Name(t, "calls")
	testenv.CreateTableFromTemplate(t, c, "", "CallsTable", name)
	s := dynamostore.New(c, dynamostore.Options{Table: name, RetentionDays: 30})

	r := rand.New(rand.NewPCG(42, 42))
	var calls []recordtest.Call
	for range 120 {
		calls = append(calls, recordtest.Gen(r, 1400000001, 1795000000+int64(r.IntN(600))))
	}
	stream := recordtest.Stream(r, calls)
	m.Reset()
	for lo := 0; lo < len(stream); lo += 10 {
		for _, err := range s.Apply(context.Background(), storetest.Group(stream[lo:min(lo+10, len(stream))])) {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	snap := m.Snapshot()
	writes, reads, wcu, rcu := snap.Totals()
	n := float64(len(stream))
	for _, name := range snap.Names() {
		op := snap[name]
		t.Logf("%-20s %5d requests  %7.1f WCU  %7.1f RCU", name, op.Requests, op.WCU, op.RCU)
	}
	t.Logf("%d callbacks (%d distinct) of %d calls: %.3f write requests/callback, %.3f read requests/callback, %.2f WCU/callback, %.2f RCU/callback",
		len(stream), distinct(stream), len(calls), float64(writes)/n, float64(reads)/n, wcu/n, rcu/n)
	if perCb := float64(writes) / n; perCb > 1.2 {
		t.Errorf("%.3f write requests per callback, target ≤ 1.2", perCb)
	}
	// The writes were not wasted: every record is right.
	for _, call := range calls {
		got, _, err := s.Get(context.Background(), store.CallKey{App: call.App, CallID: call.CallID}, false)
		if err != nil {
			t.Fatal(err)
		}
		if want := record.Derive(call.App, call.CallID, call.Callbacks); got.CallResult != want.CallResult || got.Status != want.Status || got.EndTs != want.EndTs {
			t.Fatalf("%s: stored %s/%s/%d, derived %s/%s/%d", call.CallID, got.Status, got.CallResult, got.EndTs, want.Status, want.CallResult, want.EndTs)
		}
	}
}

func distinct(cbs []callback.Callback) int {
	seen := map[callback.Key]bool{}
	for _, cb := range cbs {
		seen[cb.Key()] = true
	}
	return len(seen)
}
