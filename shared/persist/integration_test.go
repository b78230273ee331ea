package persist_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/callkit-records/callkit-records/internal/testenv"
	"github.com/callkit-records/callkit-records/shared/logging"
	"github.com/callkit-records/callkit-records/shared/persist"
	"github.com/callkit-records/callkit-records/shared/store"
	"github.com/callkit-records/callkit-records/shared/store/dynamostore"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestSQSFixtureIntoDynamoDB runs the SQS batch fixture (the answered 1:1 video call of
// events/tencent/v1) through the Lambda handler into DynamoDB Local, twice (a full
// redelivery), and checks the record against what that call was.
func TestSQSFixtureIntoDynamoDB(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "sqs", "batch-single-video-answered.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	c := testenv.DynamoDB(t)
	table := testenv.Name(t, "calls")
	testenv.CreateTableFromTemplate(t, c, "", "CallsTable", table)
	st := dynamostore.New(c, dynamostore.Options{Table: table})
	h := persist.New(st, st, logging.Discard(), persist.Options{})
	for round := range 2 {
		res, err := h.HandleSQS(context.Background(), ev)
		if err != nil || len(res.BatchItemFailures) != 0 {
			t.Fatalf("round %d: failures %v err %v", round, res.BatchItemFailures, err)
		}
	}
	r, evs, err := st.Get(context.Background(), store.CallKey{App: 1400000001, CallID: "2b54b7d7-ad68-45e1-9b20-06ce3cb843d3"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.CallResult != "normal_end" || r.Status != "ended" || r.Caller != "alice" || len(r.Callees) != 1 || r.Callees[0] != "bob" ||
		r.MediaType != "video" || r.CallType != "single" || r.DurationSec <= 0 || r.EndTs-r.AcceptTs != r.DurationSec {
		t.Fatalf("record %+v", r)
	}
	if len(evs) != len(ev.Records) {
		t.Fatalf("%d timeline entries for %d distinct callbacks", len(evs), len(ev.Records))
	}
	// A poison message is reported (so SQS dead-letters it) and its reason is findable.
	bad := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "poison-1", Body: "{}", Attributes: map[string]string{"ApproximateReceiveCount": "1"}}}}
	if res, _ := h.HandleSQS(context.Background(), bad); len(res.BatchItemFailures) != 1 {
		t.Fatalf("poison not reported: %+v", res)
	}
	f, err := st.Failure(context.Background(), "poison-1")
	if err != nil || f.ReceiveCount != 1 || f.Reason == "" {
		t.Fatalf("failure reason %+v err %v", f, err)
	}
}
